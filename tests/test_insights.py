"""Insights (evotui.analysis.insights): each kind planted in a hand-built history is found, with its
evidence; clean histories give none; incremental updates agree with a full pass; a real toy run gives
no alarm; a slice is found through metadata read from seed-format files."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evotui.analysis.dynamics import compute_dynamics
from evotui.analysis.history import RunHistory
from evotui.analysis.insights import (
    InsightEngine,
    Kind,
    Severity,
    find_insights,
    slice_candidates,
)
from evotui.analysis.loader import load_run
from evotui.analysis.stats import binomial_upper, fisher_exact, holm, poisson_upper
from tracker.schema import ExampleResult, RunManifest, Snapshot
from tracker.scoring import score, summarize
from tracker.store import list_snapshot_files, read_manifest, read_snapshot

REPO = Path(__file__).resolve().parent.parent

Outputs = Callable[[int, int], str]  # (example index, snapshot index) -> output


def answer(i: int) -> str:
    return str(100 + i)


def make_history(
    n: int,
    steps: list[int],
    output: Outputs,
    *,
    inputs: Callable[[int], str] = lambda i: f"What is {i} + 100?",
    expected: Callable[[int], str] = answer,
    metadata: Callable[[int, int], dict[str, Any]] = lambda i, k: {},
    learning_rate: Callable[[int], float | None] = lambda k: None,
    epoch: Callable[[int], float | None] = lambda k: None,
) -> RunHistory:
    """Snapshots scored as the tracker scores them, added to a RunHistory in step order."""
    history = RunHistory()
    for k, step in enumerate(steps):
        rows = []
        for i in range(n):
            out = output(i, k)
            exact, sim = score(out, expected(i))
            rows.append(
                ExampleResult(
                    example_id=f"ex_{i:04d}",
                    input=inputs(i),
                    expected_output=expected(i),
                    model_output=out,
                    loss=-math.log(0.9 if exact else 0.1 + 0.5 * sim),
                    similarity=sim,
                    exact_match=exact,
                    metadata=metadata(i, k),
                )
            )
        history.add(
            Snapshot(
                training_step=step,
                examples=rows,
                summary=summarize(rows),
                learning_rate=learning_rate(k),
                epoch=epoch(k),
            )
        )
    return history


def learning(learn_at: np.ndarray) -> Outputs:
    """Each example right from its snapshot ``learn_at[i]`` on, a distinct wrong answer before."""
    return lambda i, k: answer(i) if k >= learn_at[i] else f"{i % 7}{i % 3}"


def insights_of(history: RunHistory, manifest: RunManifest | None = None) -> list[Any]:
    return find_insights(history, compute_dynamics(history), manifest)


def kinds(found: list[Any]) -> list[str]:
    return [x.kind.value for x in found]


STEPS = [0, *range(100, 2100, 100)]  # 21 snapshots


def healthy_learn_at(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(1, len(STEPS) - 3, size=n)


# -- clean histories: nothing found -------------------------------------------------------------------
def test_a_clean_run_gives_no_insight() -> None:
    """Every example learned at its own time, diverse outputs, no metadata: not one insight."""
    history = make_history(200, STEPS, learning(healthy_learn_at(200)))
    assert insights_of(history) == []


def test_symmetric_noise_is_not_a_regression() -> None:
    """Constant-rate flips both ways (5% of examples each snapshot) around a flat 60% accuracy: no
    regression, even over 60 snapshots."""
    n, k_count = 400, 60
    rng = np.random.default_rng(1)
    right = np.zeros((n, k_count), dtype=bool)
    right[:, 0] = rng.random(n) < 0.6
    for k in range(1, k_count):
        flip = rng.random(n) < 0.05
        right[:, k] = right[:, k - 1] ^ flip
    # hold accuracy near 60%: flips are symmetric in expectation
    history = make_history(n, [k * 50 for k in range(k_count)], lambda i, k: answer(i) if right[i, k] else "x" + str(i))
    found = insights_of(history)
    assert Kind.REGRESSION not in {x.kind for x in found}
    assert all(x.severity is Severity.INFO for x in found)


# -- regression --------------------------------------------------------------------------------------
def test_a_planted_fall_is_a_regression_with_its_learning_rate_and_epoch() -> None:
    n = 200
    learn_at = np.full(n, 2)
    drop_at = 12  # 60 examples forgotten at snapshot 12, relearned at 13
    forgotten = set(range(0, 120, 2))

    def output(i: int, k: int) -> str:
        if k == drop_at and i in forgotten:
            return "7"
        return learning(learn_at)(i, k)

    lr = [1e-3] * len(STEPS)
    lr[drop_at] = 5e-3  # the schedule jumped right before the fall
    history = make_history(n, STEPS, output, learning_rate=lambda k: lr[k], epoch=lambda k: k * 0.25)
    found = [x for x in insights_of(history) if x.kind is Kind.REGRESSION]
    assert [x.step for x in found] == [STEPS[drop_at]]
    hit = found[0]
    assert hit.severity is Severity.CRITICAL  # 30 points
    assert set(hit.example_ids) == {f"ex_{i:04d}" for i in forgotten}
    assert hit.p_value is not None and hit.p_value < 1e-6
    assert hit.data["learning_rate"] == pytest.approx(5e-3)
    assert hit.data["epoch"] == pytest.approx(drop_at * 0.25)
    assert hit.data["schedule_changed"] is True
    assert "lr 5.0e-03" in hit.message and "epoch 3.00" in hit.message
    assert hit.key == f"regression@{STEPS[drop_at]}"


def test_learned_examples_forgotten_together_are_a_regression_though_accuracy_holds() -> None:
    """40 long-learned examples forgotten at one snapshot while 40 others are learned there: accuracy
    does not fall, the burst of forgetting is found."""
    n = 200
    learn_at = np.full(n, 2)
    late = np.arange(100, 140)
    learn_at[late] = 12
    learn_at[140:] = 30  # never within the run
    burst = set(range(0, 40))

    def output(i: int, k: int) -> str:
        if k == 12 and i in burst:
            return "7"
        return learning(learn_at)(i, k)

    history = make_history(n, STEPS, output)
    found = [x for x in insights_of(history) if x.kind is Kind.REGRESSION]
    assert [x.step for x in found] == [STEPS[12]]
    assert found[0].data["stable_forgotten"] == 40
    assert "learned examples forgotten at once" in found[0].message


# -- output pathologies ------------------------------------------------------------------------------
def _after_learning(n: int, start: int, bad: Callable[[int], bool], bad_output: Callable[[int], str]) -> Outputs:
    learn_at = np.full(n, 2)

    def output(i: int, k: int) -> str:
        if k >= start and bad(i):
            return bad_output(i)
        return learning(learn_at)(i, k)

    return output


def test_output_collapse_is_found_with_when_it_began() -> None:
    n = 100
    history = make_history(n, STEPS, _after_learning(n, 15, lambda i: i < 45, lambda i: "42"))
    found = [x for x in insights_of(history) if x.kind is Kind.OUTPUT_COLLAPSE]
    assert len(found) == 1
    assert found[0].step == STEPS[15]  # began there, found by searching back
    assert found[0].severity is Severity.WARNING
    assert len(found[0].example_ids) == 45
    assert found[0].data["output"] == "42"


def test_a_common_right_answer_is_not_a_collapse() -> None:
    """A yes/no task: 60% of the examples expect "yes" and the model says "yes" to them: no collapse."""
    n = 100
    history = make_history(
        n,
        STEPS,
        lambda i, k: ("yes" if i < 60 else "no") if k >= 2 else "maybe",
        expected=lambda i: "yes" if i < 60 else "no",
    )
    assert Kind.OUTPUT_COLLAPSE not in {x.kind for x in insights_of(history)}


@pytest.mark.parametrize(
    ("kind", "bad_output"),
    [
        (Kind.PROMPT_ECHO, lambda i: f"What is {i} + 100? What is"),
        (Kind.EMPTY_OUTPUT, lambda i: "  "),
    ],
)
def test_echo_and_empty_outputs_are_found(kind: Kind, bad_output: Callable[[int], str]) -> None:
    n = 100
    history = make_history(n, STEPS, _after_learning(n, 16, lambda i: i % 5 == 0, bad_output))
    found = [x for x in insights_of(history) if x.kind is kind]
    assert len(found) == 1
    assert found[0].step == STEPS[16]
    assert found[0].severity is Severity.WARNING
    assert set(found[0].example_ids) == {f"ex_{i:04d}" for i in range(0, n, 5)}


def test_truncated_outputs_are_found_from_the_trackers_finish_metadata() -> None:
    n = 100
    cut = set(range(0, 30))
    history = make_history(
        n,
        STEPS,
        learning(np.full(n, 2)),
        metadata=lambda i, k: {"finish": "length" if (k >= 10 and i in cut) else "eos"},
    )
    found = [x for x in insights_of(history) if x.kind is Kind.TRUNCATED]
    assert len(found) == 1 and found[0].step == STEPS[10]
    assert len(found[0].example_ids) == 30


def test_a_pathology_early_in_training_is_info_not_an_alarm() -> None:
    """A base model that rambles to the token limit at step 0 and answers everything "2" at step 100,
    then learns: while young, info only; after it is over, nothing."""
    n = 100
    learn_at = np.full(n, 3)

    def output(i: int, k: int) -> str:
        return {0: "blah blah blah", 1: "2", 2: "2"}.get(k, answer(i)) if k < 3 else answer(i)

    live = RunHistory()
    full = make_history(n, STEPS, output, metadata=lambda i, k: {"finish": "length" if k == 0 else "eos"})
    engine = InsightEngine()
    severities = set()
    for step in full.steps:
        col = full.columns[step]
        live.add(
            Snapshot(
                training_step=step,
                examples=[
                    ExampleResult(
                        example_id=full.example_ids[i],
                        input=full.inputs[i],
                        expected_output=full.expected[i],
                        model_output=col.outputs[i] or "",
                        exact_match=col.exact[i] == 1.0,
                        loss=float(col.loss[i]),
                        metadata={"finish": "length" if col.hit_limit is not None and col.hit_limit[i] else "eos"},
                    )
                    for i in range(n)
                ],
            )
        )
        found = engine.update(live, compute_dynamics(live))
        severities |= {x.severity for x in found if x.kind in (Kind.TRUNCATED, Kind.OUTPUT_COLLAPSE)}
    assert severities == {Severity.INFO}
    assert learn_at.size == n
    assert not [x for x in insights_of(full) if x.kind in (Kind.TRUNCATED, Kind.OUTPUT_COLLAPSE)]


# -- slices, never learned, plateau -------------------------------------------------------------------
def test_a_metadata_slice_with_low_accuracy_is_found_and_named() -> None:
    n = 200
    hard = set(range(0, 200, 8))  # 25 examples
    learn_at = np.where(np.isin(np.arange(n), list(hard)), 99, 3)
    learn_at[[0, 8, 16]] = 5  # three hard ones learned

    history = make_history(
        n,
        STEPS,
        learning(learn_at),
        metadata=lambda i, k: {"tags": ["math", "hard"] if i in hard else ["math"], "source": f"line {i}"},
    )
    found = [x for x in insights_of(history) if x.kind is Kind.SLICE]
    labels = [x.data["slice"] for x in found]
    assert "tags=hard" in labels
    hit = found[labels.index("tags=hard")]
    assert hit.message.startswith("tags=hard: 12% right vs 100% for the rest (n=25")
    assert hit.p_value is not None and hit.p_value < 0.01
    assert len(hit.example_ids) == 25
    assert not any(label.startswith("source") for label in labels)  # an id-like key is not a group
    never = [x for x in insights_of(history) if x.kind is Kind.NEVER_LEARNED]
    assert len(never) == 1 and never[0].data["shared"][0] == "tags=hard"
    assert len(never[0].example_ids) == 22


def test_a_slice_learned_later_is_found() -> None:
    n = 200
    late = set(range(100, 140))
    learn_at = np.where(np.isin(np.arange(n), list(late)), 14, 3) + np.arange(n) % 3
    history = make_history(
        n,
        STEPS,
        learning(learn_at),
        inputs=lambda i: f"Q{i:04d}",  # one input length: only the metadata can set the group apart
        metadata=lambda i, k: {"lang": "de" if i in late else "en"},
    )
    found = [x for x in insights_of(history) if x.kind is Kind.SLICE and x.data["measure"] == "learned_step"]
    assert [x.data["slice"] for x in found] == ["lang=de"]
    assert found[0].data["median_learned"] > found[0].data["rest_median_learned"]


def test_no_slice_when_groups_do_not_differ() -> None:
    n = 200
    history = make_history(
        n, STEPS, learning(healthy_learn_at(n, seed=3)), metadata=lambda i, k: {"group": "abcd"[i % 4]}
    )
    assert [x for x in insights_of(history) if x.kind is Kind.SLICE] == []


def test_plateau_is_found_where_it_began() -> None:
    n = 100
    learn_at = np.where(np.arange(n) < 70, 3, 99)
    learn_at[:70] = 3 + np.arange(70) % 10  # learned up to snapshot 12, then nothing changes
    history = make_history(n, STEPS, learning(learn_at), learning_rate=lambda k: 1e-3)
    found = [x for x in insights_of(history) if x.kind is Kind.PLATEAU]
    assert len(found) == 1
    assert found[0].step == STEPS[12]
    assert found[0].severity is Severity.INFO
    assert len(found[0].example_ids) == 30


def test_slice_candidates_from_metadata_and_lengths() -> None:
    meta = [{"tags": ["a", "b"] if i % 2 else ["a"], "difficulty": {"level": i % 3}, "id": f"x{i}"} for i in range(40)]
    inputs = ["q" * (5 + i) for i in range(40)]
    expected = ["1" if i < 20 else "22" for i in range(40)]
    labels = [s.label for s in slice_candidates(meta, inputs, expected)]
    assert "tags=b" in labels and "difficulty.level=0" in labels
    assert "tags=a" not in labels  # everyone: no rest to compare with
    assert not any(label.startswith("id=") for label in labels)
    assert any(label.startswith("input ") for label in labels)
    assert "expected output 1 char" in labels


# -- incremental -------------------------------------------------------------------------------------
def test_incremental_updates_agree_with_a_full_pass() -> None:
    n = 120
    learn_at = healthy_learn_at(n, seed=5)

    def output(i: int, k: int) -> str:
        if k == 11 and i < 40:
            return "7"
        if k >= 15 and i % 5 == 0:  # echoes: checked again only where an output changed (live)
            return f"What is {i} + 100? What is"
        return learning(learn_at)(i, k)

    full = make_history(n, STEPS, output, metadata=lambda i, k: {"tag": "x" if i < 30 else "y"})
    engine = InsightEngine()
    live = RunHistory()
    snapshots = []
    for step in full.steps:
        col = full.columns[step]
        snapshots.append(
            Snapshot(
                training_step=step,
                examples=[
                    ExampleResult(
                        example_id=full.example_ids[i],
                        input=full.inputs[i],
                        expected_output=full.expected[i],
                        model_output=col.outputs[i] or "",
                        exact_match=col.exact[i] == 1.0,
                        loss=float(col.loss[i]),
                        metadata=full.metadata[i],
                    )
                    for i in range(n)
                ],
            )
        )
    result: tuple[Any, ...] = ()
    for snapshot in snapshots:
        live.add(snapshot)
        result = engine.update(live, compute_dynamics(live))
    once = insights_of(live)
    assert [x.to_dict() for x in result] == [x.to_dict() for x in once]
    assert {Kind.REGRESSION, Kind.PROMPT_ECHO} <= {x.kind for x in once}


# -- statistics --------------------------------------------------------------------------------------
def test_statistics_match_known_values() -> None:
    assert binomial_upper(8, 10) == pytest.approx(56 / 1024)
    assert poisson_upper(3, 1.0) == pytest.approx(1 - math.exp(-1) * 2.5)
    # Fisher's tea-tasting: [[3, 1], [1, 3]], two-sided p = 0.486
    assert fisher_exact(3, 1, 1, 3) == pytest.approx(0.4857, abs=1e-4)
    assert fisher_exact(3, 1, 1, 3, alternative="greater") == pytest.approx(0.2429, abs=1e-4)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


# -- seed-format files -------------------------------------------------------------------------------
def test_a_slice_is_found_through_metadata_read_from_seed_format_files(tmp_path: Path) -> None:
    """Files in the seed's own JSON shape (tests/data/seed_step_000100.json), metadata as the seed wrote it."""
    seed = json.loads((REPO / "tests/data/seed_step_000100.json").read_text())
    template = seed["examples"][0]
    n = 80
    for k, step in enumerate([0, 100, 200, 300, 400]):
        rows = []
        for i in range(n):
            hard = i % 4 == 0
            right = k >= 1 and not hard
            row = dict(template)
            row.update(
                example_id=f"ex_{i:03d}",
                input=f"What is {i}+{i}?",
                expected_output=str(2 * i),
                model_output=str(2 * i) if right else "no idea",
                exact_match=right,
                similarity=1.0 if right else 0.0,
                loss=0.1 if right else 2.0,
                metadata={
                    "source": "inbox/test_math.jsonl",
                    "line": i + 1,
                    "tags": ["math", "hard"] if hard else ["math"],
                    "difficulty": {"level": 3 if hard else 1},
                },
            )
            rows.append(row)
        right_count = sum(r["exact_match"] for r in rows)
        doc = dict(
            seed,
            training_step=step,
            snapshot_id=f"dataset_step_{step:06d}",
            examples=rows,
            summary={
                "avg_loss": 1.0,
                "accuracy": right_count / n,
                "total_examples": n,
                "correct": right_count,
                "incorrect": n - right_count,
            },
        )
        (tmp_path / f"step_{step:06d}.json").write_text(json.dumps(doc))
    history, manifest, errors = load_run(tmp_path)
    assert not errors and manifest is None
    found = insights_of(history)
    slices = {x.data["slice"]: x for x in found if x.kind is Kind.SLICE}
    # tags=hard and difficulty.level=3 are the same 20 examples: the first tried is reported, once
    assert list(slices) == ["difficulty.level=3"] or list(slices) == ["tags=hard"]
    hit = next(iter(slices.values()))
    assert hit.message.endswith(f"corrected over {hit.data['tests']} tests)")
    assert "0% right vs 100% for the rest (n=20" in hit.message
    never = next(x for x in found if x.kind is Kind.NEVER_LEARNED)
    assert len(never.example_ids) == 20


# -- a real run --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def toy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("toy") / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tracker.toy_train",
            "--output-dir",
            str(out),
            "--steps",
            "400",
            "--examples",
            "60",
            "--threads",
            "1",
            "--schedule",
            "every 25",
        ],
        check=True,
        env=env,
        cwd=REPO,
        capture_output=True,
        timeout=600,
    )
    return out


@pytest.mark.slow
def test_a_real_toy_run_raises_no_alarm_as_its_snapshots_arrive(toy_run: Path) -> None:
    """Replayed snapshot by snapshot as the viewer sees them: no insight of severity warning or higher at
    any point (the early collapse onto one answer and the step-0 rambling are info), and at the end no
    regression, collapse, echo, empty or truncated outputs."""
    manifest = read_manifest(toy_run)
    assert isinstance(manifest, RunManifest)
    history = RunHistory()
    engine = InsightEngine()
    alarms = []
    for f in list_snapshot_files(toy_run):
        snapshot = read_snapshot(f.path)
        assert isinstance(snapshot, Snapshot)
        history.add(snapshot)
        found = engine.update(history, compute_dynamics(history), manifest)
        alarms += [x for x in found if x.severity is not Severity.INFO]
    assert alarms == []
    assert history.n_steps == 17
    final = insights_of(history, manifest)
    assert not {x.kind for x in final} & {
        Kind.REGRESSION,
        Kind.OUTPUT_COLLAPSE,
        Kind.PROMPT_ECHO,
        Kind.EMPTY_OUTPUT,
        Kind.TRUNCATED,
    }
