"""The snapshot format: round trips, the seed's JSON, and schema evolution both ways."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import msgspec
import pytest

from tracker.schema import (
    SCHEMA_VERSION,
    ExampleResult,
    RunManifest,
    Snapshot,
    Summary,
    decode_manifest,
    decode_snapshot,
    encode_manifest,
    encode_snapshot,
)
from tracker.scoring import summarize
from tracker.store import list_snapshot_files, read_manifest, read_snapshot

SEED_FILE = Path(__file__).parent / "data" / "seed_step_000100.json"


def make_snapshot(step: int = 10, n: int = 5) -> Snapshot:
    rows = [
        ExampleResult(
            example_id=f"ex_{i:03d}",
            input=f"What is {i}+{i}? ",
            expected_output=str(2 * i),
            model_output=str(2 * i) if i % 2 else "x",
            loss=0.1 * (i + 1),
            similarity=1.0 if i % 2 else 0.0,
            exact_match=bool(i % 2),
            metadata={"line": i, "tags": ["math"], "nested": {"a": [1, 2.5, None]}},
        )
        for i in range(n)
    ]
    return Snapshot(
        snapshot_id=f"toy_step_{step:06d}",
        training_step=step,
        timestamp="2026-11-26T12:00:00.000Z",
        model_version="training",
        examples=rows,
        summary=summarize(rows),
        epoch=1.5,
        train_loss=0.7,
        learning_rate=3e-3,
        eval_seconds=0.25,
    )


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_round_trip(fmt: str) -> None:
    snapshot = make_snapshot()
    data = encode_snapshot(snapshot, fmt)  # type: ignore[arg-type]
    assert decode_snapshot(data, fmt) == snapshot  # type: ignore[arg-type]


def test_json_is_the_documented_shape() -> None:
    doc = json.loads(encode_snapshot(make_snapshot(step=100, n=2)))
    assert doc["training_step"] == 100
    assert set(doc["examples"][0]) >= {
        "example_id", "input", "expected_output", "model_output", "loss", "similarity", "exact_match", "metadata"
    }  # fmt: skip
    assert set(doc["summary"]) >= {"avg_loss", "accuracy", "total_examples", "correct", "incorrect"}
    assert doc["schema_version"] == SCHEMA_VERSION


def test_nan_and_inf_losses_are_written_as_null() -> None:
    snapshot = make_snapshot(n=2)
    snapshot.examples[0].loss = math.nan
    snapshot.examples[1].loss = math.inf
    back = decode_snapshot(encode_snapshot(snapshot, "json"))
    assert [r.loss for r in back.examples] == [None, None]


def test_seed_json_file_decodes_as_is(tmp_path: Path) -> None:
    # A directory exactly as the original JSON writer left it: no schema_version, no run.json,
    # objects in "metadata", the seed's six-digit names.
    shutil.copy(SEED_FILE, tmp_path / "step_000100.json")
    (files,) = [list_snapshot_files(tmp_path)]
    assert [f.step for f in files] == [100]
    snapshot = read_snapshot(files[0].path)
    assert isinstance(snapshot, Snapshot), snapshot
    assert snapshot.schema_version == SCHEMA_VERSION  # absent means version 1
    assert snapshot.snapshot_id == "dataset_step_000100"
    assert snapshot.examples[0].model_output == "2+2 equals 4"
    assert snapshot.examples[0].metadata["difficulty"] == {"level": 1}
    assert snapshot.summary == Summary(
        avg_loss=0.2566666666666667, accuracy=2 / 3, total_examples=3, correct=2, incorrect=1
    )
    assert read_manifest(tmp_path) is None


def test_unknown_fields_are_ignored() -> None:
    doc = json.loads(encode_snapshot(make_snapshot(n=1)))
    doc["written_by_the_future"] = {"x": 1}
    doc["examples"][0]["token_logprobs"] = [0.1, 0.2]
    doc["summary"]["f1"] = 0.5
    back = decode_snapshot(json.dumps(doc).encode())
    assert back.examples[0].example_id == "ex_000"


class NewerExampleResult(ExampleResult, kw_only=True):
    """What a later v1 writer might add: a new field, with a default, as the evolution rules require."""

    rationale: str = ""


class NewerSnapshot(Snapshot, kw_only=True):
    examples: list[NewerExampleResult]  # type: ignore[assignment]
    git_commit: str = ""


@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_old_and_newer_readers_read_each_other(fmt: str) -> None:
    enc = msgspec.json if fmt == "json" else msgspec.msgpack
    newer = NewerSnapshot(
        training_step=5,
        examples=[NewerExampleResult(example_id="a", model_output="1", rationale="because")],
        git_commit="abc123",
    )
    # An old (current) reader reads the newer writer's file, ignoring what it does not know.
    old_view = decode_snapshot(enc.encode(newer), fmt)  # type: ignore[arg-type]
    assert old_view.training_step == 5 and old_view.examples[0].model_output == "1"
    # A newer reader reads the old writer's file, filling the new fields with their defaults.
    new_view = enc.decode(encode_snapshot(make_snapshot(n=2), fmt), type=NewerSnapshot)  # type: ignore[arg-type]
    assert new_view.git_commit == "" and new_view.examples[1].rationale == ""
    assert new_view.examples[1].model_output == "2"


def test_manifest_round_trip_and_readable_json() -> None:
    manifest = RunManifest(run_id="r1", run_name="toy", max_steps=800, example_ids=["a", "b"], status="finished")
    data = encode_manifest(manifest)
    assert b"\n  " in data  # indented for people reading it with cat
    assert decode_manifest(data) == manifest
