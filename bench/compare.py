"""Bench of comparing runs (issue 13), each figure next to a baseline measured in the same run.

    python bench/compare.py            # two runs of 10,000 examples x 500 snapshots (MessagePack)
    python bench/compare.py --quick    # 1,000 x 50, a smoke test of the script itself

Runs are synthetic (tracker.synthetic, written with the tracker's store), the same questions in both
runs learned differently (run B takes another seed's dynamics), cached in --data (default
/tmp/evotui-bench). The app runs headless (Textual's headless driver: the same composition and
rendering, no terminal writes).

Figures:
- first complete compare screen: process start to the compare screen showing the comparison of A
  and B (`evotui watch A B`), against the baseline = process start to the main screen showing run A
  alone (`evotui watch A`), same bench, same run A; target at most 2.2x. Child processes, so start-up
  and imports count; best of --repeat for each (the machine is shared: noise only ever adds time);
- a key on the compare table (cursor down; next quick filter; a filter keystroke) to the table
  painted again, against the same keys on the main screen's table of run A alone; target 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracker.store import SnapshotStore  # noqa: E402
from tracker.synthetic import SyntheticRun  # noqa: E402

SIZE = (120, 36)
RATIO_TARGET = 2.2
KEY_TARGET = 0.100


# -- data ------------------------------------------------------------------------------------------
def ensure_pair(data: Path, n_examples: int, n_steps: int) -> tuple[Path, Path]:
    """Runs A and B of the same ``n_examples`` questions, ``n_steps`` snapshots each (cached)."""
    dirs = []
    for name, dynamics_seed in (("a", 0), ("b", 1)):
        run_dir = data / f"compare-{name}-{n_examples}x{n_steps}"
        done = data / f"{run_dir.name}.done"
        dirs.append(run_dir)
        if done.exists():
            continue
        shutil.rmtree(run_dir, ignore_errors=True)
        started = time.perf_counter()
        print(f"  writing {run_dir.name} (MessagePack)...", flush=True)
        run = SyntheticRun(n_examples, n_steps, seed=0, step_every=10, run_name=run_dir.name)
        if dynamics_seed:
            other = SyntheticRun(n_examples, n_steps, seed=dynamics_seed, step_every=10)
            run.correct, run.loss, run.kind, run.offsets, run.junk = (
                other.correct,
                other.loss,
                other.kind,
                other.offsets,
                other.junk,
            )
        store = SnapshotStore(run_dir, fmt="msgpack", fsync=False)
        store.ensure()
        for k in range(n_steps):
            store.write(run.snapshot(k))
        store.write_manifest(run.manifest(n_steps - 1, "finished"))
        done.write_text("ok")
        print(f"  written in {time.perf_counter() - started:.1f} s", flush=True)
    return dirs[0], dirs[1]


# -- child processes: first complete screen --------------------------------------------------------
def child(mode: str, targets: list[str]) -> None:
    """Runs in a child process: prints READY at the first complete screen."""
    from evotui.watch.app import make_app

    done = asyncio.Event()
    if mode == "one":
        from evotui.watch.screens.main import MainScreen

        app = make_app(targets[0])
        original = MainScreen.on_run_updated

        def updated(self: MainScreen, message) -> None:  # type: ignore[no-untyped-def]
            original(self, message)
            if self.loaded:
                done.set()

        MainScreen.on_run_updated = updated  # type: ignore[method-assign]
    else:
        from evotui.watch.screens.compare_runs import CompareRunsScreen

        app = make_app(targets[0], compare=targets[1:])
        original_ready = CompareRunsScreen.on_comparison_ready

        def ready(self: CompareRunsScreen, message) -> None:  # type: ignore[no-untyped-def]
            original_ready(self, message)
            if self.loaded:
                done.set()

        # Woken by the app itself rather than polling (a polling thread takes the GIL from the readers).
        CompareRunsScreen.on_comparison_ready = ready  # type: ignore[method-assign]

    async def pilot_run(pilot) -> None:  # type: ignore[no-untyped-def]
        await done.wait()
        await pilot.pause()  # the refresh that paints it
        print("READY", flush=True)
        app.exit()

    app.run(headless=True, size=SIZE, auto_pilot=pilot_run)


def time_child(mode: str, targets: list[str]) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--child", mode, *targets],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("READY"):
            seconds = time.perf_counter() - started
            proc.wait(timeout=300)
            return seconds
    raise RuntimeError(f"child {mode} ended without READY (exit {proc.wait()})")


# -- in-process: keys on the table -----------------------------------------------------------------
KEYS = ["down", "down", "f", "f", "down", "slash", "1", "2", "escape", "down"]


async def key_times(targets: list[str], keys: list[str]) -> list[tuple[str, float]]:
    """(key, seconds from the press to the table's first line painted again) for ``keys``."""
    from evotui.watch.app import make_app
    from evotui.watch.screens.compare_runs import CompareRunsScreen
    from evotui.watch.screens.main import MainScreen
    from evotui.watch.widgets.example_table import ExampleTable

    compare = len(targets) > 1
    app = make_app(targets[0], compare=targets[1:])
    out: list[tuple[str, float]] = []
    async with app.run_test(size=SIZE) as pilot:
        screen_type = CompareRunsScreen if compare else MainScreen
        while not (isinstance(app.screen, screen_type) and app.screen.loaded):
            await asyncio.sleep(0.05)
        await pilot.pause()
        await asyncio.sleep(0.5)
        table = app.screen.query_one(ExampleTable)  # the compare table is one
        for key in keys:
            if key == "escape" and app.screen.focused is table:
                continue
            started = time.perf_counter()
            await pilot.press(key)
            if key in ("slash", "escape"):  # focus moves; the table need not repaint
                await pilot.pause()
                await asyncio.sleep(0.2)
                continue
            for _ in range(5000):  # bounded: a key that paints nothing fails the bench, not hangs it
                if table.painted_at >= started:
                    break
                await asyncio.sleep(0.001)
            out.append((key, table.painted_at - started))
            await asyncio.sleep(0.2)  # a typist's pace: each key lands on a quiet UI
    return out


def ms(seconds: float) -> str:
    return f"{seconds * 1000:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/evotui-bench"))
    parser.add_argument("--quick", action="store_true", help="1,000 x 50 instead of 10,000 x 500")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per figure (best of)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1:])
        return
    n_examples, n_steps = (1_000, 50) if args.quick else (10_000, 500)
    args.data.mkdir(parents=True, exist_ok=True)
    print(f"# evotui compare bench: two runs of {n_examples:,} examples x {n_steps} snapshots")
    print("(a shared 2-core machine: best of N fresh processes; medians beside them)")
    a, b = ensure_pair(args.data, n_examples, n_steps)

    print("\n## First complete screen (process start to the data on screen)")
    one: list[float] = []
    both: list[float] = []
    for _ in range(args.repeat):  # interleaved: a slow spell of the machine hits both alike
        one.append(time_child("one", [str(a)]))
        both.append(time_child("compare", [str(a), str(b)]))
    ratio = min(both) / min(one)
    print(f"  baseline, run A alone (evotui watch A):   best {min(one):6.2f} s (median {statistics.median(one):.2f})")
    print(f"  compare A and B (evotui watch A B):       best {min(both):6.2f} s (median {statistics.median(both):.2f})")
    verdict = "ok" if ratio <= RATIO_TARGET else "OVER"
    print(f"  ratio of the bests: {ratio:.2f}x (target <= {RATIO_TARGET}x: {verdict})")

    print("\n## A key on the table to the table painted again")
    compare_keys = asyncio.run(key_times([str(a), str(b)], KEYS))
    single_keys = asyncio.run(key_times([str(a)], KEYS))
    for label, times in (("compare table (A and B)", compare_keys), ("baseline: main table, run A", single_keys)):
        values = [t for _, t in times]
        worst_key, worst = max(times, key=lambda kt: kt[1])
        print(
            f"  {label:30s} median {ms(statistics.median(values))}, max {ms(worst)} ({worst_key}); "
            + " ".join(f"{k}:{t * 1000:.0f}" for k, t in times)
        )
    worst_compare = max(t for _, t in compare_keys)
    print(f"  target <= {KEY_TARGET * 1000:.0f} ms per key: {'ok' if worst_compare <= KEY_TARGET else 'OVER'}")


if __name__ == "__main__":
    main()
