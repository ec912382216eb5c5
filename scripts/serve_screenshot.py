"""Take screenshots/serve.png: `evotui serve` on a REAL toy run, in headless Chromium at a fixed size.

    python scripts/serve_screenshot.py [--out screenshots/serve.png] [--steps 1000] [--run DIR]

Trains ``tracker.toy_train`` for real (seed 0, 100 examples, a snapshot every 25 steps, torch on one
thread; about 20 s on 2 cores) unless ``--run`` names a run, starts ``evotui serve`` on it (127.0.0.1,
a free port), opens the page in Debian's Chromium (1280x720, device scale 1, the Roboto Mono that
textual-serve ships), waits until the header shows the last step and the detail pane is drawn, moves the
cursor two rows down (as screenshots/main.svg does) and saves the page. The header's "last ... ago" is
the real time since the run's last snapshot: the one thing that differs between two takes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests._serve_helpers import (  # noqa: E402
    TERMINAL_HOOK,
    focus_terminal,
    header_shows_step,
    launch_chromium,
    make_toy_run,
    serve,
    wait_for_screen,
)
from tracker.store import list_snapshot_files  # noqa: E402

VIEWPORT = {"width": 1280, "height": 720}
SETTLED = """() => new Promise((done) => {
  // The terminal fades in (0.3 s) once the first bytes arrive; then wait two frames for the canvas to paint.
  const terminal = document.getElementById("terminal");
  const check = () => getComputedStyle(terminal).opacity === "1" && document.fonts.status === "loaded"
    ? requestAnimationFrame(() => requestAnimationFrame(() => done(true)))
    : setTimeout(check, 20);
  check();
})"""


def take(run: Path, out: Path, cwd: Path) -> None:
    from playwright.sync_api import sync_playwright

    last_step = list_snapshot_files(run)[-1].step
    with serve(run, cwd=cwd) as served, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
            context.add_init_script(TERMINAL_HOOK)
            page = context.new_page()
            page.goto(served.url)
            wait_for_screen(page, lambda lines: header_shows_step(last_step)(lines) and "finished" in lines[0])
            focus_terminal(page)
            for _ in range(2):
                page.keyboard.press("ArrowDown")
            # The detail pane follows the cursor to the third row: its title is that row's id.
            wait_for_screen(page, lambda lines: _detail_shows(lines, _row_id(lines, 2)))
            page.evaluate(SETTLED)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
        finally:
            browser.close()
    print(f"  {out} ({VIEWPORT['width']}x{VIEWPORT['height']}): evotui serve on {run.name}, step {last_step:,}")


def _row_id(lines: list[str], index: int) -> str | None:
    """The id of the table's ``index``-th row (the title row: "id", its sort arrow, "status" ...)."""
    for i, line in enumerate(lines):
        if line.startswith("id") and "status" in line:  # "id▲ status ...": the sort arrow follows the id
            row = lines[i + 1 + index].split() if i + 1 + index < len(lines) else []
            return row[0] if row else None
    return None


def _detail_shows(lines: list[str], example_id: str | None) -> bool:
    return example_id is not None and any(line.lstrip().startswith(example_id + " ·") for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots" / "serve.png")
    parser.add_argument("--steps", type=int, default=1000, help="steps of the toy run")
    parser.add_argument("--run", type=Path, default=None, help="an existing run instead of training one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="evotui-serve-shot-") as tmp:
        run = args.run
        if run is None:
            print("training (a real run):")
            run = make_toy_run(Path(tmp) / "toy-addition", steps=args.steps, examples=100, every=25)
        print("picture:")
        take(run.resolve(), args.out.resolve(), Path(tmp))


if __name__ == "__main__":
    main()
