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
The screen is looked at when the pane writes (a tmux control-mode client: no polling process
stealing a core from the app); the time is that of the output that put the marker on screen.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import select
import shlex
import shutil
import signal
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


class PaneWatcher:
    """A tmux control-mode client on the session: the pane's output arrives as ``%output`` notifications on
    one pipe, and the screen is captured (``capture-pane`` over the same pipe) only when output arrived.
    Polling with a tmux client every ~15 ms cost ~a third of a core: on 2 cores it slowed the app being
    timed (by ~0.5-1 s on a 5 s start), and not the one-process read/decode it is compared with."""

    def __init__(self, session: str) -> None:
        self.target = f"{session}:0.0"
        self.process = subprocess.Popen(
            ["tmux", "-C", "attach", "-t", session], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        self.buffer = b""
        self.recent: collections.deque[bytes] = collections.deque(maxlen=8)  # for the error message
        self.output_at = 0.0  # when the pane last wrote something (perf_counter)
        self.command(f"refresh-client -C {COLS}x{ROWS}")  # a control client has no size of its own

    def _line(self, timeout: float) -> bytes | None:
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([self.stdout], [], [], timeout)
            if not ready:
                return None
            chunk = os.read(self.stdout.fileno(), 1 << 16)
            if not chunk:
                raise RuntimeError(f"the tmux control client ended: {list(self.recent)!r}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        self.recent.append(line)
        if line.startswith(b"%output"):
            self.output_at = time.perf_counter()
        return line

    def command(self, command: str) -> str:
        """Run a tmux command on this client; its output (``%begin`` ... ``%end``)."""
        self.stdin.write(command.encode() + b"\n")
        lines: list[bytes] = []
        inside = False
        while True:
            line = self._line(timeout=30.0)
            if line is None:
                raise RuntimeError(f"tmux did not answer {command!r}")
            if line.startswith(b"%begin") and line.endswith(b" 1"):  # flag 1: a command of this client
                inside, lines = True, []
            elif line.startswith((b"%end", b"%error")) and inside:
                return b"\n".join(lines).decode("utf-8", "replace")
            elif inside:
                lines.append(line)

    def wait_for_output(self, timeout: float) -> bool:
        """Until the pane writes something (True) or ``timeout`` s pass (False)."""
        before = self.output_at
        deadline = time.perf_counter() + timeout
        while self.output_at == before:
            left = deadline - time.perf_counter()
            if left <= 0 or self._line(left) is None:
                return False
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.stdin.close()
        self.process.wait(timeout=10)


def stop_pane(target: str) -> None:
    """End the pane's program (SIGHUP to its process group, like closing the terminal) and wait until
    the pane is dead (``remain-on-exit`` keeps it). Not ``respawn-pane -k``: tmux 3.3a's server crashed
    on it now and then while a control client was attached."""
    pid = int(tmux("display-message", "-p", "-t", target, "#{pane_pid}").strip())
    for sig in (signal.SIGHUP, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        for _ in range(200):  # up to ~2 s
            if tmux("display-message", "-p", "-t", target, "#{pane_dead}").strip() == "1":
                return
            time.sleep(0.01)
    raise RuntimeError(f"the program in {target} did not end")


def time_to_screen(watcher: PaneWatcher, command: str, marker: str, timeout: float = 300.0) -> float:
    """Seconds from starting ``command`` in the (dead) pane to the pane's output that put ``marker`` on screen."""
    target = watcher.target
    tmux("clear-history", "-t", target, check=False)
    watcher.wait_for_output(0.2)  # the old app's last output, if any, drained
    started = time.perf_counter()
    tmux("respawn-pane", "-t", target, command)
    deadline = started + timeout
    while True:
        if not watcher.wait_for_output(max(0.0, deadline - time.perf_counter())):
            raise RuntimeError(f"{marker!r} not on screen after {timeout} s")
        output_at = watcher.output_at
        if marker in watcher.command(f"capture-pane -p -t {target}"):
            seconds = output_at - started
            break
    stop_pane(target)
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
    # Bytecode for our packages, as an installed copy has (pip compiles at install time; a checkout's
    # first run writes it): without, every start compiled ~30 modules (~45 ms more), which the floor's
    # Textual never does. Written whatever PYTHONDONTWRITEBYTECODE says (some shells set it).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "evotui"), str(ROOT / "tracker")], check=True)
    session = f"evotui-bench-{os.getpid()}"
    tmux("new-session", "-d", "-s", session, "-x", str(COLS), "-y", str(ROWS), "sleep 3600")
    tmux("set-option", "-t", session, "remain-on-exit", "on")
    watcher = PaneWatcher(session)
    stop_pane(watcher.target)
    try:
        python = shlex.quote(sys.executable)
        empty_cmd = f"{env_prefix()} {python} -c {shlex.quote(EMPTY_APP)}"
        empty = [time_to_screen(watcher, empty_cmd, "EMPTY-APP-PAINTED") for _ in range(args.repeat)]
        print(f"  empty Textual app, start to first paint on screen: {best_of(empty)}")
        for (name, n, k, fmt), run_dir in zip(chosen, runs.values(), strict=True):
            read_and_decode(run_dir)  # the page cache warm, as for the app
            decode = [read_and_decode(run_dir) for _ in range(args.repeat)]
            floor = min(empty) + min(decode)
            cmd = f"{env_prefix()} {python} -m evotui watch {shlex.quote(str(run_dir))}"
            times = [time_to_screen(watcher, cmd, f"{k} snapshots") for _ in range(args.repeat)]
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
        watcher.close()


if __name__ == "__main__":
    main()
