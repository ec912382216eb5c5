"""Bench of `evotui serve`: how long the page takes to show the run, against `evotui watch` in tmux.

    python bench/serve.py [--repeat 5] [--run DIR] [--steps 1000]

The same real run (the toy model trained here: 100 examples, a snapshot every 25 steps, unless --run
names one) at the same terminal size (the browser's, read from xterm.js, is given to tmux).

- browser: `evotui serve` is running already (its own start is reported once, apart). Each take opens a
  fresh browser context (nothing cached) on headless Chromium and times from ``page.goto`` (the request)
  to the page's load event (page, script, styles and fonts), then to xterm.js's buffer holding the header
  with the run's last step. Each tab starts its own app process on the server, as a user's first load does.
- the same without a browser: an aiohttp websocket client at the same size, from connecting to the header's
  text in the bytes the app sends (escape sequences removed). What the server and its app cost; the rest of
  the browser's figure is the page and xterm.js (and Chromium's share of the CPU).
- baseline, tmux: ``tmux new-session -d -x COLS -y ROWS "python -m evotui watch DIR"``, timed from that
  command to ``tmux capture-pane`` showing the same header.

Both sides poll every 10 ms. Best and median of --repeat takes, interleaved (browser, tmux, browser, ...)
so that load from the other users of the machine falls on both alike; noise only ever adds time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests._serve_helpers import (  # noqa: E402
    TERMINAL_HOOK,
    header_shows_step,
    launch_chromium,
    make_toy_run,
    screen_lines,
    serve,
    serve_env,
)
from tracker.store import list_snapshot_files  # noqa: E402

VIEWPORT = {"width": 1280, "height": 720}
POLL = 0.01
TIMEOUT = 120.0
TMUX_SOCKET = f"evotui-bench-serve-{os.getpid()}"


def browser_take(browser: object, url: str, step: int) -> tuple[float, float, tuple[int, int]]:
    """(seconds to the load event, seconds to the header on screen, (cols, rows)) for one fresh page."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[attr-defined]
    try:
        context.add_init_script(TERMINAL_HOOK)
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url, wait_until="load")
        loaded = time.perf_counter() - started
        shows = header_shows_step(step)
        deadline = started + TIMEOUT
        while True:
            lines = screen_lines(page)
            if lines is not None and shows(lines):
                break
            if time.perf_counter() > deadline:
                raise SystemExit(f"the page did not show step {step} within {TIMEOUT} s")
            page.wait_for_timeout(POLL * 1000)
        on_screen = time.perf_counter() - started
        size = page.evaluate("() => [window.__evotuiTerminal.cols, window.__evotuiTerminal.rows]")
        return loaded, on_screen, (int(size[0]), int(size[1]))
    finally:
        context.close()


ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Z0-9]|\x1b[=>78]")


def websocket_take(port: int, step: int, size: tuple[int, int]) -> float:
    """Seconds from connecting a websocket to the header's text arriving, no browser."""
    import aiohttp

    header = f"step {step:,}/".encode()

    async def take() -> float:
        async with aiohttp.ClientSession() as session:
            started = time.perf_counter()
            url = f"http://127.0.0.1:{port}/ws?width={size[0]}&height={size[1]}"
            async with session.ws_connect(url) as socket:
                received = b""
                async for message in socket:
                    if message.type == aiohttp.WSMsgType.BINARY:
                        received += message.data
                        if header in ESCAPES.sub(b"", received):
                            return time.perf_counter() - started
                    elif message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                        break
        raise SystemExit("the app closed before showing its header")

    # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(asyncio.wait_for(take(), TIMEOUT))).result()


def tmux(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", TMUX_SOCKET, *args], capture_output=True, text=True, check=False)


def tmux_take(run: Path, step: int, size: tuple[int, int], cwd: Path) -> float:
    pythonpath = serve_env()["PYTHONPATH"]
    argv = ["env", f"PYTHONPATH={pythonpath}", "OMP_NUM_THREADS=1", sys.executable, "-m", "evotui", "watch", str(run)]
    command = shlex.join(argv)
    shows = header_shows_step(step)
    started = time.perf_counter()
    tmux("new-session", "-d", "-s", "watch", "-x", str(size[0]), "-y", str(size[1]), "-c", str(cwd), command)
    try:
        while True:
            lines = tmux("capture-pane", "-p", "-t", "watch").stdout.splitlines()
            if shows(lines):
                return time.perf_counter() - started
            if time.perf_counter() - started > TIMEOUT:
                raise SystemExit(f"tmux did not show step {step} within {TIMEOUT} s")
            time.sleep(POLL)
    finally:
        tmux("kill-session", "-t", "watch")


def summary(name: str, values: list[float]) -> str:
    return f"{name:<44} best {min(values) * 1000:7.0f} ms   median {statistics.median(values) * 1000:7.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--run", type=Path, default=None, help="an existing run instead of training one")
    parser.add_argument("--steps", type=int, default=1000, help="steps of the toy run")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="evotui-bench-serve-") as tmp:
        cwd = Path(tmp)
        run = args.run
        if run is None:
            print("training the toy run...", flush=True)
            run = make_toy_run(cwd / "toy-addition", steps=args.steps, examples=100, every=25)
        run = run.resolve()
        files = list_snapshot_files(run)
        step = files[-1].step
        print(f"run: {run.name}, {len(files)} snapshots, last step {step:,}; best/median of {args.repeat}")
        started = time.perf_counter()
        with serve(run, cwd=cwd) as served:
            server_start = time.perf_counter() - started
            playwright = sync_playwright().start()
            browser = launch_chromium(playwright)
            loads: list[float] = []
            pages: list[float] = []
            terminals: list[float] = []
            sockets: list[float] = []
            try:
                browser_take(browser, served.url, step)  # warm-up: disk cache, Chromium's first page
                tmux_take(run, step, (133, 34), cwd)
                for _ in range(args.repeat):
                    loaded, on_screen, size = browser_take(browser, served.url, step)
                    loads.append(loaded)
                    pages.append(on_screen)
                    terminals.append(tmux_take(run, step, size, cwd))
                    sockets.append(websocket_take(served.port, step, size))
            finally:
                browser.close()
                playwright.stop()
                tmux("kill-server")
    print(f"terminal size: {size[0]}x{size[1]} (the browser's, {VIEWPORT['width']}x{VIEWPORT['height']} px)")
    print(f"{'evotui serve: start to listening':<44} {server_start * 1000:7.0f} ms (once, not in the figures below)")
    print(summary("browser: request to page loaded", loads))
    print(summary("browser: request to the header on screen", pages))
    print(summary("no browser: websocket connect to the header", sockets))
    print(summary("baseline, tmux: evotui watch to the header", terminals))
    ratio = min(pages) / min(terminals)
    print(f"browser / tmux (best): {ratio:.2f}x; the machine is shared: figures are noisy, best-of is the fairest")


if __name__ == "__main__":
    main()
