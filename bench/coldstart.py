"""Bench: cold start of `evotui watch` in a real terminal (tmux), against its floor, in one run.

    python bench/coldstart.py                     # 200 x 1,000 JSON and 500 x 10,000 MessagePack, best of 5
    python bench/coldstart.py --quick             # small runs: checks the script, not the figures
    python bench/coldstart.py --sizes small --repeat 3

What is timed: from starting the command in a tmux pane (160x48) to the moment ``tmux capture-pane``
first shows the run's last step on screen (the header's "N snapshots", N = all of them). The floor,
measured in the same run: an empty Textual app's first paint in the same pane (from start to its text on
screen), plus reading and msgspec-decoding the same files in one process (no app). Target (issue 10):
evotui <= 1.5x the floor. Best of N for each (the machine may be shared: noise only ever adds time);
the median is printed too. Runs are synthetic (tracker.synthetic), cached in --data like bench/viewer.py.
Capture polling (every ~15 ms, a tmux client each time) is included in both sides.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.viewer import ensure_run, read_and_decode  # noqa: E402

COLS, ROWS = 160, 48
POLL = 0.015
EMPTY_APP = """
from textual.app import App, ComposeResult
from textual.widgets import Static
class Empty(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("EMPTY-APP-PAINTED")
Empty().run()
"""


def tmux(*args: str, check: bool = True) -> str:
    out = subprocess.run(["tmux", *args], capture_output=True, text=True, check=check)
    return out.stdout


def time_to_screen(session: str, command: str, marker: str, timeout: float = 300.0) -> float:
    """Seconds from starting ``command`` in the pane to ``marker`` on screen; the pane is cleared after."""
    target = f"{session}:0.0"
    tmux("respawn-pane", "-k", "-t", target, "sleep 3600")  # a quiet pane to start from
    tmux("clear-history", "-t", target, check=False)
    started = time.perf_counter()
    tmux("respawn-pane", "-k", "-t", target, command)
    deadline = started + timeout
    while True:
        screen = tmux("capture-pane", "-p", "-t", target, check=False)
        if marker in screen:
            seconds = time.perf_counter() - started
            break
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{marker!r} not on screen after {timeout} s:\n{screen}")
        time.sleep(POLL)
    tmux("respawn-pane", "-k", "-t", target, "sleep 3600")  # ends the app (SIGHUP), like closing the terminal
    return seconds


def best_of(times: list[float]) -> str:
    return f"{min(times):6.2f} s (median {statistics.median(times):.2f})"


def env_prefix() -> str:
    keep = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    return " ".join(f"{k}={shlex.quote(v)}" for k, v in keep.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "evotui-bench")
    parser.add_argument("--quick", action="store_true", help="small runs: checks the script, not the figures")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="small,large", help="which runs: small (200 x 1,000 JSON), large")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("tmux is not installed")
    data: Path = args.data
    data.mkdir(parents=True, exist_ok=True)
    sizes = {"small": ("small", 1000, 200, "json"), "large": ("large", 10_000, 500, "msgpack")}
    if args.quick:
        sizes = {"small": ("quick-small", 1000, 20, "json"), "large": ("quick-large", 10_000, 10, "msgpack")}
    chosen = [sizes[s] for s in args.sizes.split(",")]
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"evotui cold start in tmux {COLS}x{ROWS} · {os.cpu_count()} cores · load {load} · best of {args.repeat}")
    runs = {name: ensure_run(data, name, n, k, fmt) for name, n, k, fmt in chosen}
    session = f"evotui-bench-{os.getpid()}"
    tmux("new-session", "-d", "-s", session, "-x", str(COLS), "-y", str(ROWS), "sleep 3600")
    try:
        python = shlex.quote(sys.executable)
        empty_cmd = f"{env_prefix()} {python} -c {shlex.quote(EMPTY_APP)}"
        empty = [time_to_screen(session, empty_cmd, "EMPTY-APP-PAINTED") for _ in range(args.repeat)]
        print(f"  empty Textual app, start to first paint on screen: {best_of(empty)}")
        for (name, n, k, fmt), run_dir in zip(chosen, runs.values(), strict=True):
            read_and_decode(run_dir)  # the page cache warm, as for the app
            decode = [read_and_decode(run_dir) for _ in range(args.repeat)]
            floor = min(empty) + min(decode)
            cmd = f"{env_prefix()} {python} -m evotui watch {shlex.quote(str(run_dir))}"
            times = [time_to_screen(session, cmd, f"{k} snapshots") for _ in range(args.repeat)]
            best = min(times)
            print(f"  {name}: {k} x {n:,} examples ({fmt})")
            print(f"    read + msgspec decode, one process:     {best_of(decode)}")
            print(f"    floor (first paint + read/decode):      {floor:6.2f} s")
            print(
                f"    evotui watch, last step on screen:      {best_of(times)}"
                f" = {best / floor:.2f} x floor   (target <= 1.5 x)"
            )
    finally:
        tmux("kill-session", "-t", session, check=False)


if __name__ == "__main__":
    main()
