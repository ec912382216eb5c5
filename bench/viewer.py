"""Bench of `evotui watch`: every figure of issue 4, each next to a floor measured in the same run.

    python bench/viewer.py            # 200 x 1,000 (JSON) and 500 x 10,000 (MessagePack)
    python bench/viewer.py --quick    # smaller runs, for a smoke test of the script itself

Runs are synthetic (tracker.synthetic, written with the tracker's store) and cached in --data
(default /tmp/evotui-bench). The app runs headless (Textual's headless driver: the same
composition and rendering, no terminal writes), in child processes for cold start and idle CPU so
that interpreter start-up and imports are counted, in-process for the live-update and keystroke
figures (driven by Textual's Pilot).

Figures:
- cold start: process start to the first complete screen (the run's data on screen), against the
  floor = an empty Textual app's first paint (a child process too) + reading and msgspec-decoding
  the same files (no app); best of 5 for each (the machine is shared: noise only ever adds time);
- a new 1,000-example snapshot: its rename to the header showing it, at the default 0.5 s interval;
  its processing (read+decode in the tail thread, then add + dynamics + rows + widgets on the UI
  thread), at 10, 100 and 200 snapshots held;
- idle CPU with nothing changing (% of one core over 10 s) and memory (RSS) against the files' size;
- a filter keystroke to the updated table on 10,000 examples, against the same keystroke into an
  Input of an empty app.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracker.schema import decode_snapshot  # noqa: E402
from tracker.store import SnapshotStore, list_snapshot_files  # noqa: E402
from tracker.synthetic import SyntheticRun, write_synthetic_run  # noqa: E402

SIZE = (120, 36)


# -- data ------------------------------------------------------------------------------------------
def ensure_run(data: Path, name: str, n_examples: int, n_steps: int, fmt: str) -> Path:
    run_dir = data / name
    done = data / f"{name}.done"
    if done.exists():
        return run_dir
    shutil.rmtree(run_dir, ignore_errors=True)
    started = time.perf_counter()
    print(f"  writing {name}: {n_steps} snapshots x {n_examples:,} examples ({fmt})...", flush=True)
    write_synthetic_run(run_dir, n_examples, n_steps, fmt=fmt, seed=0, step_every=10)  # type: ignore[arg-type]
    done.write_text("ok")
    print(f"  written in {time.perf_counter() - started:.1f} s", flush=True)
    return run_dir


def files_size(run_dir: Path) -> int:
    return sum(f.size for f in list_snapshot_files(run_dir))


def read_and_decode(run_dir: Path) -> float:
    started = time.perf_counter()
    for f in list_snapshot_files(run_dir):
        decode_snapshot(f.path.read_bytes(), f.format)
    return time.perf_counter() - started


# -- child processes -------------------------------------------------------------------------------
def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(mode: str, target: str) -> None:
    """Runs in a child process: print READY (and RSS) at the first complete screen."""
    if mode == "empty":
        from textual.app import App, ComposeResult
        from textual.widgets import Static

        class Empty(App[None]):
            def compose(self) -> ComposeResult:
                yield Static("hello")

            def on_mount(self) -> None:
                self.call_after_refresh(self.ready)

            def ready(self) -> None:
                print(f"READY {rss_mb():.1f}", flush=True)
                self.exit()

        Empty().run(headless=True, size=SIZE)
        return

    from evotui.watch.app import make_app
    from evotui.watch.screens.main import MainScreen

    app = make_app(target)
    loaded = asyncio.Event()
    take = MainScreen._take

    def take_and_signal(self: MainScreen, previous, view) -> None:  # type: ignore[no-untyped-def]
        take(self, previous, view)
        if self.loaded:
            loaded.set()

    # Woken by the app itself rather than polling: a thread waking every few ms takes the GIL from
    # the loading thread (measured: 5 ms polling made a 500 x 10k load 2x slower).
    MainScreen._take = take_and_signal  # type: ignore[method-assign]

    async def pilot_run(pilot) -> None:  # type: ignore[no-untyped-def]
        await loaded.wait()
        await pilot.pause()  # the refresh that paints it
        print(f"READY {rss_mb():.1f}", flush=True)
        if mode == "idle":
            await asyncio.sleep(3600)
        app.exit()

    app.run(headless=True, size=SIZE, auto_pilot=pilot_run)


def spawn(mode: str, target: str = "") -> tuple[subprocess.Popen[str], float, float]:
    """(process, seconds from spawn to READY, RSS MB at READY)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--child", mode, target],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("READY"):
            return proc, time.perf_counter() - started, float(line.split()[1])
    raise RuntimeError(f"child {mode} ended without READY (exit {proc.wait()})")


REPEAT = 5


def timed_child(mode: str, target: str = "", repeat: int = REPEAT) -> tuple[list[float], float]:
    """Seconds to READY of ``repeat`` fresh processes, and their median RSS."""
    times, rss = [], []
    for _ in range(repeat):
        proc, seconds, mb = spawn(mode, target)
        proc.wait(timeout=120)
        times.append(seconds)
        rss.append(mb)
    return times, statistics.median(rss)


def best_and_median(times: list[float]) -> str:
    return f"{min(times):6.2f} s (median {statistics.median(times):.2f})"


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(target: str, seconds: float = 10.0) -> float:
    proc, _, _ = spawn("idle", target)
    time.sleep(1.0)  # let the last refreshes settle
    before = cpu_seconds(proc.pid)
    time.sleep(seconds)
    used = cpu_seconds(proc.pid) - before
    proc.terminate()
    proc.wait(timeout=30)
    return 100.0 * used / seconds


# -- in-process: live update and keystrokes --------------------------------------------------------
Update = tuple[int, float, float, float]


async def live_updates(n_examples: int, stages: tuple[int, ...], per_stage: int) -> list[Update]:
    """(snapshots held, rename-to-screen s, read+decode s, apply s) for each new snapshot."""
    from evotui.watch.app import make_app
    from evotui.watch.screens.main import MainScreen

    run = SyntheticRun(n_examples, max(stages) + per_stage + 1, seed=1, step_every=10)
    out: list[Update] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = SnapshotStore(Path(tmp) / "live", fsync=False)
        store.ensure()
        k = 0
        while k < stages[0]:
            store.write(run.snapshot(k))
            k += 1
        app = make_app(store.directory)  # the default 0.5 s interval
        async with app.run_test(size=SIZE) as pilot:
            screen = app.screen
            while not (isinstance(screen, MainScreen) and screen.loaded):
                await asyncio.sleep(0.01)
                screen = app.screen
            for stage in stages:
                while k < stage:  # fill up to the stage in bulk (not measured)
                    store.write(run.snapshot(k))
                    k += 1
                while screen.state.history.n_steps < k:
                    await asyncio.sleep(0.01)
                await pilot.pause()
                for _ in range(per_stage):
                    snapshot = run.snapshot(k)
                    await asyncio.sleep(0.25)  # land at a random phase of the poll
                    store.write(snapshot)
                    renamed = time.perf_counter()
                    k += 1
                    while screen.state.history.n_steps < k:
                        await asyncio.sleep(0.002)
                    await pilot.pause()  # the refresh that puts it on screen
                    seen = time.perf_counter()
                    assert f"{k} snapshots" in "".join(s.text for s in app.screen._compositor.render_strips()[0])
                    held, n_files, read_s, _, apply_s, _ = screen.timings[-1]
                    out.append((held, seen - renamed, read_s / max(n_files, 1), apply_s))
    return out


async def keystrokes(run_dir: Path, keys: list[str]) -> tuple[float, list[float], float, list[float]]:
    """(first keystroke s, later keystrokes s, table_rows s, keystroke to detail pane s) on ``run_dir``."""
    from evotui.analysis.table import TableQuery, table_rows
    from evotui.watch.app import make_app
    from evotui.watch.screens.main import MainScreen
    from evotui.watch.widgets.detail import ExampleDetail
    from evotui.watch.widgets.example_table import ExampleTable

    app = make_app(run_dir)
    times: list[float] = []
    detail_times: list[float] = []
    async with app.run_test(size=SIZE) as pilot:
        while not (isinstance(app.screen, MainScreen) and app.screen.loaded):
            await asyncio.sleep(0.02)
        await pilot.pause()
        await pilot.press("slash")
        screen = app.screen
        assert isinstance(screen, MainScreen)
        detail = screen.query_one(ExampleDetail)
        table = screen.query_one(ExampleTable)
        for key in keys:
            started = time.perf_counter()
            await pilot.press(key)
            # Until the table shows the rows for the new text: a repainted line, or (the table repaints only
            # the lines whose content changed) the rows applied and a screen update with no line to redraw.
            field_value = screen.query_one("#filter-input").value  # type: ignore[attr-defined]
            while table.painted_at < started:
                rows = screen.rows
                if rows is not None and rows.query.text == field_value and table.rows is rows:
                    await pilot.pause()
                    break
                await asyncio.sleep(0.001)
            times.append((table.painted_at if table.painted_at >= started else time.perf_counter()) - started)
            while detail.shown is None or detail.shown[2] != screen.selected:
                await asyncio.sleep(0.002)
            await pilot.pause()
            detail_times.append(time.perf_counter() - started)
            await asyncio.sleep(0.15)  # a typist's pace: each key lands on a quiet UI
        assert isinstance(screen, MainScreen)
        started = time.perf_counter()
        for _ in range(5):
            table_rows(screen.state.history, screen.state.dynamics, TableQuery(text="7+1"))
        rows_s = (time.perf_counter() - started) / 5
    return times[0], times[1:], rows_s, detail_times


async def keystroke_floor(keys: list[str]) -> list[float]:
    """The same keys into an Input of an otherwise empty app: key press to the Input painted again."""
    from textual.app import App, ComposeResult
    from textual.strip import Strip
    from textual.widgets import Input

    class TimedInput(Input):
        painted_at = 0.0

        def render_line(self, y: int) -> Strip:
            self.painted_at = time.perf_counter()
            return super().render_line(y)

    class OneInput(App[None]):
        def compose(self) -> ComposeResult:
            yield TimedInput()

    times = []
    app = OneInput()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        field = app.query_one(TimedInput)
        for key in keys:
            started = time.perf_counter()
            await pilot.press(key)
            while field.painted_at < started:
                await asyncio.sleep(0.001)
            times.append(field.painted_at - started)
            await asyncio.sleep(0.15)
    return times


# -- report ----------------------------------------------------------------------------------------
def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "evotui-bench")
    parser.add_argument("--quick", action="store_true", help="small runs: checks the script, not the figures")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    data: Path = args.data
    data.mkdir(parents=True, exist_ok=True)
    sizes = [("small", 1000, 200, "json"), ("large", 10_000, 500, "msgpack")]
    if args.quick:
        sizes = [("quick-small", 1000, 20, "json"), ("quick-large", 10_000, 10, "msgpack")]
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"evotui viewer bench · python {sys.version.split()[0]} · {os.cpu_count()} cores · load {load} · data {data}")
    runs = {name: ensure_run(data, name, n, k, fmt) for name, n, k, fmt in sizes}

    print(f"\n## Cold start to the first complete screen (child processes, headless {SIZE[0]}x{SIZE[1]})")
    print(f"  best of {REPEAT} (other processes share these 2 cores: noise only adds time), ratios on the best")
    empty_times, empty_rss = timed_child("empty")
    empty_s = min(empty_times)
    print(f"  empty Textual app, first paint:           {best_and_median(empty_times)}   (RSS {empty_rss:.0f} MB)")
    for (name, n, k, fmt), run_dir in zip(sizes, runs.values(), strict=True):
        read_and_decode(run_dir)  # warm the page cache, as the app will find it
        decode_times = [read_and_decode(run_dir) for _ in range(REPEAT)]
        floor = empty_s + min(decode_times)
        cold_times, cold_rss = timed_child("cold", str(run_dir))
        cold_s = min(cold_times)
        size_mb = files_size(run_dir) / 2**20
        print(f"  {name}: {k} x {n:,} examples ({fmt}, {size_mb:.0f} MB of files)")
        print(f"    read + msgspec decode only:             {best_and_median(decode_times)}")
        print(f"    floor (first paint + read/decode):      {floor:6.2f} s")
        ratio = cold_s / floor
        print(f"    evotui watch, first complete screen:    {best_and_median(cold_times)} = {ratio:.2f} x floor")
        print(f"    RSS at that point:                      {cold_rss:6.0f} MB  = {cold_rss / size_mb:.2f} x the files")

    print("\n## One new 1,000-example snapshot (default 0.5 s interval, in-process headless)")
    stages = (10, 50) if args.quick else (10, 100, 200)
    rows = asyncio.run(live_updates(1000, stages, per_stage=5))
    print("  held   rename->on screen    read+decode (thread)   apply (UI thread)")
    for stage in stages:
        mine = [r for r in rows if stage < r[0] <= stage + 5]
        lat = [r[1] for r in mine]
        print(
            f"  {stage:4d}   median {ms(statistics.median(lat))} max {ms(max(lat))}"
            f"   median {ms(statistics.median(r[2] for r in mine))}"
            f"   median {ms(statistics.median(r[3] for r in mine))} max {ms(max(r[3] for r in mine))}"
        )
    print("  (rename->screen includes waiting for the next poll: 0 to 0.5 s by construction)")

    print("\n## Idle CPU, nothing changing (10 s, % of one core) and memory")
    small_dir = next(iter(runs.values()))
    print(f"  evotui watch on {next(iter(runs))}:                 {idle_cpu(str(small_dir)):5.2f} %")

    print("\n## Filter keystroke to the updated table, 10,000 examples")
    large_dir = list(runs.values())[1]
    keys = [*"7+12", "backspace", "backspace", "3", "backspace", "backspace", "backspace", "e", "x"]
    first, later, rows_s, detail_times = asyncio.run(keystrokes(large_dir, keys))
    floor_keys = asyncio.run(keystroke_floor(keys))
    print("  (key press to the table's first line painted again; the floor: to the Input painted again)")
    print(f"  floor: same keys into an Input of an empty app: median {ms(statistics.median(floor_keys))}")
    print(f"  first keystroke (builds the search text cache):       {ms(first)}")
    print(f"  later keystrokes: median {ms(statistics.median(later))}, max {ms(max(later))}")
    print(f"  table_rows alone (filter + order, no UI):              {ms(rows_s)}")
    print(
        f"  to the detail pane too (after its 60 ms quiet time): median {ms(statistics.median(detail_times))},"
        f" max {ms(max(detail_times))}"
    )


if __name__ == "__main__":
    main()
