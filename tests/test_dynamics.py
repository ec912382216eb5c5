"""Training dynamics on hand-built histories whose answers are known, one definition at a time.

Histories go through the real path: ``Snapshot`` records added to a ``RunHistory``, then
``compute_dynamics``. A property test checks the incremental builder against a plain loop over random runs,
and another that checkpoints (step travel) and a growing set of examples change nothing.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evotui.analysis.dynamics import DynamicsBuilder, RunDynamics, compute_dynamics, dynamics_from_arrays
from evotui.analysis.history import RunHistory
from tracker.schema import ExampleResult, Snapshot

RIGHT, WRONG = 1, 0


def build(runs: dict[str, dict[int, int | tuple[int, float] | None]]) -> RunHistory:
    """``{example_id: {step: 1 | 0 | (1|0, p) | None}}``: None or a missing step is a gap; ``p`` sets
    the loss to -log p (default: p = 0.9 when right, 0.1 when wrong)."""
    steps = sorted({s for by_step in runs.values() for s in by_step})
    history = RunHistory()
    for step in steps:
        rows = []
        for example_id, by_step in runs.items():
            value = by_step.get(step)
            if value is None:
                continue
            exact, p = value if isinstance(value, tuple) else (value, 0.9 if value else 0.1)
            rows.append(
                ExampleResult(example_id=example_id, model_output="x", loss=-math.log(p), exact_match=bool(exact))
            )
        history.add(Snapshot(training_step=step, examples=rows))
    return history


def one(dyn: RunDynamics, example_id: str) -> dict[str, object]:
    index = dyn.index_of(example_id)
    assert index is not None
    return dyn.row(index)


def test_right_at_step_0_is_known_and_learned_at_0() -> None:
    dyn = compute_dynamics(build({"a": {0: RIGHT, 10: RIGHT, 20: RIGHT}}))
    assert one(dyn, "a") == {
        "status": "known",
        "first_learned": 0,
        "learned_step": 0,
        "learned_after": None,
        "forget_count": 0,
        "forgetting_steps": [],
        "confidence": pytest.approx(0.9),
        "variability": pytest.approx(0.0),
        "correctness": 1.0,
        "region": "easy",
    }


def test_learned_later_is_an_interval_between_two_snapshots() -> None:
    dyn = compute_dynamics(build({"a": {0: WRONG, 10: WRONG, 25: RIGHT, 50: RIGHT}}))
    row = one(dyn, "a")
    assert (row["status"], row["first_learned"], row["learned_step"], row["learned_after"]) == ("learned", 25, 25, 10)
    assert row["correctness"] == pytest.approx(2 / 3)  # steps 10, 25, 50: step 0 is left out


def test_learned_forgotten_learned_again_is_unstable() -> None:
    dyn = compute_dynamics(build({"a": {0: WRONG, 10: RIGHT, 20: WRONG, 30: WRONG, 40: RIGHT, 50: RIGHT}}))
    row = one(dyn, "a")
    assert row["status"] == "unstable"
    assert row["first_learned"] == 10
    assert (row["learned_after"], row["learned_step"]) == (30, 40)  # the last stretch of right answers
    assert row["forget_count"] == 1
    assert row["forgetting_steps"] == [20]


def test_forgotten_twice_and_wrong_now_is_forgotten_with_no_learned_step() -> None:
    dyn = compute_dynamics(build({"a": {0: RIGHT, 10: WRONG, 20: RIGHT, 30: WRONG}}))
    row = one(dyn, "a")
    assert row["status"] == "forgotten"
    assert (row["first_learned"], row["learned_step"], row["learned_after"]) == (0, None, None)
    assert row["forgetting_steps"] == [10, 30]
    assert row["forget_count"] == 2


def test_never_right_is_never() -> None:
    dyn = compute_dynamics(build({"a": {0: WRONG, 10: WRONG, 20: WRONG}, "b": {0: RIGHT, 10: RIGHT, 20: RIGHT}}))
    row = one(dyn, "a")
    assert row["status"] == "never"
    assert (row["first_learned"], row["learned_step"], row["learned_after"], row["forget_count"]) == (
        None,
        None,
        None,
        0,
    )
    assert dyn.counts_by_status() == {"known": 1, "learned": 0, "unstable": 0, "forgotten": 0, "never": 1}


def test_gaps_are_skipped_transitions_join_consecutive_present_values() -> None:
    dyn = compute_dynamics(
        build(
            {
                # right, absent, wrong: a forgetting event at 20 (the first evaluation after the gap)
                "forgot_across_gap": {0: RIGHT, 10: None, 20: WRONG, 30: WRONG},
                # wrong, absent, absent, right: learned in (0, 30]
                "learned_across_gap": {0: WRONG, 10: None, 20: None, 30: RIGHT},
                # absent from the latest snapshot: judged on its latest present value
                "absent_at_end": {0: WRONG, 10: RIGHT, 20: RIGHT, 30: None},
                # absent at step 0 and right when first seen: learned, with no earlier evaluation
                "first_seen_right": {10: RIGHT, 20: RIGHT, 30: RIGHT},
                # right, gap, right: no event
                "right_gap_right": {0: RIGHT, 10: RIGHT, 20: None, 30: RIGHT},
            }
        )
    )
    row = one(dyn, "forgot_across_gap")
    assert (row["status"], row["forgetting_steps"]) == ("forgotten", [20])
    row = one(dyn, "learned_across_gap")
    assert (row["status"], row["learned_after"], row["learned_step"]) == ("learned", 0, 30)
    row = one(dyn, "absent_at_end")
    assert (row["status"], row["learned_after"], row["learned_step"]) == ("learned", 0, 10)
    assert row["correctness"] == 1.0  # means run over present values only
    row = one(dyn, "first_seen_right")
    assert (row["status"], row["learned_after"], row["learned_step"], row["first_learned"]) == ("learned", None, 10, 10)
    row = one(dyn, "right_gap_right")
    assert (row["status"], row["forget_count"]) == ("known", 0)
    assert dyn.n_present.tolist() == [4, 3, 3, 4]


def test_one_snapshot_at_step_0_has_statuses_but_no_data_map() -> None:
    dyn = compute_dynamics(build({"a": {0: RIGHT}, "b": {0: WRONG}}))
    assert dyn.status.tolist() == ["known", "never"]
    assert np.isnan(dyn.confidence).all() and np.isnan(dyn.correctness).all()
    assert dyn.region.tolist() == ["", ""]
    assert dyn.counts_by_region() == {"easy": 0, "ambiguous": 0, "hard": 0, "unmapped": 2}
    assert dyn.regressions == []
    assert dyn.accuracy.tolist() == [0.5]


def test_one_snapshot_after_step_0_maps_it_and_nothing_is_known() -> None:
    dyn = compute_dynamics(build({"a": {100: (RIGHT, 0.8)}, "b": {100: (WRONG, 0.2)}}))
    assert dyn.status.tolist() == ["learned", "never"]
    assert dyn.learned_after.tolist() == [-1, -1]
    assert dyn.confidence.tolist() == [0.8, 0.2]
    assert dyn.correctness.tolist() == [1.0, 0.0]


def test_empty_history() -> None:
    dyn = compute_dynamics(RunHistory())
    assert dyn.n_examples == 0 and dyn.steps.size == 0 and dyn.regressions == []
    dyn = dynamics_from_arrays(np.zeros(0), np.zeros((2, 0)), np.zeros((2, 0)))
    assert dyn.status.tolist() == ["never", "never"]


def test_data_map_statistics_over_snapshots_after_step_0() -> None:
    # p at step 0 is ignored; after it: 0.2, 0.6, 1.0 -> mean 0.6, population std sqrt(0.32/3)
    dyn = compute_dynamics(build({"a": {0: (WRONG, 0.01), 10: (WRONG, 0.2), 20: (RIGHT, 0.6), 30: (RIGHT, 1.0)}}))
    assert dyn.confidence[0] == pytest.approx(0.6)
    assert dyn.variability[0] == pytest.approx(math.sqrt(((0.2 - 0.6) ** 2 + 0 + 0.4**2) / 3))
    assert dyn.aleatoric[0] == pytest.approx((0.2 * 0.8 + 0.6 * 0.4 + 0.0) / 3)
    assert dyn.correctness[0] == pytest.approx(2 / 3)


def test_region_thresholds_are_inclusive_and_need_low_aleatoric() -> None:
    # Constant p per example after step 0, so confidence = p and aleatoric = p (1 - p).
    runs = {
        "easy_at_075": {0: WRONG, 10: (RIGHT, 0.75), 20: (RIGHT, 0.75)},  # aleatoric 0.1875
        "easy_high": {0: WRONG, 10: (RIGHT, 0.9), 20: (RIGHT, 0.9)},  # 0.09
        "hard_at_025": {0: WRONG, 10: (WRONG, 0.25), 20: (WRONG, 0.25)},  # 0.1875
        "hard_low": {0: WRONG, 10: (WRONG, 0.05), 20: (WRONG, 0.05)},  # 0.0475
        "middle": {0: WRONG, 10: (WRONG, 0.5), 20: (RIGHT, 0.5)},  # 0.25: ambiguous by confidence
        "varies": {0: WRONG, 10: (WRONG, 0.5), 20: (RIGHT, 1.0)},  # confidence 0.75, aleatoric 0.125
        "just_below": {0: WRONG, 10: (RIGHT, 0.74), 20: (RIGHT, 0.74)},  # 0.1924, confidence under 0.75
    }
    dyn = compute_dynamics(build(runs))
    # aleatoric values sorted: 0.0475 0.09 0.125 0.1875 0.1875 0.1924 0.25 -> median 0.1875
    assert float(np.median(dyn.aleatoric)) == pytest.approx(0.1875)
    regions = dict(zip(dyn.example_ids, dyn.region.tolist(), strict=True))
    assert regions == {
        "easy_at_075": "easy",
        "easy_high": "easy",
        "hard_at_025": "hard",
        "hard_low": "hard",
        "middle": "ambiguous",
        "varies": "easy",
        "just_below": "ambiguous",
    }
    assert dyn.counts_by_region() == {"easy": 3, "ambiguous": 2, "hard": 2, "unmapped": 0}


def test_high_confidence_with_aleatoric_above_the_median_is_ambiguous() -> None:
    # "steady" and "noisy" have the same confidence 0.8; Data-IQ's aleatoric is mean p(1 - p), which is
    # lower for "noisy" (0.6 and 1.0) than for "steady" (0.8 twice).
    runs = {
        "steady": {0: WRONG, 10: (RIGHT, 0.8), 20: (RIGHT, 0.8)},  # aleatoric 0.16
        "confident": {0: WRONG, 10: (RIGHT, 0.9), 20: (RIGHT, 0.9)},  # 0.09
        "noisy": {0: WRONG, 10: (RIGHT, 0.6), 20: (RIGHT, 1.0)},  # 0.12
    }
    dyn = compute_dynamics(build(runs))
    # median aleatoric 0.12: only "steady" is above it.
    assert dict(zip(dyn.example_ids, dyn.region.tolist(), strict=True)) == {
        "steady": "ambiguous",
        "confident": "easy",
        "noisy": "easy",
    }


def test_regressions_list_accuracy_drops_and_forgotten_examples() -> None:
    runs = {
        "a": {0: WRONG, 10: RIGHT, 20: RIGHT, 30: WRONG, 40: RIGHT},
        "b": {0: WRONG, 10: WRONG, 20: RIGHT, 30: RIGHT, 40: RIGHT},
        "c": {0: WRONG, 10: RIGHT, 20: WRONG, 30: WRONG, 40: RIGHT},
    }
    dyn = compute_dynamics(build(runs))
    assert dyn.accuracy.tolist() == pytest.approx([0, 2 / 3, 2 / 3, 1 / 3, 1])
    # 20: accuracy flat, but c was forgotten (b learned); 30: accuracy fell, a forgotten.
    assert [(r.step, r.previous_step, r.forgotten_ids) for r in dyn.regressions] == [(20, 10, ["c"]), (30, 20, ["a"])]
    assert dyn.regressions[1].accuracy_change == pytest.approx(-1 / 3)
    assert dyn.regressions[0].accuracy_change == pytest.approx(0.0)


def test_accuracy_fall_without_a_forgotten_example_is_a_regression() -> None:
    # A new wrong example appears at step 20: accuracy falls, nobody was forgotten.
    dyn = compute_dynamics(build({"a": {0: RIGHT, 10: RIGHT, 20: RIGHT}, "new": {20: WRONG}}))
    assert [(r.step, r.n_forgotten) for r in dyn.regressions] == [(20, 0)]
    assert dyn.regressions[0].accuracy == 0.5


def test_learning_speed_counts_by_step() -> None:
    runs = {
        "k": {0: RIGHT, 10: RIGHT, 20: RIGHT},
        "l10": {0: WRONG, 10: RIGHT, 20: RIGHT},
        "l20": {0: WRONG, 10: RIGHT, 20: RIGHT},
        "u": {0: RIGHT, 10: WRONG, 20: RIGHT},
        "n": {0: WRONG, 10: WRONG, 20: WRONG},
    }
    speed = compute_dynamics(build(runs)).learning_speed
    assert speed.steps.tolist() == [0, 10, 20]
    assert speed.learned_at.tolist() == [1, 2, 1]
    assert speed.first_learned_at.tolist() == [2, 2, 0]
    assert speed.cumulative_learned.tolist() == [1, 3, 4]
    assert speed.quantiles[50] == 10.0


def test_until_step_judges_the_run_as_it_was_then() -> None:
    history = build({"a": {0: WRONG, 10: RIGHT, 20: WRONG}})
    assert compute_dynamics(history).status.tolist() == ["forgotten"]
    then = compute_dynamics(history, until_step=15)  # between snapshots: up to 10
    assert then.steps.tolist() == [0, 10]
    assert then.status.tolist() == ["learned"] and then.learned_step.tolist() == [10]


def test_arrays_and_history_agree_and_bad_shapes_are_refused() -> None:
    history = build({"a": {0: WRONG, 10: RIGHT}, "b": {0: RIGHT, 10: None}})
    from_history = compute_dynamics(history)
    from_arrays = dynamics_from_arrays(history.steps_array(), history.matrix("exact"), history.matrix("loss"))
    assert from_arrays.example_ids == ["0", "1"]
    assert from_arrays.status.tolist() == from_history.status.tolist() == ["learned", "known"]
    columns = from_history.table()
    assert columns["example_id"].tolist() == ["a", "b"] and all(len(v) == 2 for v in columns.values())
    with pytest.raises(ValueError, match="shapes"):
        dynamics_from_arrays([0, 1], np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="increasing"):
        dynamics_from_arrays([5, 1], np.zeros((2, 2)), np.zeros((2, 2)))


def test_dynamics_module_imports_neither_textual_nor_rich() -> None:
    code = (
        "import sys, evotui.analysis.dynamics;"
        "print(sorted(m for m in ('textual', 'rich', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def reference(steps: list[int], row: list[float]) -> tuple[str, int, int, int, int]:
    """The definitions read literally, one example at a time: status, first, learned, after, forgets."""
    seen = [(s, c) for s, c in zip(steps, row, strict=True) if not math.isnan(c)]
    forgets = sum(1 for (_, a), (_, b) in itertools.pairwise(seen) if a == 1 and b == 0)
    first = next((s for s, c in seen if c == 1), -1)
    learned, after = -1, -1
    if seen and seen[-1][1] == 1:
        j = len(seen) - 1
        while j > 0 and seen[j - 1][1] == 1:
            j -= 1
        learned = seen[j][0]
        after = seen[j - 1][0] if j > 0 else -1
    if first < 0:
        status = "never"
    elif forgets == 0:
        status = "known" if seen[0] == (0, 1) else "learned"
    else:
        status = "unstable" if seen[-1][1] == 1 else "forgotten"
    return status, first, learned, after, forgets


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 8).flatmap(
        lambda k: st.tuples(
            st.lists(st.integers(1, 50), min_size=k, max_size=k, unique=True),
            st.booleans(),
            st.lists(st.lists(st.sampled_from([0.0, 1.0, math.nan]), min_size=k, max_size=k), min_size=1, max_size=6),
        )
    )
)
def test_builder_matches_the_literal_definitions(case: tuple[list[int], bool, list[list[float]]]) -> None:
    raw_steps, starts_at_zero, rows = case
    steps = sorted(raw_steps)
    if starts_at_zero:
        steps[0] = 0
    exact = np.array(rows, dtype=np.float64)
    loss = np.where(np.isnan(exact), np.nan, 1.0)
    dyn = dynamics_from_arrays(steps, exact, loss)
    for i, row in enumerate(rows):
        got = (
            str(dyn.status[i]),
            int(dyn.first_learned[i]),
            int(dyn.learned_step[i]),
            int(dyn.learned_after[i]),
            int(dyn.forget_count[i]),
        )
        assert got == reference(steps, row), (steps, row)
    all_events = sorted((i, int(s)) for i in range(len(rows)) for s in dyn.forgetting_steps(i))
    from_regressions = sorted((int(eid), r.step) for r in dyn.regressions for eid in r.forgotten_ids)
    assert all_events == from_regressions


def same_dynamics(a: RunDynamics, b: RunDynamics) -> bool:
    exact_fields = ("steps", "n_present", "status", "first_learned", "learned_step", "learned_after")
    exact_fields += ("forget_count", "region", "forget_example", "forget_snapshot")
    close_fields = ("accuracy", "confidence", "variability", "correctness", "aleatoric")
    return (
        a.example_ids == b.example_ids
        and all(np.array_equal(getattr(a, f), getattr(b, f)) for f in exact_fields)
        and all(np.allclose(getattr(a, f), getattr(b, f), equal_nan=True, atol=1e-12) for f in close_fields)
        and [(r.step, r.previous_step, r.forgotten_ids) for r in a.regressions]
        == [(r.step, r.previous_step, r.forgotten_ids) for r in b.regressions]
        and np.allclose(  # NaN (an empty snapshot's accuracy) equals NaN here
            [(r.accuracy, r.previous_accuracy) for r in a.regressions],
            [(r.accuracy, r.previous_accuracy) for r in b.regressions],
            equal_nan=True,
        )
    )


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4))
def test_checkpoints_and_new_examples_give_the_same_dynamics_as_from_scratch(seed: int, every: int) -> None:
    """What the app's run service does: examples appear over time, a checkpoint every few snapshots,
    travel to each step from the nearest checkpoint. Each must equal the dynamics computed from scratch."""
    rng = np.random.default_rng(seed)
    history = RunHistory()
    builder, checkpoints = DynamicsBuilder(), []
    n = int(rng.integers(1, 6))
    for k, step in enumerate(sorted(rng.choice(60, size=int(rng.integers(1, 9)), replace=False).tolist())):
        n += int(rng.integers(0, 3))  # examples first seen at this snapshot
        rows = [
            ExampleResult(
                example_id=f"e{i}", model_output="x", loss=float(rng.random() * 3), exact_match=bool(rng.random() < 0.6)
            )
            for i in range(n)
            if rng.random() < 0.8  # the others are gaps
        ]
        history.add(Snapshot(training_step=step, examples=rows))
        column = history.columns[step]
        builder.append(step, column.exact, column.loss, history.example_ids)
        if (k + 1) % every == 0:
            checkpoints.append((k + 1, builder.copy()))
        assert same_dynamics(builder.result(history.example_ids), compute_dynamics(history))
    for step in history.steps:
        travelled = compute_dynamics(history, until_step=step, checkpoints=checkpoints)
        assert same_dynamics(travelled, compute_dynamics(history, until_step=step))


def test_statuses_regions_and_quick_filters_are_one_vocabulary() -> None:
    from typing import get_args

    from evotui.analysis.dynamics import REGIONS, STATUSES, Region, Status
    from evotui.analysis.table import QUICK_FILTER_NAMES, QUICK_FILTERS, STATUS_ORDER

    assert get_args(Status) == STATUSES and get_args(Region) == REGIONS
    names = [name for name, _ in QUICK_FILTERS]  # in the order ``f`` cycles through them
    assert len(names) == len(set(names)) and set(names) == set(QUICK_FILTER_NAMES)  # one label each
    assert set(QUICK_FILTER_NAMES) == {"all", "wrong", *STATUSES, *REGIONS}
    assert sorted(STATUS_ORDER, key=STATUS_ORDER.__getitem__) == [*STATUSES, ""]
    dyn = compute_dynamics(build({"a": {0: RIGHT, 10: WRONG}, "b": {0: WRONG, 10: RIGHT}, "c": {0: WRONG, 10: WRONG}}))
    assert set(dyn.status.tolist()) <= set(STATUSES) and set(dyn.region.tolist()) <= {*REGIONS, ""}
