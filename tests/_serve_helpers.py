"""Shared helpers for `evotui serve`: a real server process, a real toy run, headless Chromium.

Used by tests/test_serve*.py, bench/serve.py and scripts/serve_screenshot.py. Every process started here
runs in its own process group and is killed with it, app processes included.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
TOY_STEPS = 40  # the toy run's last step: the header shows "step 40/40"

# Playwright cannot reach xterm.js's Terminal (it lives inside textual.js's bundle). textual.js stores it as
# `this.terminal = new Terminal(...)`; a setter on Object.prototype, installed before any script runs, keeps a
# reference when that assignment happens (and then defines the property as usual). The text is then read from
# xterm's own buffer: what the page draws, not what the server sent.
TERMINAL_HOOK = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
    if (value && typeof value.write === "function" && "buffer" in value) { window.__evotuiTerminal = value; }
  },
});
"""
SCREEN_LINES = """() => {
  const terminal = window.__evotuiTerminal;
  if (!terminal) { return null; }
  const buffer = terminal.buffer.active;
  const lines = [];
  for (let y = 0; y < terminal.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    lines.push(line ? line.translateToString(true) : "");
  }
  return lines;
}"""


def serve_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "EVOTUI_SERVE_TOKEN"}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **extra)
    return env


def free_port() -> int:
    """A port free on every interface right now (the server may still lose a race for it: see serve())."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


def kill_group(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM the server (it stops its apps, as on Ctrl+C), then SIGKILL whatever is left of its group."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def make_toy_run(directory: Path, steps: int = TOY_STEPS, examples: int = 12, every: int = 20) -> Path:
    """A real run: the toy model trained by the real Trainer, on one torch thread."""
    cmd = [
        sys.executable, "-m", "tracker.toy_train", "--output-dir", str(directory), "--steps", str(steps),
        "--examples", str(examples), "--schedule", f"every {every}", "--threads", "1", "--seed", "0",
    ]  # fmt: skip
    env = serve_env(HF_HUB_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1", TOKENIZERS_PARALLELISM="false")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, start_new_session=True)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return directory


@dataclass
class Served:
    proc: subprocess.Popen[str]
    port: int
    urls: list[str]  # as printed
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The printed URL, on 127.0.0.1: the tests connect to nothing else."""
        parts = urlsplit(self.urls[-1])
        return parts._replace(netloc=f"127.0.0.1:{self.port}").geturl()

    @property
    def token(self) -> str | None:
        query = urlsplit(self.urls[0]).query
        return query.removeprefix("token=") if query.startswith("token=") else None


def _pump(stream: Any, lines: queue.Queue[str | None], output: list[str]) -> None:
    for line in stream:
        output.append(line.rstrip("\n"))  # everything the server prints, for the tests to read
        lines.put(output[-1])
    lines.put(None)


@contextlib.contextmanager
def serve(directory: Path, *args: str, cwd: Path, timeout: float = 60.0, attempts: int = 3) -> Iterator[Served]:
    """`python -m evotui serve DIRECTORY --port <free> ARGS` until it prints its URLs; killed on exit."""
    for attempt in range(attempts):
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "evotui", "serve", str(directory), "--port", str(port), *args],
            cwd=cwd,
            env=serve_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        output: list[str] = []
        threading.Thread(target=_pump, args=(proc.stdout, lines, output), daemon=True).start()
        urls: list[str] = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
                except queue.Empty:
                    raise AssertionError(f"evotui serve printed no URL within {timeout} s: {output}") from None
                if line is None:
                    break  # exited
                if line.startswith("  http://"):
                    urls.append(line.strip())
                elif urls:  # the URL lines are printed together, once the socket listens
                    break
            if urls:
                yield Served(proc, port, urls, output)
                return
        finally:
            kill_group(proc)
        if attempt == attempts - 1 or "cannot listen" not in "\n".join(output):
            raise AssertionError(f"evotui serve did not start: {output}")


# -- the browser ----------------------------------------------------------------------------------
def chromium_path() -> str | None:
    for candidate in (os.environ.get("EVOTUI_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium, headless. No sandbox: the tests run as root. Every host name but 127.0.0.1 resolves
    to nothing, so a page that names an outside URL fails fast here instead of hanging (and never reaches out)."""
    path = chromium_path()
    assert path is not None, "no chromium: apt-get install -y chromium (.ci/run does)"
    return playwright.chromium.launch(
        executable_path=path,
        args=["--no-sandbox", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
    )


def screen_lines(page: Any) -> list[str] | None:
    """The terminal's lines as xterm.js holds them (None before the terminal exists)."""
    return page.evaluate(SCREEN_LINES)  # type: ignore[no-any-return]


def wait_for_screen(page: Any, condition: Callable[[list[str]], bool], timeout: float = 60.0) -> list[str]:
    """Poll the page's terminal until ``condition(lines)``; AssertionError with the last screen otherwise."""
    deadline = time.monotonic() + timeout
    lines: list[str] | None = None
    while time.monotonic() < deadline:
        lines = screen_lines(page)
        if lines is not None and condition(lines):
            return lines
        page.wait_for_timeout(25)
    shown = "\n".join(lines or ["(no terminal in the page)"])
    raise AssertionError(f"the page did not get there within {timeout} s; its screen:\n{shown}")


def header_shows_step(step: int) -> Callable[[list[str]], bool]:
    return lambda lines: bool(lines) and f"step {step:,}/" in lines[0]


def focus_terminal(page: Any) -> None:
    """Keys typed in the page go to xterm.js's input element (a click would also reach the app as a click)."""
    page.focus(".xterm-helper-textarea")
