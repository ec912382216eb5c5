"""Bench: what the detail pane costs the UI thread when the cursor stops on an example.

Run: ``python bench/detail.py [--examples 2000] [--snapshots 500] [--keys 30] [--size 120x40]``.

A run whose wrong answers change at every snapshot (long prediction histories, up to one line per
snapshot) is opened in the real app under Pilot. The cursor moves down one example at a time; after
each key the bench waits until the detail pane shows the new example, then a quiet moment. All along,
a heartbeat task on the UI thread's event loop wakes every 2 ms and records how late it woke: the
longest lateness around a key is the longest stretch the UI thread could not answer a key.

Printed, all measured in this run:
* floor: the heartbeat's lateness while the app sits idle on the loaded run (no key, no update);
* floor: the same keys with the pane hidden (``z``, the table alone): what the keys cost without it;
* per key: the heartbeat's longest lateness from the key until the pane is drawn, and the time from
  the key until the pane shows the example (that includes the 60 ms quiet time the pane waits for).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout, not installed

from tracker.synthetic import write_synthetic_run  # noqa: E402

DATA = Path("/tmp/evotui-bench")
BEAT = 0.002


def ensure_run(n: int, k: int) -> Path:
    directory = DATA / f"detail-{n}x{k}"
    done = directory.with_suffix(".done")
    if not done.exists():
        write_synthetic_run(directory, n, k, fmt="msgpack", seed=7)
        done.touch()
    return directory


def stats(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return (
        f"n={len(values):4d}  median {statistics.median(values) * 1e3:7.1f} ms  p95 {p95 * 1e3:7.1f} ms"
        f"  worst {values[-1] * 1e3:7.1f} ms"
    )


async def bench(run_dir: Path, keys: int, size: tuple[int, int]) -> None:
    from evotui.watch.app import make_app
    from evotui.watch.screens.main import MainScreen
    from evotui.watch.widgets.detail import ExampleDetail, history_text

    beats: list[tuple[float, float]] = []  # (woke at, late by)

    async def heartbeat() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(BEAT)
            now = time.perf_counter()
            beats.append((now, now - last - BEAT))
            last = now

    def worst_since(start: float) -> float:
        return max((late for at, late in beats if at >= start), default=0.0)

    app = make_app(run_dir)
    async with app.run_test(size=size) as pilot:
        started = time.perf_counter()
        while not (isinstance(app.screen, MainScreen) and app.screen.loaded):
            await asyncio.sleep(0.05)
        screen = app.screen
        detail = screen.query_one(ExampleDetail)
        while detail.shown is None or detail.shown[2] != screen.selected:
            await asyncio.sleep(0.01)
        print(f"loaded in {time.perf_counter() - started:.1f} s")
        beating = asyncio.create_task(heartbeat())
        await asyncio.sleep(1.0)
        idle_from = time.perf_counter()
        await asyncio.sleep(2.0)
        idle = [late for at, late in beats if at >= idle_from]
        examples: list[int] = []

        async def keys_in_turn(pane_shown: bool) -> tuple[list[float], list[float]]:
            lateness: list[float] = []
            to_pane: list[float] = []
            for _ in range(keys):
                pressed = time.perf_counter()
                await pilot.press("down")
                while detail.shown is None or detail.shown[2] != screen.selected:
                    await asyncio.sleep(0.001)
                shown = time.perf_counter()
                await asyncio.sleep(0.1)  # the paint after it, and anything it set off
                lateness.append(worst_since(pressed))
                to_pane.append(shown - pressed)
                if pane_shown and screen.selected is not None:
                    examples.append(screen.selected)
                await asyncio.sleep(0.2)
            return lateness, to_pane

        await pilot.press("z")  # the table alone: the keys' cost without the pane
        hidden, _ = await keys_in_turn(False)
        await pilot.press("z")
        await asyncio.sleep(0.5)
        lateness, to_pane = await keys_in_turn(True)
        beating.cancel()
        history = screen.state.history
        lines = [history_text(history, i).plain.count("\n") + 1 for i in examples]
    print(f"detail pane, {keys} examples in turn (prediction histories of {min(lines)}-{max(lines)} lines)")
    print(f"  floor: UI-thread lateness, idle  {stats(idle)}")
    print(f"  floor: the same keys, pane hidden {stats(hidden)}")
    print(f"  UI-thread lateness around a key  {stats(lateness)}")
    print(f"  key -> the pane shows it         {stats(to_pane)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--snapshots", type=int, default=500)
    parser.add_argument("--keys", type=int, default=30)
    parser.add_argument("--size", default="120x40")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    run_dir = ensure_run(args.examples, args.snapshots)
    print(f"evotui watch, detail pane: {args.examples:,} examples x {args.snapshots} snapshots, {width}x{height}")
    asyncio.run(bench(run_dir, args.keys, (width, height)))


if __name__ == "__main__":
    main()
