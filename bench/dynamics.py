"""Bench: training dynamics for 10,000 examples x 500 snapshots (target: at most 1 s).

Run: ``python bench/dynamics.py [--examples N] [--snapshots K]``. Prints, all measured in this run:
the vectorised core on plain arrays, ``compute_dynamics`` on a ``RunHistory`` (matrices rebuilt, as
after a new snapshot, then cached), as of a middle step (step travel), the baseline: a plain
per-example Python loop over three of the definitions, timed on a slice and scaled up; and the
export of a long table (10,000 examples x 50 snapshots) as CSV and JSONL.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, not installed

from evotui.analysis.dynamics import compute_dynamics, dynamics_from_arrays
from evotui.analysis.export import export_run
from evotui.analysis.history import RunHistory
from tracker.schema import ExampleResult, Snapshot, Summary


def synthetic_run(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each example has a learning step (some at 0, some never) and 0.5% flips, so every status occurs;
    ~2% gaps."""
    rng = np.random.default_rng(seed)
    steps = np.arange(k, dtype=np.int64) * 10
    learn_at = rng.integers(0, k * 12, size=n)
    learn_at[rng.random(n) < 0.2] = 0
    noise = rng.random((n, k))
    exact = ((steps[None, :] >= learn_at[:, None]) ^ (noise < 0.005)).astype(np.float64)
    loss = np.where(exact == 1.0, rng.random((n, k)) * 0.3, 1.0 + rng.random((n, k)) * 2.0)
    gaps = rng.random((n, k)) < 0.02
    exact[gaps] = np.nan
    loss[gaps] = np.nan
    return steps, exact, loss


def python_loop(steps: np.ndarray, exact: np.ndarray) -> list[tuple[int, int, int]]:
    """The baseline: forget count, first learned and learned step, one example at a time."""
    out = []
    for row in exact.tolist():
        prev = None
        forgets = 0
        first = -1
        learned = -1
        for step, c in zip(steps.tolist(), row, strict=True):
            if math.isnan(c):
                continue
            if c == 1.0:
                if first < 0:
                    first = step
                if learned < 0:
                    learned = step
            else:
                learned = -1
                if prev == 1.0:
                    forgets += 1
            prev = c
        out.append((forgets, first, learned))
    return out


def history_from_arrays(steps: np.ndarray, exact: np.ndarray, loss: np.ndarray) -> RunHistory:
    history = RunHistory()
    ids = [f"ex_{i:05d}" for i in range(exact.shape[0])]
    for k, step in enumerate(steps.tolist()):
        rows = [
            ExampleResult(
                example_id=ids[i],
                model_output="",
                loss=float(loss[i, k]),
                exact_match=bool(exact[i, k] == 1.0),
            )
            for i in np.flatnonzero(~np.isnan(exact[:, k])).tolist()
        ]
        history.add(Snapshot(training_step=step, examples=rows, summary=Summary()))
    return history


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--snapshots", type=int, default=500)
    args = parser.parse_args()
    n, k = args.examples, args.snapshots
    steps, exact, loss = synthetic_run(n, k)
    print(f"dynamics bench: {n:,} examples x {k:,} snapshots ({n * k:,} cells), numpy {np.__version__}")

    core = best_of(lambda: dynamics_from_arrays(steps, exact, loss))
    print(f"  dynamics_from_arrays (vectorised core), best of 3: {core * 1000:8.1f} ms   target <= 1000 ms")

    slice_n = max(1, n // 50)
    loop = best_of(lambda: python_loop(steps, exact[:slice_n]), repeat=1) * (n / slice_n)
    print(f"  baseline: per-example Python loop (3 of the definitions), scaled from {slice_n:,}: {loop * 1000:8.1f} ms")

    t0 = time.perf_counter()
    history = history_from_arrays(steps, exact, loss)
    print(f"  (setup: RunHistory of {k} snapshots built in {time.perf_counter() - t0:.1f} s)")

    def cold_run() -> None:
        history.version += 1  # what a new snapshot does: the cached matrices are rebuilt
        compute_dynamics(history)

    cold = best_of(cold_run)
    warm = best_of(lambda: compute_dynamics(history))
    dyn = compute_dynamics(history)
    print(f"  compute_dynamics(history), matrices rebuilt, best of 3: {cold * 1000:8.1f} ms")
    print(f"  compute_dynamics(history), matrices cached, best of 3:  {warm * 1000:8.1f} ms")
    mid = int(steps[k // 2])
    travel = best_of(lambda: compute_dynamics(history, until_step=mid))
    print(f"  compute_dynamics(history, until_step={mid}) (step travel), best of 3: {travel * 1000:8.1f} ms")
    print(f"  statuses {dyn.counts_by_status()}  regions {dyn.counts_by_region()}  regressions {len(dyn.regressions)}")

    # What one "[" press costs in the app: the dynamics as of the previous snapshot, then the table's
    # rows (filter + sort over every example); and what opening the data map costs before plotext.
    from evotui.analysis.table import TableQuery, table_rows
    from evotui.watch.screens.data_map import map_points

    previous = int(steps[-2])

    def travel_press() -> None:
        history.version += 1  # a fresh view: nothing cached from the previous press
        then = compute_dynamics(history, until_step=previous)
        table_rows(history, then, TableQuery(step=previous, quick="unstable", sort="loss"))

    press = best_of(travel_press)
    points = best_of(lambda: map_points(dyn, 120, 30))
    print(f"  app: one '[' press (dynamics as of step {previous} + table rows), best of 3: {press * 1000:8.1f} ms")
    print(f"  app: data map points for a 120x30 plot, best of 3: {points * 1000:8.1f} ms")

    # Export: the long table of the last 50 snapshots (a row per example per step), CSV and JSONL.
    small = history_from_arrays(steps[-50:], exact[:, -50:], loss[:, -50:])
    small_dyn = compute_dynamics(small)
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in ("csv", "jsonl"):
            target = Path(tmp) / f"long.{suffix}"
            t0 = time.perf_counter()
            rows = export_run(target, small, small_dyn)
            seconds = time.perf_counter() - t0
            size = target.stat().st_size / 1e6
            print(
                f"  export {suffix:5}: {rows:,} rows, {size:.0f} MB in {seconds:.2f} s ({rows / seconds:,.0f} rows/s)"
            )


if __name__ == "__main__":
    main()
