"""Bench: insights on 10,000 examples x 500 snapshots, and exporting 490,000 rows in each format.

Run: ``python bench/insights.py [--examples N] [--snapshots K] [--repeat R]``. Prints, all measured in
this run, best of R (the machine is shared: the best is the least disturbed):

* a full insight pass (``InsightEngine().update`` on a cold engine), target <= 300 ms; beside it, the
  ``compute_dynamics`` the run service does anyway on the same history (its baseline);
* the incremental pass after one new snapshot (the engine has seen the others), target <= 20 ms: this
  runs in the run service's thread, never on the UI thread;
* the long table of 490,000 rows (10,000 examples x 49 snapshots) written as CSV, JSONL and Parquet,
  and the round-1 CSV writer (taken from git, commit ``ROUND1``) as the baseline (it wrote 57,000 rows/s).

The run is synthetic but shaped like a real one: each example is learned at its own step (some never,
some known at step 0), 1% of answers flip per snapshot, the hard ones carry a metadata tag and get
answers that share one wrong output, outputs are short strings shared between snapshots as the
history shares them.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout, not installed

from evotui.analysis.dynamics import compute_dynamics  # noqa: E402
from evotui.analysis.export import export_run  # noqa: E402
from evotui.analysis.history import RunHistory  # noqa: E402
from evotui.analysis.insights import InsightEngine  # noqa: E402
from tracker.schema import ExampleResult, Snapshot, Summary  # noqa: E402

ROUND1 = "fa3cf28"  # the layout commit: export.py as round 1 left it


def synthetic_snapshots(n: int, k: int, seed: int = 0) -> list[Snapshot]:
    rng = np.random.default_rng(seed)
    steps = np.arange(k, dtype=np.int64) * 10
    learn_at = rng.integers(1, k * 2, size=n)  # about half learned within the run
    learn_at[rng.random(n) < 0.1] = 0
    hard = rng.random(n) < 0.15
    learn_at[hard] = k * 10  # never
    flips = rng.random((n, k)) < 0.01
    right = (np.arange(k)[None, :] >= learn_at[:, None]) ^ flips
    ids = [f"ex_{i:05d}" for i in range(n)]
    answers = [str(i) for i in range(n)]
    wrong = [f"{i % 97}?" for i in range(n)]
    inputs = [f"What is {i} + {i % 13}?" for i in range(n)]
    meta_hard, meta_easy = {"tag": "hard", "finish": "eos"}, {"tag": "plain", "finish": "eos"}
    snapshots = []
    for c in range(k):
        col = right[:, c].tolist()
        rows = [
            ExampleResult(
                example_id=ids[i],
                input=inputs[i],
                expected_output=answers[i],
                model_output=answers[i] if col[i] else wrong[i],
                loss=0.1 if col[i] else 2.0,
                similarity=1.0 if col[i] else 0.3,
                exact_match=col[i],
                metadata=meta_hard if hard[i] else meta_easy,
            )
            for i in range(n)
        ]
        snapshots.append(Snapshot(training_step=int(steps[c]), examples=rows, summary=Summary(), learning_rate=1e-3))
    return snapshots


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def round1_export_module() -> object | None:
    """evotui/analysis/export.py as of ROUND1, loaded as a module (None outside a git checkout)."""
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{ROUND1}:evotui/analysis/export.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(source)
    spec = importlib.util.spec_from_file_location("export_round1", fh.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--snapshots", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, k, repeat = args.examples, args.snapshots, args.repeat
    print(f"insights bench: {n:,} examples x {k:,} snapshots, best of {repeat} (shared machine: noisy)")
    t0 = time.perf_counter()
    snapshots = synthetic_snapshots(n, k)
    history = RunHistory()
    for snapshot in snapshots[:-1]:
        history.add(snapshot)
    print(f"  (setup: {k - 1} snapshots built and added in {time.perf_counter() - t0:.1f} s)")

    history.add(snapshots[-1])
    dyn = compute_dynamics(history)
    dynamics_time = best_of(
        lambda: (setattr(history, "version", history.version + 1), compute_dynamics(history)), repeat
    )
    print(
        f"  baseline: compute_dynamics, matrices rebuilt (per snapshot, in the service): {dynamics_time * 1e3:7.1f} ms"
    )

    found: tuple = ()

    def full() -> None:
        nonlocal found
        found = InsightEngine().update(history, dyn)

    full_time = best_of(full, repeat)
    print(f"  insights, full pass on a cold engine: {full_time * 1e3:7.1f} ms   target <= 300 ms")
    print(f"    found: {', '.join(f'{x.kind.value}@{x.step}' for x in found) or 'none'}")

    # Incremental: the engine has seen snapshots 0..K-2; the last one arrives (a new object each time).
    engine = InsightEngine()
    history.remove_step(snapshots[-1].training_step)
    engine.update(history, compute_dynamics(history))
    times = []
    for _ in range(max(repeat, 5)):
        history.add(snapshots[-1])  # a new StepColumn object: the engine recomputes that snapshot's part
        dyn_now = compute_dynamics(history)
        t0 = time.perf_counter()
        engine.update(history, dyn_now)
        times.append(time.perf_counter() - t0)
    print(
        f"  insights, incremental after one new snapshot (service thread): best {min(times) * 1e3:6.1f} ms, "
        f"median {float(np.median(times)) * 1e3:6.1f} ms   target <= 20 ms"
    )

    # Export: 490,000 rows = n examples x 49 snapshots.
    m = min(k, max(1, 490_000 // n))
    small = RunHistory()
    for snapshot in snapshots[-m:]:
        small.add(snapshot)
    small_dyn = compute_dynamics(small)
    old = round1_export_module()
    total = sum(len(s.examples) for s in snapshots[-m:])
    print(f"  export of the long table, {total:,} rows ({n:,} examples x {m} snapshots):")
    with tempfile.TemporaryDirectory() as tmp:
        if old is not None:
            target = Path(tmp) / "round1.csv"
            seconds = best_of(lambda: old.export_run(target, small, small_dyn), 1)  # type: ignore[attr-defined]
            print(
                f"    round-1 CSV writer (baseline):  {seconds:6.2f} s  {total / seconds:10,.0f} rows/s  "
                f"{target.stat().st_size / 1e6:6.1f} MB (no input, expected_output columns)"
            )
        for suffix in ("csv", "jsonl", "parquet"):
            target = Path(tmp) / f"long.{suffix}"
            rows = 0

            def write(target: Path = target) -> None:
                nonlocal rows
                rows = export_run(target, small, small_dyn)

            seconds = best_of(write, repeat)
            print(
                f"    {suffix:7}                         {seconds:6.2f} s  {rows / seconds:10,.0f} rows/s  "
                f"{target.stat().st_size / 1e6:6.1f} MB"
            )


if __name__ == "__main__":
    main()
