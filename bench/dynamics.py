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


async def press_in_app(run_dir: Path, presses: int) -> None:
    """'[' in the real app (headless, in this process): key to its screen update, and to the table filled."""
    import asyncio
    import statistics

    from textual import events

    from evotui.watch.app import make_app

    app = make_app(run_dir)
    updates = 0
    original = app._display

    def display(screen, renderable):  # type: ignore[no-untyped-def]
        nonlocal updates
        if renderable is not None:
            updates += 1
        return original(screen, renderable)

    app._display = display  # type: ignore[method-assign]
    keys, fills = [], []
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        started = time.perf_counter()
        while not (getattr(screen, "loaded", False) and screen.state.dynamics is not None):  # type: ignore[attr-defined]
            await asyncio.sleep(0.05)
            screen = app.screen
        await pilot.pause()
        n, k = screen.state.history.n_examples, screen.state.history.n_steps  # type: ignore[attr-defined]
        print(f"\n  the app, {n:,} examples x {k} snapshots (loaded in {time.perf_counter() - started:.1f} s):")
        for _ in range(presses):
            before_step = screen.query_state.step  # type: ignore[attr-defined]
            sent = time.perf_counter()
            app._driver.send_message(events.Key("left_square_bracket", "["))  # type: ignore[union-attr]
            while screen.query_state.step == before_step:  # type: ignore[attr-defined]
                await asyncio.sleep(0.0005)
            seen = updates
            while updates == seen:
                await asyncio.sleep(0.0005)
            keys.append(time.perf_counter() - sent)
            target = screen.query_state.step  # type: ignore[attr-defined]
            while screen.rows is None or screen.rows.columns.step != target:  # type: ignore[attr-defined]
                await asyncio.sleep(0.001)
            seen = updates
            while updates == seen:
                await asyncio.sleep(0.0005)
            fills.append(time.perf_counter() - sent)
            await asyncio.sleep(0.2)  # a reader's pace
    print(
        f"  '[' key to its screen update (the 'as of step' note): median {statistics.median(keys) * 1000:.1f} ms,"
        f" worst {max(keys) * 1000:.1f} ms   target <= 100 ms"
    )
    print(
        f"  '[' key to the travelled table on screen: median {statistics.median(fills) * 1000:.1f} ms,"
        f" worst {max(fills) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--snapshots", type=int, default=500)
    parser.add_argument(
        "--app",
        type=Path,
        default=None,
        help="also press '[' in the real app on this run directory (e.g. bench/viewer.py's 500 x 10,000 run)",
    )
    parser.add_argument("--presses", type=int, default=8)
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

    # What one "[" press computes: the dynamics as of the previous snapshot, then the table's rows
    # (filter + sort over every example). From scratch (what the UI thread did before: the baseline)
    # and from the nearest checkpoint (what the travel thread does now); and the data map's points.
    from evotui.analysis.dynamics import DynamicsBuilder
    from evotui.analysis.table import TableQuery, table_rows
    from evotui.watch.screens.data_map import map_points
    from evotui.watch.service import CHECKPOINT_EVERY

    previous = int(steps[-2])
    builder, checkpoints = DynamicsBuilder(), []
    for j, step in enumerate(history.steps):
        column = history.columns[step]
        builder.append(step, column.exact, column.loss, history.example_ids)
        if (j + 1) % CHECKPOINT_EVERY == 0:
            checkpoints.append((j + 1, builder.copy()))

    def travel(with_checkpoints: bool) -> None:
        then = compute_dynamics(history, until_step=previous, checkpoints=checkpoints if with_checkpoints else ())
        table_rows(history, then, TableQuery(step=previous, quick="unstable", sort="loss"))

    scratch = best_of(lambda: travel(False))
    replay = best_of(lambda: travel(True))
    points = best_of(lambda: map_points(dyn, 120, 30))
    print(f"  '[' work, dynamics as of step {previous} + table rows, from scratch (baseline): {scratch * 1000:8.1f} ms")
    print(f"  '[' work, from the nearest checkpoint (every {CHECKPOINT_EVERY}), in a thread: {replay * 1000:8.1f} ms")
    print(f"  app: data map points for a 120x30 plot, best of 3: {points * 1000:8.1f} ms")

    if args.app is not None:
        import asyncio

        asyncio.run(press_in_app(args.app, args.presses))

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
