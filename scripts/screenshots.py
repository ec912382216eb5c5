"""Regenerate screenshots/*.svg from the app itself, on the seeded demo runs with a frozen clock.

    python scripts/screenshots.py [--out screenshots]

The same data and clock as the SVG snapshot tests (tracker.synthetic.write_demo_runs), so the
pictures in the README match what the tests check.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402

from evotui.app import MainScreen, make_app  # noqa: E402
from evotui.widgets.detail import ExampleDetail  # noqa: E402
from tracker.synthetic import write_demo_runs  # noqa: E402

Step = Callable[[Pilot], Awaitable[None]]


async def wait(pilot: Pilot, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the app did not get there in time")
        await pilot.pause(0.02)


async def loaded(pilot: Pilot) -> None:
    app = pilot.app
    await wait(pilot, lambda: isinstance(app.screen, MainScreen) and app.screen.loaded)
    screen = app.screen
    detail = screen.query_one(ExampleDetail)
    await wait(pilot, lambda: detail.shown is not None and detail.shown[2] == screen.selected)
    await pilot.pause()


def then(*keys: str) -> Step:
    async def step(pilot: Pilot) -> None:
        await loaded(pilot)
        await pilot.press(*keys)
        await pilot.pause(0.05)
        screen = pilot.app.screen
        if isinstance(screen, MainScreen):
            detail = screen.query_one(ExampleDetail)
            await wait(pilot, lambda: detail.shown is not None and detail.shown[2] == screen.selected)
        await pilot.pause()

    return step


async def picker(pilot: Pilot) -> None:
    from evotui.screens.run_picker import RunPickerScreen

    await wait(pilot, lambda: isinstance(pilot.app.screen, RunPickerScreen))
    await pilot.pause()


async def shoot(target: Path, now: float, size: tuple[int, int], step: Step, out: Path, title: str) -> None:
    app = make_app(target, interval=0.05, clock=lambda: now)
    async with app.run_test(size=size) as pilot:
        await step(pilot)
        app.save_screenshot(filename=out.name, path=str(out.parent))
    print(f"  {out} ({size[0]}x{size[1]}): {title}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # relative paths: no temp directory names in the pictures
        run_dir, now = write_demo_runs(Path("runs"))
        shots: list[tuple[Path, tuple[int, int], Step, str, str]] = [
            (run_dir, (160, 48), loaded, "main-160x48.svg", "the main screen on a large terminal"),
            (run_dir, (80, 24), loaded, "main-80x24.svg", "the main screen at 80x24"),
            (run_dir, (120, 36), then("f", "f", "down", "enter"), "detail.svg", "a forgotten example, detail pane"),
            (run_dir, (120, 36), then("slash", *"ex_01", "enter", "S"), "filter.svg", "filter and reverse sort"),
            (run_dir, (100, 32), then("question_mark"), "help.svg", "help"),
            (run_dir.parent, (100, 16), picker, "runs.svg", "run picker"),
        ]
        for target, size, step, name, title in shots:
            asyncio.run(shoot(target, now, size, step, out / name, title))


if __name__ == "__main__":
    main()
