"""Insights in the real app under Pilot, on real files arriving: the alert is written once per insight
(also across a restart), `i` lists the insights and choosing one filters the table to its evidence; and
the export dialog (issue 11 item 13) shows where it writes and asks before replacing a file."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from evotui.watch.app import EvotuiApp, make_app
from evotui.watch.screens.export_dialog import ExportScreen
from evotui.watch.screens.insights import InsightsScreen
from evotui.watch.screens.main import MainScreen
from tracker.schema import ExampleResult, Snapshot
from tracker.scoring import score, summarize
from tracker.store import write_snapshot

NOW = 1_767_272_400.0
SIZE = (120, 34)
N = 100
DROP_AT = 12  # the snapshot where 40 learned examples are forgotten (and relearned at the next one)
FORGOTTEN = [f"ex_{i:03d}" for i in range(0, 80, 2)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def snapshot(k: int) -> Snapshot:
    """Snapshot k of a run that learns everything by snapshot 2 and forgets 40 examples at DROP_AT."""
    rows = []
    for i in range(N):
        eid = f"ex_{i:03d}"
        answer = str(100 + i)
        output = answer if k >= 2 else f"{i % 7}"
        if k == DROP_AT and eid in FORGOTTEN:
            output = answer + "?"  # each its own wrong answer: a regression, not a collapse
        exact, sim = score(output, answer)
        rows.append(
            ExampleResult(
                example_id=eid,
                input=f"What is {i} + 100?",
                expected_output=answer,
                model_output=output,
                loss=-math.log(0.9 if exact else 0.2),
                similarity=sim,
                exact_match=exact,
            )
        )
    return Snapshot(training_step=k * 100, examples=rows, summary=summarize(rows), timestamp="2026-01-01T12:00:00Z")


def write_steps(directory: Path, ks: range) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for k in ks:
        write_snapshot(directory, snapshot(k), "json", fsync=False)


def app_for(directory: Path, alerts: Path | None = None, bell: bool = False) -> EvotuiApp:
    return make_app(directory, interval=0.05, clock=lambda: NOW, alerts=alerts, bell=bell)


async def wait_for(pilot: Pilot, condition: Callable[[], bool], what: str) -> None:
    for _ in range(400):
        if condition():
            await pilot.pause()
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def main_screen(pilot: Pilot) -> MainScreen:
    screen = pilot.app.screen
    assert isinstance(screen, MainScreen)
    return screen


def held_steps(pilot: Pilot) -> int:
    screen = pilot.app.screen
    return screen.state.history.n_steps if isinstance(screen, MainScreen) else -1


def alert_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.anyio
async def test_an_alert_is_written_once_per_insight_as_snapshots_arrive(tmp_path: Path) -> None:
    run, alerts = tmp_path / "run", tmp_path / "alerts.jsonl"
    write_steps(run, range(0, DROP_AT))  # healthy so far
    app = app_for(run, alerts, bell=True)
    rings: list[int] = []
    app.bell = lambda: rings.append(1)  # type: ignore[method-assign]  # count what would reach the terminal
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: held_steps(pilot) == DROP_AT, "the first snapshots")
        assert alert_lines(alerts) == []  # nothing to say yet
        write_steps(run, range(DROP_AT, DROP_AT + 1))  # the fall arrives
        await wait_for(pilot, lambda: bool(alert_lines(alerts)), "the alert")
        write_steps(run, range(DROP_AT + 1, DROP_AT + 4))  # more snapshots: the same insight, still there
        await wait_for(pilot, lambda: held_steps(pilot) == DROP_AT + 4, "the later snapshots")
        assert any(x.kind.value == "regression" for x in main_screen(pilot).state.insights)
    assert rings == [1]  # --bell: once, for the one new insight
    lines = alert_lines(alerts)
    assert [(x["kind"], x["step"], x["severity"]) for x in lines] == [("regression", DROP_AT * 100, "critical")]
    assert sorted(lines[0]["example_ids"]) == FORGOTTEN  # type: ignore[arg-type]
    assert lines[0]["run"] == str(run.absolute())
    assert {"kind", "severity", "step", "message", "example_ids"} <= set(lines[0])

    # A restart on the same run and file: the insight is there from the start, and not written again.
    app = app_for(run, alerts)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: held_steps(pilot) == DROP_AT + 4, "the run again")
        await wait_for(pilot, lambda: bool(main_screen(pilot).state.insights), "its insights")
        write_steps(run, range(DROP_AT + 4, DROP_AT + 5))
        await wait_for(pilot, lambda: held_steps(pilot) == DROP_AT + 5, "one more snapshot")
    assert alert_lines(alerts) == lines


@pytest.mark.anyio
async def test_choosing_an_insight_filters_the_table_to_its_evidence(tmp_path: Path) -> None:
    run = tmp_path / "run"
    write_steps(run, range(0, DROP_AT + 2))
    app = app_for(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: bool(held_steps(pilot) == DROP_AT + 2 and main_screen(pilot).state.insights),
            "the run and its insights",
        )
        main = main_screen(pilot)
        assert main.rows is not None and len(main.rows) == N
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InsightsScreen), "the insights screen")
        listed = app.screen.insights  # type: ignore[attr-defined]
        assert listed[0].kind.value == "regression" and listed[0].step == DROP_AT * 100
        assert [x.step for x in listed] == sorted((x.step for x in listed), reverse=True)  # newest first
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is main, "back to the table")
        assert main.rows is not None
        shown = sorted(main.state.history.example_ids[i] for i in main.rows.order.tolist())
        assert shown == FORGOTTEN
        await pilot.press("escape")
        await pilot.pause()
        assert len(main.rows) == N  # esc: every example again


@pytest.mark.anyio
async def test_export_dialog_shows_the_full_path_and_asks_before_replacing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    write_steps(run, range(0, 3))
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    app = app_for(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: held_steps(pilot) == 3, "the run")
        main = main_screen(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), "the export dialog")
        dialog = app.screen
        field = dialog.query_one("#export-path")
        target = here / "run.csv"
        assert field.value == str(target)  # type: ignore[attr-defined]  # the full path, before writing
        assert str(target) in str(dialog.query_one("#export-where").render())
        await pilot.press("enter")
        await wait_for(pilot, lambda: main.last_export is not None, "the export")
        assert target.exists()
        written = target.read_text()
        target.write_text("mine")
        main.last_export = None
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportScreen), "the dialog again")
        dialog = app.screen
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog  # the file exists: not replaced on the first enter
        assert "enter again" in str(dialog.query_one("#export-problem").render())
        assert target.read_text() == "mine"
        await pilot.press("enter")
        await wait_for(pilot, lambda: main.last_export is not None, "the second export")
    assert target.read_text() == written


@pytest.mark.anyio
async def test_the_insights_title_keeps_its_keys_at_80x24(tmp_path: Path) -> None:
    """At 80 columns the title wraps instead of losing "esc: close" (it was cut after "enter: show its")."""
    run = tmp_path / "run"
    write_steps(run, range(0, DROP_AT + 2))
    app = app_for(run)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: bool(main_screen(pilot).state.insights), "the run and its insights")
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InsightsScreen), "the insights screen")
        await pilot.pause()
        title = app.screen.query_one("#insights-title")
        shown = " ".join(title.render_line(y).text.strip() for y in range(title.size.height))
        assert "esc: close" in shown
