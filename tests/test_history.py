"""RunHistory: columns by step, gaps, out-of-order arrival, replacement."""

from __future__ import annotations

import math

import numpy as np

from evotui.analysis.history import RunHistory
from tracker.schema import ExampleResult, Snapshot
from tracker.scoring import summarize


def snap(step: int, rows: dict[str, tuple[str, bool, float | None]]) -> Snapshot:
    examples = [
        ExampleResult(
            example_id=eid,
            input=f"q {eid}",
            expected_output="4",
            model_output=out,
            exact_match=ok,
            similarity=1.0 if ok else 0.0,
            loss=loss,
        )
        for eid, (out, ok, loss) in rows.items()
    ]
    return Snapshot(training_step=step, examples=examples, summary=summarize(examples))


def test_out_of_order_arrival_is_kept_in_step_order_with_gaps() -> None:
    h = RunHistory()
    h.add(snap(50, {"a": ("4", True, 0.1), "b": ("5", False, 2.0)}))
    h.add(snap(0, {"a": ("", False, 3.0)}))  # b absent at step 0: a gap, not a zero
    result = h.add(snap(10, {"b": ("4", True, None), "c": ("7", False, 1.0)}))
    assert h.steps == [0, 10, 50]
    assert h.example_ids == ["a", "b", "c"]
    assert result.new_examples == 1 and not result.is_latest and not result.replaced
    exact = h.matrix("exact")
    np.testing.assert_array_equal(exact[0], [0.0, np.nan, 1.0])
    np.testing.assert_array_equal(exact[1], [np.nan, 1.0, 0.0])
    np.testing.assert_array_equal(exact[2], [np.nan, 0.0, np.nan])
    loss_b = h.series(h.index_of("b"), "loss")  # type: ignore[arg-type]
    assert math.isnan(loss_b[0]) and math.isnan(loss_b[1]) and loss_b[2] == 2.0
    assert [(p.step, p.output, p.exact) for p in h.prediction_history(1)] == [(10, "4", True), (50, "5", False)]
    assert h.summary_series()["accuracy"].tolist() == [0.0, 0.5, 0.5]


def test_replacing_a_step_and_cache_invalidation() -> None:
    h = RunHistory()
    h.add(snap(0, {"a": ("x", False, 1.0)}))
    first = h.matrix("exact")
    assert h.matrix("exact") is first  # cached while nothing changes
    result = h.add(snap(0, {"a": ("4", True, 0.5)}))
    assert result.replaced and h.steps == [0]
    assert h.matrix("exact")[0, 0] == 1.0
    assert h.remove_step(0) and h.n_steps == 0 and h.latest() is None
    assert h.matrix("loss").shape == (1, 0)


def test_a_frozen_copy_stays_as_it_was_and_text_caches_follow_only_text_changes() -> None:
    from evotui.analysis.table import TableQuery, table_rows

    history = RunHistory()
    history.add(snap(0, {"a": ("1", False, 1.0), "b": ("4", True, 0.1)}))
    copy = history.frozen_copy()
    texts = history.texts_version
    history.add(snap(10, {"a": ("4", True, 0.1), "b": ("4", True, 0.1)}))  # same texts, new outputs
    assert history.texts_version == texts and history.lineage == copy.lineage
    assert copy.steps == [0] and history.steps == [0, 10]  # the copy did not move
    later = snap(20, {"a": ("4", True, 0.1), "b": ("4", True, 0.1), "c": ("2", False, 2.0)})
    history.add(later)  # a new example: new texts
    assert history.texts_version > texts and copy.n_examples == 2 and history.n_examples == 3
    # The search text follows the outputs of the step shown and the texts of the run, on any copy.
    assert table_rows(history.frozen_copy(), None, TableQuery(text="q c")).order.tolist() == [2]
    assert table_rows(copy, None, TableQuery(text="1")).order.tolist() == [0]
    assert table_rows(history.frozen_copy(), None, TableQuery(text="1")).order.tolist() == []


def test_outputs_held_are_not_walked_by_every_garbage_collection() -> None:
    # A run holds examples x snapshots output references; as lists every full collection walked them
    # all (a pause growing with the run, on whichever thread allocated). Strings only: untracked.
    import gc

    history = RunHistory()
    history.add(snap(0, {"a": ("4", True, 0.1), "b": ("5", False, 2.0)}))
    history.add(snap(10, {"b": ("4", True, 0.2)}))  # "a" absent: None
    gc.collect()
    for step in history.steps:
        assert not gc.is_tracked(history.columns[step].outputs)
    assert list(history.columns[10].outputs) == [None, "4"]
