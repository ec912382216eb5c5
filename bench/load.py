"""Bench: `evotui watch` under load: 10,000 examples gaining snapshots while the app filters and scrolls.

Run: ``python bench/load.py [--examples 10000] [--snapshots 500] [--rate 4] [--size 120x40]``.

A writer process appends snapshots (atomic writes, like the tracker) at ``--rate`` per second (time
compressed: a real run writes one a second at most), while the real app runs under Textual's Pilot in
this process and a key script filters, sorts and scrolls without pause. For every key it measures the
key-to-screen latency: from the key event entering the app (as a terminal's would, through the
driver) to the first screen update after the app's state shows the key's effect (cursor, filter,
sort, focus). That includes any time the UI thread was busy taking in new snapshots. (Pilot's own
``press``/``pause`` wait until the whole process is idle, so with threads decoding in the background
they measure the threads, not the keys: they are used only for the baseline column "pilot".)

Printed, all measured in this run:
* baseline: the same key script on the same app before any load (first snapshots) and after the
  writer stopped (all snapshots held, nothing arriving);
* under load: latency per window of snapshots held (median, p95, worst) and the worst overall;
* UI-thread time per update: how long taking in a new view of the run kept the UI thread from the
  keys (the app's own ``MainScreen.timings``: the ``RunUpdated`` handler, redraws of what changed);
* memory: this process's RSS as the snapshots arrive, and after the run (bounded = it grows with the
  data held, and not with keys pressed).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout, not installed

from evotui.watch.app import make_app  # noqa: E402

KEY_SCRIPT = (
    ["down"] * 6
    + ["pagedown", "pagedown", "end", "up", "home"]
    + ["slash", "1", "2", "enter", "down", "down", "escape"]
    + ["f", "down", "f", "f", "f"]
    + ["s", "S", "s", "down"]
)

WRITER = """
import sys, time
from tracker.store import SnapshotStore
from tracker.synthetic import SyntheticRun
directory, n, k, rate, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
run = SyntheticRun(n, k, seed=3, step_every=10, seconds_per_step=0.1)
store = SnapshotStore(directory, fsync=False)
store.ensure()
t0 = time.monotonic()
for i in range(start, k):
    store.write(run.snapshot(i))
    if i % 10 == 0 or i == k - 1:
        store.write_manifest(run.manifest(i, "running" if i < k - 1 else "finished"))
    print(i + 1, flush=True)
    delay = t0 + (i - start + 1) / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
"""


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start_writer(directory: Path, n: int, k: int, rate: float, start: int = 0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(directory), str(n), str(k), str(rate), str(start)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
    )


KEY_CHARS = {"slash": "/", "enter": "\r", "escape": "\x1b"}
NO_CHANGE_TIMEOUT = 30.0


class ScreenUpdates:
    """Counts the app's screen updates (``App._display``, called also when headless)."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.count = 0
        original = app._display

        def display(screen, renderable):  # type: ignore[no-untyped-def]
            if renderable is not None:
                self.count += 1
            return original(screen, renderable)

        app._display = display


def ui_state(app) -> tuple[object, ...]:  # type: ignore[no-untyped-def]
    screen = app.screen
    table = screen.query_one("#examples")
    query = screen.query_state
    field = screen.query_one("#filter-input")
    return (
        table.cursor,
        table.selected_index,
        query.text,
        query.quick,
        query.sort,
        query.reverse,
        app.focused,
        field.value,
    )


# Keys sent that could have no effect (a cursor key at the table's edge): not timed. Under load the next
# live update changes the state anyway, and its arrival would be timed as the key's effect (the script's
# "down" after the first quick filter lands on the last row: 200-600 ms "latencies" that were the
# wait for the next snapshot, with the key handled in 1 ms).
NO_OP_KEYS = {"sent": 0}


def cursor_key_is_a_no_op(app, key: str) -> bool:  # type: ignore[no-untyped-def]
    table = app.screen.query_one("#examples")
    if app.focused is not table or table.rows is None:
        return False
    if key in ("down", "pagedown", "end"):
        return table.cursor >= len(table.rows) - 1
    if key in ("up", "pageup", "home"):
        return table.cursor <= 0
    return False


async def key_to_screen(app, updates: ScreenUpdates, key: str) -> float | None:  # type: ignore[no-untyped-def]
    """Seconds from sending ``key`` to the first screen update showing its effect; None: no effect seen,
    or a key that cannot have one (sent all the same, so that the script goes on as it would)."""
    from textual import events

    before = ui_state(app)
    no_op = cursor_key_is_a_no_op(app, key)
    started = time.perf_counter()
    app._driver.send_message(events.Key(key, KEY_CHARS.get(key, key if len(key) == 1 else None)))
    if no_op:
        NO_OP_KEYS["sent"] += 1
        await asyncio.sleep(0.001)
        return None
    while ui_state(app) == before:
        if time.perf_counter() - started > NO_CHANGE_TIMEOUT:
            return None
        await asyncio.sleep(0.001)
    seen = updates.count
    while updates.count == seen:
        await asyncio.sleep(0.001)
    return time.perf_counter() - started


async def run_script(app, updates: ScreenUpdates, rounds: int = 1) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(rounds):
        for key in KEY_SCRIPT:
            latency = await key_to_screen(app, updates, key)
            if latency is not None:
                out.append(latency)
    return out


async def pilot_script(pilot) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for key in KEY_SCRIPT:
        started = time.perf_counter()
        await pilot.press(key)
        await pilot.pause()
        out.append(time.perf_counter() - started)
    return out


def stats(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"n={len(values):4d}  median {statistics.median(values) * 1000:7.1f} ms  "
        f"p95 {p95 * 1000:7.1f} ms  worst {ordered[-1] * 1000:7.1f} ms"
    )


async def bench(n: int, k: int, rate: float, size: tuple[int, int], window: int) -> None:
    with tempfile.TemporaryDirectory(prefix="evotui-load-") as tmp:
        directory = Path(tmp) / "run"
        print(f"evotui watch under load: {n:,} examples, {k} snapshots at {rate:g}/s, terminal {size[0]}x{size[1]}")
        rss_start = rss_mb()
        # Two snapshots first, for the baseline before the load.
        seed_writer = start_writer(directory, n, 2, 100.0)
        seed_writer.wait()
        app = make_app(directory, interval=0.5)
        async with app.run_test(size=size) as pilot:
            while not getattr(app.screen, "loaded", False):
                await pilot.pause(0.05)
            screen = app.screen
            history = screen.state.history  # type: ignore[attr-defined]
            screen.timings = deque(maxlen=100_000)  # type: ignore[attr-defined]  # keep every update
            updates = ScreenUpdates(app)
            baseline_start = await run_script(app, updates)
            pilot_start = await pilot_script(pilot)
            rss_rows: list[tuple[float, int, float]] = [(0.0, history.n_steps, rss_mb())]
            latencies: dict[int, list[float]] = {}
            started = time.monotonic()
            writer = start_writer(directory, n, k, rate, start=2)
            next_sample = 0.0
            while True:
                held = screen.state.history.n_steps  # type: ignore[attr-defined]
                for key in KEY_SCRIPT:
                    latency = await key_to_screen(app, updates, key)
                    if latency is not None:
                        latencies.setdefault(held // window, []).append(latency)
                elapsed = time.monotonic() - started
                if elapsed >= next_sample:
                    rss_rows.append((elapsed, screen.state.history.n_steps, rss_mb()))  # type: ignore[attr-defined]
                    next_sample = elapsed + 10.0
                if writer.poll() is not None and screen.state.history.n_steps >= k:  # type: ignore[attr-defined]
                    break
                if elapsed > 4 * k / rate + 120:
                    print("gave up waiting for the app to take in every snapshot")
                    break
            ingest_seconds = time.monotonic() - started
            rss_rows.append((ingest_seconds, screen.state.history.n_steps, rss_mb()))  # type: ignore[attr-defined]
            baseline_end = await run_script(app, updates, rounds=3)
            pilot_end = await pilot_script(pilot)
            rss_after_keys = rss_mb()
            apply_rows = list(screen.timings)  # type: ignore[attr-defined]
        writer.wait()

    under_load = [v for values in latencies.values() for v in values]
    print(f"\nall {k} snapshots taken in {ingest_seconds:.1f} s of wall time (written in {(k - 2) / rate:.1f} s)")
    print("\nkey-to-screen latency (key event -> first screen update showing its effect),")
    print(f"same script of {len(KEY_SCRIPT)} keys (down, pagedown, end, home, filter typing, quick filters, sort)")
    print(f"  baseline, 2 snapshots, no load      {stats(baseline_start)}")
    print(f"    (pilot press+pause, same keys:    {stats(pilot_start)})")
    for bucket in sorted(latencies):
        lo, hi = bucket * window, (bucket + 1) * window - 1
        print(f"  under load, {lo:3d}-{hi:3d} snapshots held {stats(latencies[bucket])}")
    print(f"  baseline, {k} snapshots, no load    {stats(baseline_end)}")
    print(f"    (pilot press+pause, same keys:    {stats(pilot_end)})")
    print(f"  WORST under load: {max(under_load) * 1000:.1f} ms")
    print(f"  (not timed: {NO_OP_KEYS['sent']} cursor keys sent at the table's edge, where they change nothing)")
    print("\nUI-thread time taking in new snapshots, per update (a batch of the files found by one poll)")
    by_window: dict[int, list[float]] = {}
    derive_by_window: dict[int, list[float]] = {}
    cpu_by_window: dict[int, list[float]] = {}
    for held_now, _, _, derive_s, apply_s, thread_s in apply_rows:
        by_window.setdefault(held_now // window, []).append(apply_s)
        derive_by_window.setdefault(held_now // window, []).append(derive_s)
        cpu_by_window.setdefault(held_now // window, []).append(thread_s)
    for bucket in sorted(by_window):
        lo, hi = bucket * window, (bucket + 1) * window - 1
        print(f"  {lo:3d}-{hi:3d} snapshots held {stats(by_window[bucket])}")
    print("\nthe service thread's time per view after reading (history copy, dynamics, insights, search text),")
    print("off the UI thread: wall time (waits for the interpreter lock included)")
    for bucket in sorted(derive_by_window):
        lo, hi = bucket * window, (bucket + 1) * window - 1
        print(f"  {lo:3d}-{hi:3d} snapshots held {stats(derive_by_window[bucket])}")
    print("the service thread's CPU time per view, the whole poll (read, decode, columns, the above)")
    for bucket in sorted(cpu_by_window):
        lo, hi = bucket * window, (bucket + 1) * window - 1
        print(f"  {lo:3d}-{hi:3d} snapshots held {stats(cpu_by_window[bucket])}")
    print("\nmemory (RSS of the app's process)")
    print(f"  before the app: {rss_start:.0f} MB")
    print("  elapsed s   snapshots   RSS MB")
    for elapsed, held, rss in rss_rows:
        print(f"  {elapsed:9.1f}   {held:9d}   {rss:6.0f}")
    print(f"  after 3 more rounds of the key script ({3 * len(KEY_SCRIPT)} keys): {rss_after_keys:.0f} MB")
    grown = rss_rows[-1][2] - rss_rows[0][2]
    held = rss_rows[-1][1] - rss_rows[0][1]
    if held:
        per_example_step = grown / held / n * 1e6
        print(f"  growth per snapshot held: {grown / held:.2f} MB ({per_example_step:.0f} bytes per example-step)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--snapshots", type=int, default=500)
    parser.add_argument("--rate", type=float, default=4.0, help="snapshots written per second")
    parser.add_argument("--size", default="120x40", help="terminal size, COLSxROWS")
    parser.add_argument("--window", type=int, default=100, help="latency statistics per this many snapshots")
    args = parser.parse_args()
    cols, rows = (int(v) for v in args.size.split("x"))
    asyncio.run(bench(args.examples, args.snapshots, args.rate, (cols, rows), args.window))


if __name__ == "__main__":
    main()
