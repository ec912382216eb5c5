"""Cold start: a big first read goes on screen before its dynamics, which fill the table's statuses in a moment
later; the insights already there are summarised once, as for any run opened (not announced one by one)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from evotui.analysis.dynamics import compute_dynamics
from evotui.analysis.loader import load_run
from evotui.watch import service as service_module
from evotui.watch.app import make_app
from evotui.watch.screens.main import MainScreen
from evotui.watch.service import RunUpdated, RunView
from evotui.watch.tail import DirectoryTailer
from tests._watch_helpers import screen_lines, sync, wait_for, wait_loaded
from tests.test_insights_app import DROP_AT, NOW
from tests.test_insights_app import snapshot as regression_snapshot
from tracker.store import write_snapshot

SIZE = (120, 36)


@sync
async def test_a_big_first_read_shows_its_data_then_its_statuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, evotui_log: Path
) -> None:
    monkeypatch.setattr(service_module, "DYNAMICS_LATER_CELLS", 1)  # every first read counts as big
    # The dynamics wait for the main screen to say its first data are drawn, never for this bound to pass.
    monkeypatch.setattr(service_module, "FIRST_DATA_WAIT", 600.0)
    (tmp_path / "run").mkdir()
    for k in range(DROP_AT + 1):  # a run that forgets 40 examples at its last snapshot: a regression to announce
        write_snapshot(tmp_path / "run", regression_snapshot(k), "json", fsync=False)
    history, _, _ = load_run(tmp_path / "run")
    received: list[RunView] = []

    class Recorder:
        """Subscribed to the run's service like a screen: every view it posts (the UI may skip replaced ones)."""

        def post_message(self, message: Any) -> bool:
            if isinstance(message, RunUpdated):
                received.append(message.view)
            return True

    subscribed = threading.Event()

    def tailer_after_subscribing(path: Path) -> DirectoryTailer:  # the service's first poll waits for the recorder
        subscribed.wait(30)
        return DirectoryTailer(path)

    app = make_app(tmp_path / "run", interval=0.05, clock=lambda: NOW, tailer_factory=tailer_after_subscribing)
    app.services[0].subscribe(Recorder())  # type: ignore[arg-type]
    subscribed.set()
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, DROP_AT + 1)
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await wait_for(pilot, lambda: screen.state.dynamics is not None)
        loaded = [v for v in received if v.loaded]
        # The first view with data has every snapshot and no dynamics; the next one brings them.
        assert loaded[0].history.n_steps == DROP_AT + 1 and loaded[0].dynamics is None and loaded[0].insights == ()
        assert any(v.dynamics is not None for v in loaded[1:])
        await wait_for(pilot, lambda: screen.rows is not None and screen.rows.columns.status[0] != "")
        assert screen.rows is not None
        assert screen.rows.columns.status.tolist() == compute_dynamics(history).status.tolist()
        assert f"{DROP_AT + 1} snapshots" in screen_lines(app)[0]
        announced = [n.message for n in app._notifications]
        alarming = [x for x in screen.state.insights if x.severity.value in ("warning", "critical")]
        assert alarming  # this run has insights to announce
        # Once, as a summary: the view without dynamics (no insights looked for yet) did not count as the first.
        assert [m for m in announced if "to look at: press i" in m] and not any("(i: insights)" in m for m in announced)
    assert not evotui_log.exists()  # nothing failed on the way
