"""The detail pane on its own (widgets/detail.py, widgets/prediction_history.py), hosted by a bare App.

The pane fills in from a thread worker: the tests wait for the state (``ExampleDetail.shown``), with
loops bounded by count, never for a duration.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot

import evotui.watch.app
from evotui.analysis.history import HistoryPoint, RunHistory
from evotui.watch.widgets.detail import WORKER_GROUP, CurvePlot, ExampleDetail
from evotui.watch.widgets.prediction_history import PredictionHistory
from tests._watch_helpers import screen_text, sync, wait_for
from tracker.schema import ExampleResult, Snapshot
from tracker.scoring import summarize
from tracker.synthetic import iso_at

SIZE = (120, 30)


class DetailHost(App[None]):
    """The detail pane alone, styled by the app's stylesheet."""

    CSS_PATH = str(Path(evotui.watch.app.__file__).parent / "app.tcss")

    def compose(self) -> ComposeResult:
        yield ExampleDetail(id="detail")


def output(i: int, k: int, long: bool = False) -> str:
    return f"out {i}:{k:03d}." + (" and more words" * 12 if long else "")


def history_of(n_steps: int, n_examples: int = 2, long: bool = False, cls: type[RunHistory] = RunHistory) -> RunHistory:
    """A run whose every snapshot gives every example a new output (one history line per snapshot)."""
    snapshots = []
    for k in range(n_steps):
        rows = [
            ExampleResult(
                example_id=f"ex_{i}",
                input=f"question {i}",
                expected_output="gold",
                model_output=output(i, k, long),
                loss=1.0 / (k + 1 + i),
                similarity=0.5,
                exact_match=False,
            )
            for i in range(n_examples)
        ]
        snapshots.append(Snapshot(training_step=10 * k, examples=rows, timestamp=iso_at(k), summary=summarize(rows)))
    return cls.from_snapshots(snapshots)


async def shown(pilot: Pilot, detail: ExampleDetail, index: int | None) -> None:
    await wait_for(pilot, lambda: detail.shown is not None and detail.shown[2] == index)


async def builds_done(pilot: Pilot) -> None:
    """Until no build of the pane is running (bounded by count)."""
    for _ in range(500):
        if not any(w.group == WORKER_GROUP and w.is_running for w in pilot.app.workers):
            break
        await pilot.pause(0.02)
    await pilot.pause()


@sync
async def test_the_history_draws_only_its_visible_lines_and_scrolls_to_the_rest() -> None:
    history = history_of(500)
    app = DetailHost()
    async with app.run_test(size=SIZE) as pilot:
        detail = app.query_one(ExampleDetail)
        detail.show(history, None, 1)
        await shown(pilot, detail, 1)
        pane = app.query_one(PredictionHistory)
        # A header and one line per snapshot, all prepared; the widget scrolls over exactly them.
        assert pane.line_count == 501
        assert pane.virtual_size.height == 501
        assert pane.size.height < 30
        asked: list[int] = []
        render_line = pane.render_line
        pane.render_line = lambda y: (asked.append(y), render_line(y))[1]  # type: ignore[method-assign]
        pane.refresh()
        await pilot.pause()
        assert asked and max(asked) < pane.size.height  # only the lines on screen were asked for
        text = screen_text(app)
        assert output(1, 0) in text and output(1, 499) not in text
        pane.scroll_end(animate=False, immediate=True)
        await wait_for(pilot, lambda: output(1, 499) in screen_text(app))
        assert output(1, 0) not in screen_text(app)


@sync
async def test_long_outputs_are_wrapped_for_the_width_and_again_when_it_changes() -> None:
    history = history_of(40, long=True)
    app = DetailHost()
    async with app.run_test(size=SIZE) as pilot:
        detail = app.query_one(ExampleDetail)
        detail.show(history, None, 0)
        await shown(pilot, detail, 0)
        pane = app.query_one(PredictionHistory)
        wide = pane.line_count
        assert wide > 41  # wrapped: more lines than entries
        assert pane.virtual_size.height == wide
        assert all(len(line.rstrip()) <= pane.scrollable_content_region.width for line in pane.plain_lines())
        await pilot.resize_terminal(80, 30)
        await wait_for(pilot, lambda: detail.shown is not None and pane.line_count > wide)
        assert pane.virtual_size.height == pane.line_count
        assert all(len(line.rstrip()) <= pane.scrollable_content_region.width for line in pane.plain_lines())


@sync
async def test_a_stale_build_is_dropped_the_last_example_asked_for_shows() -> None:
    history = history_of(300, long=True)
    app = DetailHost()
    async with app.run_test(size=SIZE) as pilot:
        detail = app.query_one(ExampleDetail)
        detail.show(history, None, 0)  # a long build...
        detail.show(history, None, 1)  # ...overtaken at once
        await shown(pilot, detail, 1)
        await builds_done(pilot)
        assert detail.shown is not None and detail.shown[2] == 1
        lines = "\n".join(app.query_one(PredictionHistory).plain_lines())
        assert output(1, 0) in lines and output(0, 0) not in lines
        plot = app.query_one(CurvePlot)
        assert plot._data is not None
        np.testing.assert_allclose(plot._data[1], history.series(1, "loss"))
        assert str(app.query_one("#detail-title").render()).startswith("ex_1")
        # Asked again for what is on screen: nothing is built.
        started = len(app.workers)
        detail.show(history, None, 1)
        assert len(app.workers) == started and detail.shown is not None


class UnreadableHistory(RunHistory):
    """A history whose prediction history cannot be read (as a bug or a lost file would make it)."""

    def prediction_history(self, index: int) -> list[HistoryPoint]:
        raise OSError("the history could not be read")


@sync
async def test_a_failing_build_is_shown_logged_and_the_next_example_draws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "evotui.log"
    monkeypatch.setenv("EVOTUI_LOG", str(log))
    broken = history_of(20, cls=UnreadableHistory)
    app = DetailHost()
    async with app.run_test(size=SIZE) as pilot:
        detail = app.query_one(ExampleDetail)
        detail.show(broken, None, 0)
        await wait_for(pilot, lambda: detail.failure is not None)
        assert "OSError" in detail.failure
        await pilot.pause()
        assert "could not draw this example: OSError" in screen_text(app)
        errors = [n for n in app._notifications if n.severity == "error"]
        assert errors and "OSError" in str(errors[-1].message)
        assert "worker: detail pane" in log.read_text() and "the history could not be read" in log.read_text()
        good = history_of(20)
        detail.show(good, None, 1)
        await shown(pilot, detail, 1)
        await builds_done(pilot)
        assert detail.failure is None
        assert output(1, 19) in "\n".join(app.query_one(PredictionHistory).plain_lines())
        assert "could not draw" not in screen_text(app)
