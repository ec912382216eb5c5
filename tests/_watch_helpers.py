"""Shared helpers for the tests of `evotui watch` (test_watch_*.py)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.pilot import Pilot

from evotui.analysis.runs import parse_time
from tracker.schema import ExampleResult, Snapshot
from tracker.scoring import summarize
from tracker.store import SnapshotStore
from tracker.synthetic import SyntheticRun, iso_at

HOSTILE_OUTPUTS = {
    "ansi": "\x1b[31mRED\x1b[0m\x1b[2J",
    "osc": "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\ \x1b]52;c;ZXZpbA==\x07",
    "markup": "[bold red]markup[/] [link=http://x]y[/link]",
    "nul": "a\x00b\x07c\x08d\x9bе",
    "bidi": "abc\u202edcba",
    "huge": "x" * 1_000_000,
}


def frozen_clock(run: SyntheticRun, seconds_after_last: float = 12.0) -> Callable[[], float]:
    """A clock stopped ``seconds_after_last`` after the run's last snapshot (header: "last 12 s ago")."""
    moment = parse_time(run.timestamp(run.n_steps - 1))
    assert moment is not None
    now = moment.timestamp() + seconds_after_last
    return lambda: now


async def wait_for(pilot: Pilot, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Until ``condition()``; the timeout only ends a test that would otherwise hang (a loaded machine is slow)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await pilot.pause(0.02)
    await pilot.pause()


async def wait_loaded(pilot: Pilot, n_steps: int | None = None, timeout: float = 60.0) -> None:
    """Until the main screen shows the run (and, given ``n_steps``, that many snapshots)."""
    app = pilot.app

    def ready() -> bool:
        screen = app.screen
        if not getattr(screen, "loaded", False):
            return False
        return n_steps is None or screen.state.history.n_steps == n_steps  # type: ignore[attr-defined]

    await wait_for(pilot, ready, timeout)
    # The detail pane follows the table's cursor after a short quiet time.
    detail = app.screen.query_one("ExampleDetail")
    await wait_for(pilot, lambda: detail.shown is not None and detail.shown[2] == app.screen.selected, timeout)
    await pilot.pause()
    await asyncio.sleep(0.05)
    await pilot.pause()


def screen_lines(app: App) -> list[str]:
    """The active screen as plain text lines (what a terminal would show, minus colours)."""
    strips = app.screen._compositor.render_strips()
    return ["".join(segment.text for segment in strip) for strip in strips]


def screen_text(app: App) -> str:
    return "\n".join(screen_lines(app))


def hostile_snapshot(step: int) -> Snapshot:
    rows = [
        ExampleResult(
            example_id=f"h_{name}",
            input=f"input {name} \x1b[5mblink\x1b[0m [i]x[/i]",
            expected_output="[bold]gold[/bold]",
            model_output=text,
            loss=1.0,
            similarity=0.1,
            exact_match=False,
        )
        for name, text in HOSTILE_OUTPUTS.items()
    ]
    rows.append(
        ExampleResult(
            example_id="\x1b]0;pwned\x07id",
            input="ok",
            expected_output="1",
            model_output="1",
            loss=0.1,
            similarity=1.0,
            exact_match=True,
        )
    )
    return Snapshot(training_step=step, examples=rows, timestamp=iso_at(step), summary=summarize(rows))


def write_hostile_run(directory: Path) -> None:
    store = SnapshotStore(directory, fsync=False)
    for step in (0, 10):
        store.write(hostile_snapshot(step))


def sync(test: Callable[..., Any]) -> Callable[..., Any]:
    """Run an async test function with asyncio.run (no pytest async plugin is a project dependency)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(test(*args, **kwargs))

    return wrapper
