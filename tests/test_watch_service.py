"""The run service: owned by the App, several runs at once, views that never change, failures shown."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest

from evotui.watch.app import make_app
from evotui.watch.screens.main import MainScreen
from evotui.watch.service import RunUpdated, RunView
from evotui.watch.tail import DirectoryTailer, PollResult
from tests._watch_helpers import frozen_clock, screen_lines, sync, wait_for, wait_loaded
from tracker.store import SnapshotStore
from tracker.synthetic import write_synthetic_run

SIZE = (120, 36)
FAST = 0.05
FAIL_FLAG = "fail-polls"  # while this file sits in the run directory, FailingTailer.poll raises


class FailingTailer(DirectoryTailer):
    """A real tailer whose poll fails, for real, while ``fail-polls`` exists in its directory.

    Passed through the documented injection point (``make_app(tailer_factory=...)``); the service,
    the app and the header under test are the real ones.
    """

    def poll(self, *args: Any, **kwargs: Any) -> PollResult:
        if (self.directory / FAIL_FLAG).exists():
            raise OSError(errno.EIO, "Input/output error while listing (injected)")
        return super().poll(*args, **kwargs)


@sync
async def test_a_failing_poll_is_shown_logged_and_live_updates_resume(tmp_path: Path, evotui_log: Path) -> None:
    run = write_synthetic_run(tmp_path / "run", 20, 6, seed=4, upto=3, max_steps=50)
    app = make_app(tmp_path / "run", interval=FAST, clock=frozen_clock(run), tailer_factory=FailingTailer)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, 3)
        (tmp_path / "run" / FAIL_FLAG).touch()
        store = SnapshotStore(tmp_path / "run", fsync=False)
        store.write(run.snapshot(3))
        # The header says what failed, with the reason; the screen keeps what it had, keys still work.
        await wait_for(pilot, lambda: "error" in screen_lines(app)[0])
        assert "OSError" in screen_lines(app)[0] and "Input/output error" in screen_lines(app)[0]
        screen = app.screen
        assert isinstance(screen, MainScreen)
        assert screen.state.failure is not None and screen.state.history.n_steps == 3
        await pilot.press("down")
        assert screen.selected == 1
        # The traceback is in the log file.
        await wait_for(pilot, evotui_log.exists)
        logged = evotui_log.read_text()
        assert "Traceback" in logged and "OSError" in logged and str(tmp_path / "run") in logged
        # The cause goes away: the next poll reads again, the new snapshot shows, the error clears.
        (tmp_path / "run" / FAIL_FLAG).unlink()
        store.write(run.snapshot(4))
        await wait_for(pilot, lambda: screen.state.history.n_steps == 5)
        await wait_for(pilot, lambda: "error" not in screen_lines(app)[0])
        assert screen.state.failure is None and "5 snapshots" in screen_lines(app)[0]


@sync
async def test_the_app_holds_several_runs_and_each_view_stays_as_posted(tmp_path: Path) -> None:
    a = write_synthetic_run(tmp_path / "a", 12, 4, seed=1, upto=2)
    write_synthetic_run(tmp_path / "b", 7, 3, seed=2)
    app = make_app(tmp_path / "a", interval=FAST, clock=frozen_clock(a))
    received: list[RunView] = []

    def hook(message: Any) -> None:
        if isinstance(message, RunUpdated):
            received.append(message.view)

    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await wait_loaded(pilot, 2)
        service_a = app.open_run(tmp_path / "a")
        assert app.open_run(tmp_path / "a") is service_a  # the running one, not a second reader
        service_b = app.open_run(tmp_path / "b")
        assert service_b is not service_a and service_b.running
        # A second subscriber (another screen's widget would do the same) gets run b's views.
        screen = app.screen
        assert isinstance(screen, MainScreen)
        header = screen.query_one("#run-header")
        service_b.subscribe(header)
        await wait_for(pilot, lambda: service_b.view is not None and service_b.view.history.n_steps == 3)
        await wait_for(pilot, lambda: any(v.path == tmp_path / "b" for v in received))
        # Views never change once posted: a new snapshot of run a makes a new view, the old one stays.
        before = service_a.view
        assert before is not None
        steps_before, version_before = list(before.history.steps), before.version
        SnapshotStore(tmp_path / "a", fsync=False).write(a.snapshot(2))
        await wait_for(pilot, lambda: screen.state.history.n_steps == 3)
        assert before.history.steps == steps_before and before.version == version_before
        assert screen.state.version > version_before
        assert screen.state.dynamics is not None and screen.state.dynamics.n_examples == 12
        service_b.unsubscribe(header)
        app.close_run(tmp_path / "b")
        app.close_run(tmp_path / "a")
        app.close_run(tmp_path / "a")
        assert not service_b.running or service_b._stop.is_set()
        assert service_a.running  # the app and the main screen still hold run a


def test_a_newer_view_of_the_same_run_replaces_a_waiting_one(tmp_path: Path) -> None:
    old = RunView.empty(tmp_path / "a")
    new = RunView(path=tmp_path / "a", version=2, history=old.history, dynamics=None, manifest=None)
    other = RunView(path=tmp_path / "b", version=3, history=old.history, dynamics=None, manifest=None)
    assert RunUpdated(old).can_replace(RunUpdated(new))
    assert not RunUpdated(old).can_replace(RunUpdated(other))


@pytest.mark.parametrize("override", [True, False])
def test_the_log_file_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, override: bool) -> None:
    from evotui.watch.failure_log import log_path, record_failure

    monkeypatch.delenv("EVOTUI_LOG", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    if override:
        monkeypatch.setenv("EVOTUI_LOG", str(tmp_path / "mine.log"))
    expected = tmp_path / "mine.log" if override else tmp_path / "state" / "evotui" / "evotui.log"
    assert log_path() == expected
    try:
        raise ValueError("boom")
    except ValueError as exc:
        assert record_failure("a test", exc) == expected
    assert "ValueError: boom" in expected.read_text()


@sync
async def test_step_travel_computed_in_a_thread_fills_the_table_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run too large to travel on the UI thread (here: the limit set to 0): the key moves at once, the
    travelled table follows when the thread is done, and it is the dynamics as of that step."""
    from evotui.analysis.dynamics import compute_dynamics
    from evotui.analysis.loader import load_run
    from evotui.watch import dynamics_actions

    monkeypatch.setattr(dynamics_actions, "SYNC_TRAVEL_CELLS", 0)
    run = write_synthetic_run(tmp_path / "run", 30, 6, seed=3)
    history, _, _ = load_run(tmp_path / "run")
    app = make_app(tmp_path / "run", interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, 6)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await pilot.press("left_square_bracket", "left_square_bracket")
        step = history.steps[-3]
        assert screen.view_step == step  # the key took effect at once
        await wait_for(pilot, lambda: screen.rows is not None and screen.rows.columns.step == step)
        assert screen.rows is not None
        assert screen.rows.columns.status.tolist() == compute_dynamics(history, until_step=step).status.tolist()
        await wait_for(pilot, lambda: f"as of step {step:,} (esc" in str(screen.query_one("#shown-count").render()))
