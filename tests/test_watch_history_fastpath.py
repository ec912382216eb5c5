"""RunHistory.add's column-wise fast path (same ids in the same order) against a plain reference model."""

from __future__ import annotations

import math
import random

import numpy as np

from evotui.analysis.history import RunHistory
from tracker.schema import ExampleResult, Snapshot


def reference(snapshots: list[Snapshot]) -> tuple[list[str], dict[str, str], dict[int, dict[str, tuple]]]:
    """Ids in order of first appearance, the latest texts, and per step: id -> (loss, sim, exact, output)."""
    ids: list[str] = []
    texts: dict[str, str] = {}
    steps: dict[int, dict[str, tuple]] = {}
    for snapshot in snapshots:
        column: dict[str, tuple] = {}
        for row in snapshot.examples:
            if row.example_id not in texts:
                ids.append(row.example_id)
            texts[row.example_id] = row.input + "|" + row.expected_output
            loss = row.loss if row.loss is not None and math.isfinite(row.loss) else math.nan
            column[row.example_id] = (loss, row.similarity, 1.0 if row.exact_match else 0.0, row.model_output)
        steps[snapshot.training_step] = column
    return ids, texts, steps


def test_fast_and_slow_paths_agree_with_the_reference() -> None:
    rnd = random.Random(0)
    pool = [f"e{i}" for i in range(10)]
    for _ in range(200):
        base = pool[: rnd.randint(0, 10)]
        snapshots = []
        for step in rnd.sample(range(0, 300, 10), rnd.randint(1, 8)):
            mode = rnd.random()
            if mode < 0.5:
                ids = list(base)  # the fast path
            elif mode < 0.7:
                ids = rnd.sample(pool, rnd.randint(0, 10))  # gaps and new examples
            elif mode < 0.8:
                ids = [*base, base[0]] if base else []  # a duplicate id: the later row wins
            else:
                ids = rnd.sample(base, len(base))  # reordered
            rows = [
                ExampleResult(
                    example_id=i,
                    input=f"in-{i}-{rnd.randint(0, 2)}",
                    expected_output=f"x{rnd.randint(0, 1)}",
                    model_output=f"o{rnd.randint(0, 3)}",
                    loss=rnd.choice([None, math.inf, math.nan, rnd.random()]),
                    similarity=rnd.random(),
                    exact_match=rnd.random() < 0.5,
                )
                for i in ids
            ]
            snapshots.append(Snapshot(training_step=step, examples=rows))
        history = RunHistory.from_snapshots(snapshots)
        ids, texts, steps = reference(snapshots)
        assert history.example_ids == ids
        assert [f"{a}|{b}" for a, b in zip(history.inputs, history.expected, strict=True)] == [texts[i] for i in ids]
        assert history.steps == sorted(steps)
        for step, column in steps.items():
            col = history.columns[step]
            for j, example_id in enumerate(ids):
                got = (col.value("loss", j), col.value("similarity", j), col.value("exact", j), col.output(j))
                want = column.get(example_id, (math.nan, math.nan, math.nan, None))
                assert got[3] == want[3]
                np.testing.assert_array_equal(np.array(got[:3]), np.array(want[:3]))


def test_bulk_texts_once_gives_the_same_history() -> None:
    snapshots = [
        Snapshot(
            training_step=s,
            examples=[ExampleResult(example_id=f"e{i}", input=f"in{i}@{s}", expected_output=f"{s}") for i in range(5)],
        )
        for s in (0, 10, 20)
    ]
    normal = RunHistory.from_snapshots(snapshots)
    bulk = RunHistory()
    for snapshot in snapshots:
        bulk.add(snapshot, texts=False)
    bulk.set_texts(snapshots[-1])
    assert (bulk.inputs, bulk.expected) == (normal.inputs, normal.expected)
    assert bulk.example_ids == normal.example_ids
