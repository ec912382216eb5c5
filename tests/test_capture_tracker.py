"""EvolutionTracker without a Trainer: the seed's calls, record(), heartbeat, formats, archiving, errors."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._capture_helpers import SEED_JSONL, one_torch_thread, snapshots, toy_model_and_tokenizer
from tracker import EvolutionTracker
from tracker.examples import ExampleError
from tracker.schema import RunManifest
from tracker.store import read_manifest
from tracker.toy import addition_examples


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def model_and_tok():
    return toy_model_and_tokenizer()


def test_seed_calls_as_written(tmp_path: Path, model_and_tok) -> None:
    model, tokenizer = model_and_tok
    inbox = tmp_path / "inbox" / "test_math.jsonl"
    inbox.parent.mkdir()
    inbox.write_text(SEED_JSONL)
    raw_train_examples = [json.loads(line) for line in SEED_JSONL.splitlines()]

    # As in the seed's train.py: constructed after the dataset is loaded, called at every step.
    evolution_tracker = EvolutionTracker(base_dir=tmp_path, dataset_name=inbox.stem)
    for step in range(0, 27):
        evolution_tracker.capture_snapshot(
            model=model,
            tokenizer=tokenizer,
            examples=raw_train_examples,
            current_step=step,
            model_version="training",
            max_examples=100,  # Limit for performance
        )
    evolution_tracker.close()

    run_dir = tmp_path / "data" / "evolution_snapshots" / "test_math"
    assert sorted(p.name for p in run_dir.glob("step_*")) == [
        "step_000000.json",
        "step_000010.json",
        "step_000025.json",
    ]
    doc = json.loads((run_dir / "step_000010.json").read_text())
    assert doc["snapshot_id"] == "test_math_step_000010"
    assert doc["training_step"] == 10 and doc["model_version"] == "training"
    assert doc["timestamp"].endswith("Z")
    assert [e["example_id"] for e in doc["examples"]] == ["ex_000", "ex_001"]
    assert doc["examples"][0]["input"] == "What is 2+2?" and doc["examples"][0]["expected_output"] == "4"
    assert set(doc["summary"]) >= {"avg_loss", "accuracy", "total_examples", "correct", "incorrect"}
    assert doc["summary"]["total_examples"] == 2 and doc["eval_seconds"] > 0
    manifest = read_manifest(run_dir)
    assert isinstance(manifest, RunManifest)
    assert manifest.status == "finished" and manifest.errors == 0
    assert manifest.example_ids == ["ex_000", "ex_001"] and manifest.current_step == 26


def test_off_schedule_writes_nothing(tmp_path: Path, model_and_tok) -> None:
    model, tok = model_and_tok
    tracker = EvolutionTracker(output_dir=tmp_path, schedule=[5])
    for step in (1, 2, 3, 4, 6):
        assert (
            tracker.capture_snapshot(model=model, tokenizer=tok, examples=addition_examples()[:3], current_step=step)
            is False
        )
    tracker.close()
    assert snapshots(tmp_path) == {}


def test_max_examples_recorded_and_msgpack_format(tmp_path: Path, model_and_tok) -> None:
    model, tok = model_and_tok
    rows = addition_examples()
    tracker = EvolutionTracker(output_dir=tmp_path, snapshot_format="msgpack", max_examples=7, batch_size=3)
    tracker.capture_snapshot(model=model, tokenizer=tok, examples=rows, current_step=0)
    tracker.close()
    assert (tmp_path / "step_000000.msgpack").exists()
    snap = snapshots(tmp_path)[0]
    assert [e.example_id for e in snap.examples] == [r["id"] for r in rows[:7]]
    manifest = read_manifest(tmp_path)
    assert isinstance(manifest, RunManifest) and manifest.example_ids == [r["id"] for r in rows[:7]]


def test_record_scores_the_callers_predictions(tmp_path: Path) -> None:
    tracker = EvolutionTracker(output_dir=tmp_path, dataset_name="own_loop", normalizer="squad")
    tracker.record(
        3,
        [
            {
                "example_id": "a",
                "input": "Capital of France?",
                "expected_output": "Paris",
                "model_output": "the paris.",
            },
            {"id": "b", "expected_output": "4", "prediction": "5", "loss": 1.5},
        ],
        train_loss=0.25,
    )
    tracker.close()
    snap = snapshots(tmp_path)[3]
    assert snap.snapshot_id == "own_loop_step_000003" and snap.train_loss == 0.25
    assert [(e.example_id, e.exact_match, e.loss) for e in snap.examples] == [("a", True, None), ("b", False, 1.5)]
    assert snap.summary is not None and snap.summary.correct == 1 and snap.summary.avg_loss == 1.5


def test_heartbeat_is_throttled(tmp_path: Path) -> None:
    tracker = EvolutionTracker(output_dir=tmp_path, heartbeat_seconds=3600)
    tracker.record(0, [{"example_id": "a", "expected_output": "x", "model_output": "x"}])
    tracker.flush()
    first = read_manifest(tmp_path)
    for step in range(1, 50):
        tracker.heartbeat(step)
    tracker.flush()
    assert read_manifest(tmp_path) == first  # nothing rewritten within the interval
    tracker.heartbeat_seconds = 0.0
    tracker.heartbeat(50)
    tracker.flush()
    later = read_manifest(tmp_path)
    assert isinstance(later, RunManifest) and later.current_step == 50 and later.status == "running"
    tracker.close()
    final = read_manifest(tmp_path)
    assert isinstance(final, RunManifest) and final.status == "finished"


def test_a_new_run_archives_the_old_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    old = EvolutionTracker(output_dir=tmp_path)
    old.record(0, [{"example_id": "a", "expected_output": "x", "model_output": "y"}])
    old.record(10, [{"example_id": "a", "expected_output": "x", "model_output": "x"}])
    old.close()
    old_id = old.manifest.run_id
    with caplog.at_level(logging.WARNING, logger="tracker"):
        new = EvolutionTracker(output_dir=tmp_path)
        new.record(0, [{"example_id": "b", "expected_output": "x", "model_output": "x"}])
        new.close()
    assert "held another run's snapshots" in caplog.text
    archived = tmp_path / "archive" / old_id
    assert sorted(p.name for p in archived.iterdir()) == ["run.json", "step_000000.json", "step_000010.json"]
    assert list(snapshots(tmp_path)) == [0]
    assert [e.example_id for e in snapshots(tmp_path)[0].examples] == ["b"]
    manifest = read_manifest(tmp_path)
    assert isinstance(manifest, RunManifest) and manifest.run_id == new.manifest.run_id != old_id


def test_write_errors_are_counted_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tracker = EvolutionTracker(output_dir=tmp_path)
    tracker.record(0, [{"example_id": "a", "expected_output": "x", "model_output": "x"}])
    tracker.flush()
    (tmp_path / "step_000010.json").mkdir()  # the rename onto it fails in the writer thread
    with caplog.at_level(logging.ERROR, logger="tracker"):
        tracker.record(10, [{"example_id": "a", "expected_output": "x", "model_output": "x"}])
        tracker.record(20, [{"example_id": "a", "expected_output": "x", "model_output": "x"}])
        tracker.close()
    assert "writing at step 10 failed" in caplog.text
    manifest = read_manifest(tmp_path)
    assert isinstance(manifest, RunManifest)
    assert manifest.errors == 1 and manifest.last_error is not None and manifest.last_error.startswith("step 10:")
    assert manifest.status == "finished"
    assert sorted(snapshots(tmp_path)) == [0, 20]


def test_generation_error_is_logged_and_counted(tmp_path: Path, model_and_tok, caplog) -> None:
    model, tok = model_and_tok
    rows = addition_examples()[:4]
    tracker = EvolutionTracker(output_dir=tmp_path, schedule="every 10")

    def broken_generate(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (simulated)")

    model.generate = broken_generate
    try:
        with caplog.at_level(logging.ERROR, logger="tracker"):
            assert tracker.capture_snapshot(model=model, tokenizer=tok, examples=rows, current_step=0) is False
    finally:
        del model.generate
    assert tracker.capture_snapshot(model=model, tokenizer=tok, examples=rows, current_step=10) is True
    tracker.close()
    assert "capture at step 0 failed" in caplog.text and "simulated" in caplog.text
    manifest = read_manifest(tmp_path)
    assert isinstance(manifest, RunManifest) and manifest.errors == 1
    assert "RuntimeError: CUDA out of memory (simulated)" in (manifest.last_error or "")
    assert list(snapshots(tmp_path)) == [10]


def test_tracker_without_a_model_does_not_import_torch(tmp_path: Path) -> None:
    # record() users and the viewer's machines need no torch: only evaluate/callback import it.
    code = (
        "import sys; from tracker import EvolutionTracker; import tracker.examples\n"
        f"t = EvolutionTracker(output_dir={str(tmp_path)!r})\n"
        "t.record(0, [{'example_id': 'a', 'expected_output': 'x', 'model_output': 'x'}]); t.close()\n"
        "bad = [m for m in ('torch', 'transformers', 'textual', 'rich') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent.parent
    )
    assert done.returncode == 0, done.stderr
    assert sorted(snapshots(tmp_path)) == [0]


def test_bad_examples_fail_before_the_directory_is_touched(tmp_path: Path, model_and_tok, caplog) -> None:
    old = EvolutionTracker(output_dir=tmp_path)
    old.record(0, [{"example_id": "a", "expected_output": "x", "model_output": "x"}])
    old.close()
    bad = tmp_path.parent / f"{tmp_path.name}-bad.jsonl"
    bad.write_text('{"prompt": "p", "completion": "c"}\n{"prompt": "no completion"}\n')

    # start() (what the callback calls in on_train_begin) raises: a configuration error the user must see.
    with pytest.raises(ExampleError, match="line 2: has 'prompt' but no 'completion'"):
        EvolutionTracker(output_dir=tmp_path).start(0, examples=bad)
    # The seed's per-step call never raises into training: it says so once and stays out of the way.
    model, tok = model_and_tok
    seed_style = EvolutionTracker(output_dir=tmp_path)
    with caplog.at_level(logging.ERROR, logger="tracker"):
        for step in range(3):
            assert seed_style.capture_snapshot(model=model, tokenizer=tok, examples=bad, current_step=step) is False
    assert caplog.text.count("evolution tracker disabled") == 1 and "line 2" in caplog.text
    assert not (tmp_path / "archive").exists()
    assert sorted(snapshots(tmp_path)) == [0]
    manifest = read_manifest(tmp_path)
    assert isinstance(manifest, RunManifest) and manifest.run_id == old.manifest.run_id
