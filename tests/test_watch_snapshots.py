"""SVG snapshots of the app (pytest-textual-snapshot): fixed size, frozen clock, seeded data.

Update after reading the report: ``python -m pytest tests/test_watch_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot

from evotui.watch.app import make_app
from evotui.watch.screens.run_picker import RunPickerScreen
from evotui.watch.widgets.detail import ExampleDetail
from tests._watch_helpers import wait_for, wait_loaded
from tracker.synthetic import write_demo_runs


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, float]:
    # Relative paths: nothing machine-specific (like the temp dir) may appear in the pictures.
    monkeypatch.chdir(tmp_path)
    run_dir, now = write_demo_runs(Path("runs"))
    return run_dir, now


def demo_app(path: Path, now: float):
    return make_app(path, interval=0.05, clock=lambda: now)


async def loaded(pilot: Pilot) -> None:
    await wait_loaded(pilot)


async def detail_follows(pilot: Pilot) -> None:
    """The detail pane follows the cursor after a short pause: wait for it."""
    screen = pilot.app.screen
    detail = screen.query_one(ExampleDetail)
    await wait_for(pilot, lambda: detail.shown is not None and detail.shown[2] == screen.selected)


def test_main_screen_80x24(snap_compare, demo) -> None:
    run_dir, now = demo
    assert snap_compare(demo_app(run_dir, now), terminal_size=(80, 24), run_before=loaded)


def test_main_screen_160x48(snap_compare, demo) -> None:
    run_dir, now = demo
    assert snap_compare(demo_app(run_dir, now), terminal_size=(160, 48), run_before=loaded)


def test_detail_pane(snap_compare, demo) -> None:
    """An unstable example, the detail pane full height (enter)."""
    run_dir, now = demo

    async def select(pilot: Pilot) -> None:
        await wait_loaded(pilot)
        await pilot.press("f", "f")  # forgotten
        await pilot.pause()
        await pilot.press("down", "enter")
        await detail_follows(pilot)

    assert snap_compare(demo_app(run_dir, now), terminal_size=(120, 36), run_before=select)


def test_help_screen(snap_compare, demo) -> None:
    run_dir, now = demo

    async def help_open(pilot: Pilot) -> None:
        await wait_loaded(pilot)
        await pilot.press("question_mark")

    assert snap_compare(demo_app(run_dir, now), terminal_size=(100, 32), run_before=help_open)


def test_run_picker(snap_compare, demo) -> None:
    run_dir, now = demo

    async def picker(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, RunPickerScreen))

    assert snap_compare(demo_app(run_dir.parent, now), terminal_size=(100, 16), run_before=picker)
