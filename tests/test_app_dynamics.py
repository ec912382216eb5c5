"""The dynamics side of the real app under Pilot: data map, quick filters, step travel, regressions,
compare mode and export, on real snapshot files (tracker.synthetic writes them through the store).

Expected values are computed independently from the files (``load_run`` + ``compute_dynamics``), not
read back from the app. SVG snapshots: fixed terminal size, frozen clock, seeded data.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import OptionList

from evotui.analysis.dynamics import compute_dynamics
from evotui.analysis.loader import load_run
from evotui.analysis.table import COLUMN_KEYS
from evotui.watch.app import EvotuiApp, make_app
from evotui.watch.screens.compare import ADDED, REMOVED, CompareScreen, diff_texts
from evotui.watch.screens.data_map import DataMapScreen
from evotui.watch.screens.export_dialog import ExportScreen
from evotui.watch.screens.main import MainScreen
from evotui.watch.screens.regressions import RegressionsScreen
from evotui.watch.screens.step_picker import StepPickerScreen
from evotui.watch.widgets.metrics import BARS, MetricsBar, metrics_text, sparkline_positions
from tests._dynamics_helpers import write_plan
from tests._watch_helpers import screen_lines
from tracker.store import SnapshotStore
from tracker.synthetic import SyntheticRun, write_synthetic_run

NOW = 1_767_272_400.0  # 2026-01-01 13:00 UTC: an hour after the synthetic run's base time
SIZE = (110, 32)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # Textual runs on asyncio


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "demo"
    write_synthetic_run(directory, n_examples=40, n_steps=12, seed=3)
    return directory


def app_for(directory: Path) -> EvotuiApp:
    return make_app(directory, interval=0.05, clock=lambda: NOW)


async def wait_loaded(pilot: Pilot) -> MainScreen:
    for _ in range(200):
        screen = pilot.app.screen
        if isinstance(screen, MainScreen) and screen.loaded:
            await pilot.pause()
            return screen
        await pilot.pause(0.05)
    raise AssertionError("the run never loaded")


async def wait_for(pilot: Pilot, condition: Callable[[], bool], what: str) -> None:
    for _ in range(200):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def shown_ids(screen: MainScreen) -> list[str]:
    assert screen.rows is not None
    return [screen.state.history.example_ids[i] for i in screen.rows.order.tolist()]


# -- data map and quick filters ---------------------------------------------------------------------
@pytest.mark.anyio
async def test_data_map_shows_region_counts_and_choosing_a_region_filters_the_table(run_dir: Path) -> None:
    history, _, _ = load_run(run_dir)
    expected = compute_dynamics(history)
    counts = expected.counts_by_region()
    app = app_for(run_dir)
    async with app.run_test(size=SIZE) as pilot:
        main = await wait_loaded(pilot)
        await pilot.press("m")
        await pilot.pause()
        data_map = app.screen
        assert isinstance(data_map, DataMapScreen)
        side = "\n".join(str(o.prompt) for o in data_map.query_one("#region-options").options)
        for region in ("easy", "ambiguous", "hard"):
            assert f"{counts[region]:>6,}" in side
        # Down to "ambiguous", enter: back on the table, filtered to that region.
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.screen is main
        assert main.query_state.quick == "ambiguous"
        want = [eid for eid, r in zip(expected.example_ids, expected.region, strict=True) if r == "ambiguous"]
        assert shown_ids(main) == want
        assert f"{len(want)} of 40 shown" in str(main.query_one("#shown-count").render())
        # "h" on the map chooses "hard" directly.
        await pilot.press("m", "h")
        await pilot.pause()
        want = [eid for eid, r in zip(expected.example_ids, expected.region, strict=True) if r == "hard"]
        assert main.query_state.quick == "hard" and shown_ids(main) == want
        assert "hard" in str(main.query_one("#quick-filters").render())  # the current filter is on the bar


@pytest.mark.anyio
async def test_quick_filters_cover_every_status(run_dir: Path) -> None:
    history, _, _ = load_run(run_dir)
    expected = compute_dynamics(history)
    app = app_for(run_dir)
    async with app.run_test(size=SIZE) as pilot:
        main = await wait_loaded(pilot)
        for status in ("known", "learned", "unstable", "forgotten", "never"):
            main.action_quick(status)
            await pilot.pause()
            want = [eid for eid, s in zip(expected.example_ids, expected.status, strict=True) if s == status]
            assert shown_ids(main) == want, status
        assert sum(expected.counts_by_status().values()) == 40


# -- step travel ------------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_step_travel_shows_the_table_as_of_an_earlier_snapshot(run_dir: Path) -> None:
    history, _, _ = load_run(run_dir)
    steps = history.steps
    app = app_for(run_dir)
    async with app.run_test(size=SIZE) as pilot:
        main = await wait_loaded(pilot)
        await pilot.press("left_square_bracket", "left_square_bracket")
        await pilot.pause()
        step = steps[-3]
        assert main.view_step == step
        assert main.rows is not None and main.rows.columns.step == step
        then = compute_dynamics(history, until_step=step)
        assert main.rows.columns.status.tolist() == then.status.tolist()
        assert main.rows.columns.outputs == history.columns[step].outputs
        assert f"as of step {step:,}" in str(main.query_one("#shown-count").render())
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert main.view_step == steps[-2]
        await pilot.press("escape")  # back to the latest, following live
        await pilot.pause()
        assert main.view_step is None and main.rows.columns.step == steps[-1]
        assert main.rows.columns.status.tolist() == compute_dynamics(history).status.tolist()
        # The oldest snapshot is as far as "[" goes.
        await pilot.press(*["left_square_bracket"] * (len(steps) + 2))
        await pilot.pause()
        assert main.view_step == steps[0]
        # The step picker: the 4th snapshot.
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, StepPickerScreen)
        await pilot.press("home", "down", "down", "down", "enter")
        await pilot.pause()
        assert main.view_step == steps[3]
        await pilot.press("t", "down", "escape")  # esc: no travel
        await pilot.pause()
        assert isinstance(app.screen, MainScreen) and main.view_step == steps[3]


@pytest.mark.anyio
async def test_step_travel_detail_pane_tells_the_status_as_of_the_travelled_step(run_dir: Path) -> None:
    history, _, _ = load_run(run_dir)
    steps = history.steps
    now, whole = None, compute_dynamics(history)
    # An example whose status at some earlier step differs from its status over the whole run.
    for k in range(len(steps) - 2, 0, -1):
        now = compute_dynamics(history, until_step=steps[k])
        changed = [i for i in range(history.n_examples) if now.status[i] != whole.status[i]]
        if changed:
            break
    assert now is not None and changed, "the synthetic run should have an example whose status changes"
    index, back = changed[0], len(steps) - 1 - k
    app = app_for(run_dir)
    async with app.run_test(size=SIZE) as pilot:
        main = await wait_loaded(pilot)
        main.query_one("ExampleTable").select_index(index)
        await wait_for(pilot, lambda: main.selected == index, "the example selected")
        detail = main.query_one("ExampleDetail")
        await wait_for(pilot, lambda: detail.shown is not None and detail.shown[2] == index, "the detail pane")
        title = str(main.query_one("#detail-title").render())
        assert title.split(" · ")[1] == whole.status[index] and "as of step" not in title
        await pilot.press(*["left_square_bracket"] * back)
        await wait_for(pilot, lambda: main.view_step == steps[k], "the travel")
        # The detail pane follows the travel a moment later (like a cursor move).
        await wait_for(pilot, lambda: detail.shown is not None and detail.shown[4] == steps[k], "the detail pane")
        await pilot.pause()
        title = str(main.query_one("#detail-title").render())
        assert title.split(" · ")[1:3] == [f"as of step {steps[k]:,}", now.status[index]]
        shown_right = int(sum(history.columns[s].exact[index] == 1.0 for s in steps[: k + 1]))
        assert f"right at {shown_right} of {k + 1} snapshots" in title
        assert f"◀ step {steps[k]:,}" in "\n".join(main.query_one("#detail-history").plain_lines())
        await pilot.press("escape")  # back to live: the whole run again, no marker
        await wait_for(pilot, lambda: detail.shown is not None and detail.shown[4] is None, "the detail pane")
        title = str(main.query_one("#detail-title").render())
        assert "as of step" not in title and title.split(" · ")[1] == whole.status[index]
        assert "◀ step" not in "\n".join(main.query_one("#detail-history").plain_lines())


@pytest.mark.anyio
async def test_step_travel_stays_put_while_new_snapshots_arrive(tmp_path: Path) -> None:
    directory = tmp_path / "live"
    run = write_synthetic_run(directory, n_examples=30, n_steps=10, seed=5, upto=6)
    app = app_for(directory)
    async with app.run_test(size=SIZE) as pilot:
        main = await wait_loaded(pilot)
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert main.view_step == int(run.steps[4])
        store = SnapshotStore(directory, fsync=False)
        store.write(run.snapshot(6))
        await wait_for(pilot, lambda: main.state.history.n_steps == 7, "the new snapshot")
        await pilot.pause()
        assert main.view_step == int(run.steps[4])  # still looking at the past
        assert main.rows is not None and main.rows.columns.step == int(run.steps[4])
        await pilot.press("escape")
        await pilot.pause()
        assert main.rows.columns.step == int(run.steps[6])


# -- sorting ----------------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_the_default_order_is_by_id_and_the_header_says_so(tmp_path: Path) -> None:
    # File order is neither id order nor its reverse; "q10" after "q9" tells natural order from text order.
    ids = ["q9", "b2", "q10", "a1", "q1", "b10"]
    expected = {i: str(n) for n, i in enumerate(ids)}
    directory = write_plan(tmp_path / "ids", expected, {0: expected, 10: expected})
    async with app_for(directory).run_test(size=SIZE) as pilot:
        main = await wait_loaded(pilot)
        assert shown_ids(main) == ["a1", "b2", "b10", "q1", "q9", "q10"]  # sorted by id, as "id▲" says
        assert "id▲" in main.query_one("ExampleTable").render_line(0).text
        await pilot.press("S")
        await pilot.pause()
        assert shown_ids(main) == ["q10", "q9", "q1", "b10", "b2", "a1"]
        assert "id▼" in main.query_one("ExampleTable").render_line(0).text
        # s walks every column and comes back to id.
        for _ in COLUMN_KEYS:
            await pilot.press("s")
        await pilot.pause()
        assert main.query_state.sort == "id" and shown_ids(main)[0] == "a1"


@pytest.mark.anyio
async def test_every_footer_label_fits_80_columns(run_dir: Path) -> None:
    async with app_for(run_dir).run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        footer = screen_lines(pilot.app)[-1]
        assert "m Map" in footer and footer.rstrip().endswith("^p palette"), footer


# -- regressions ------------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_regressions_are_listed_and_marked_on_the_sparkline(run_dir: Path) -> None:
    history, _, _ = load_run(run_dir)
    expected = compute_dynamics(history)
    assert expected.regressions, "the synthetic run has unstable examples: some snapshots go backwards"
    app = app_for(run_dir)
    async with app.run_test(size=SIZE) as pilot:
        main = await wait_loaded(pilot)
        # The sparkline marks the regressions where accuracy fell.
        fell = [r.step for r in expected.regressions if r.accuracy_change < 0]
        assert main.query_one(MetricsBar)._regressions == fell
        await pilot.press("r")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RegressionsScreen)
        options = screen.query_one(OptionList)
        assert [o.id for o in options.options] == [str(r.step) for r in expected.regressions]
        await pilot.press("s")  # worst first: the largest accuracy drop
        await pilot.pause()
        worst = min(expected.regressions, key=lambda r: (r.accuracy_change, -r.n_forgotten, r.step))
        assert options.options[0].id == str(worst.step)
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("end", "up", "enter")
        await pilot.pause()
        wanted = expected.regressions[-2].step
        assert main.view_step == (None if wanted == history.latest_step else wanted)


def test_sparkline_marks_the_regression_bars() -> None:
    run = SyntheticRun(20, 8, seed=2)
    from evotui.analysis.history import RunHistory

    history = RunHistory.from_snapshots(run.snapshot(k) for k in range(8))
    steps = [history.steps[2], history.steps[5]]
    text = metrics_text(history, 120, steps)
    start = next(i for i, ch in enumerate(text.plain) if ch in BARS)  # the accuracy bars come first
    red = sorted({i - start for span in text.spans if "red" in str(span.style) for i in range(span.start, span.end)})
    assert [p for p in red if p >= 0] == [2, 5]
    # Long runs are bucketed: the mark lands on the bucket holding the step.
    assert sparkline_positions(100, 10, [0, 55, 99]) == {0, 5, 9}


# -- compare ----------------------------------------------------------------------------------------
def test_diff_highlights_only_the_changed_characters() -> None:
    old, new = diff_texts("hello 12", "help 13")
    assert old.plain == "hello 12" and new.plain == "help 13"
    removed = "".join(old.plain[s.start : s.end] for s in old.spans if s.style == REMOVED)
    added = "".join(new.plain[s.start : s.end] for s in new.spans if s.style == ADDED)
    assert removed == "lo2" and added == "p3"
    hostile_old, hostile_new = diff_texts("[b]x\x1b[2J", "[b]y\x1b[2J")
    assert "\x1b" not in hostile_old.plain + hostile_new.plain and "[b]" in hostile_new.plain
    absent, present = diff_texts(None, "5")
    assert absent.plain == "(absent)" and present.plain == "5"


@pytest.mark.anyio
async def test_compare_mode_shows_two_snapshots_and_what_changed(run_dir: Path) -> None:
    history, _, _ = load_run(run_dir)
    steps = history.steps
    app = app_for(run_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("c")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert (screen.step_a, screen.step_b) == (steps[-2], steps[-1])

        def changed(a: int, b: int) -> list[str]:
            ca, cb = history.columns[a], history.columns[b]
            return [e for i, e in enumerate(history.example_ids) if ca.output(i) != cb.output(i)]

        title = str(screen.query_one("#compare-title").render())
        assert f"{len(changed(steps[-2], steps[-1]))} of 40 examples changed" in title
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert (screen.step_a, screen.step_b) == (steps[-3], steps[-2])
        title = str(screen.query_one("#compare-title").render())
        assert f"{len(changed(steps[-3], steps[-2]))} of 40 examples changed" in title
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, StepPickerScreen)
        await pilot.press("home", "enter")
        await pilot.pause()
        assert (screen.step_a, screen.step_b) == (steps[0], steps[-2])
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


# -- export -----------------------------------------------------------------------------------------
@pytest.mark.anyio
async def test_e_exports_the_rows_the_filter_shows(run_dir: Path, tmp_path: Path) -> None:
    history, _, _ = load_run(run_dir)
    expected = compute_dynamics(history)
    app = app_for(run_dir)
    target = tmp_path / "wrong.jsonl"
    async with app.run_test(size=SIZE) as pilot:
        main = await wait_loaded(pilot)
        main.action_quick("wrong")
        await pilot.pause()
        wrong_now = shown_ids(main)
        await pilot.press("e")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ExportScreen)
        field = dialog.query_one("#export-path")
        field.value = str(tmp_path / "nope.txt")  # type: ignore[attr-defined]
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog  # refused, with the reason, nothing written
        assert "name the file .csv, .jsonl or .parquet" in str(dialog.query_one("#export-problem").render())
        field.value = str(target)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: main.last_export is not None, "the export")
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert sorted({r["example_id"] for r in rows}) == sorted(wrong_now)
    assert len(rows) == len(wrong_now) * len(history.steps)
    status = dict(zip(expected.example_ids, expected.status.tolist(), strict=True))
    assert all(r["status"] == status[r["example_id"]] for r in rows)
    assert not list(tmp_path.glob("nope*")) and not list(tmp_path.glob(".wrong*"))


@pytest.mark.anyio
async def test_export_while_travelling_stops_at_the_viewed_step(run_dir: Path, tmp_path: Path) -> None:
    history, _, _ = load_run(run_dir)
    app = app_for(run_dir)
    target = tmp_path / "past.csv"
    async with app.run_test(size=SIZE) as pilot:
        main = await wait_loaded(pilot)
        await pilot.press("left_square_bracket")
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen)
        assert app.screen.default_path.endswith(f"step{history.steps[-2]}.csv")
        app.screen.query_one("#export-path").value = str(target)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: main.last_export is not None, "the export")
    with open(target, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {int(r["step"]) for r in rows} == set(history.steps[:-1])
    then = compute_dynamics(history, until_step=history.steps[-2])
    status = dict(zip(then.example_ids, then.status.tolist(), strict=True))
    assert all(r["status"] == status[r["example_id"]] for r in rows)


# -- pictures ---------------------------------------------------------------------------------------
def _snapshot_app(tmp_path: Path) -> EvotuiApp:
    directory = tmp_path / "demo"
    write_synthetic_run(directory, n_examples=40, n_steps=12, seed=3)
    return app_for(directory)


async def _loaded(pilot: Pilot) -> None:
    await wait_loaded(pilot)


class TestPictures:
    def test_data_map(self, snap_compare, tmp_path: Path) -> None:
        assert snap_compare(_snapshot_app(tmp_path), press=["m"], terminal_size=SIZE, run_before=_loaded)

    def test_step_travel(self, snap_compare, tmp_path: Path) -> None:
        assert snap_compare(
            _snapshot_app(tmp_path),
            press=["left_square_bracket", "left_square_bracket", "down", "down"],
            terminal_size=SIZE,
            run_before=_loaded,
        )

    def test_compare(self, snap_compare, tmp_path: Path) -> None:
        assert snap_compare(_snapshot_app(tmp_path), press=["c"], terminal_size=SIZE, run_before=_loaded)


@pytest.mark.anyio
async def test_one_snapshot_run_has_an_empty_map_and_nothing_to_compare(tmp_path: Path) -> None:
    directory = write_plan(tmp_path / "first", {"a": "1", "b": "2"}, {0: {"a": "1", "b": "x"}})
    app = app_for(directory)
    async with app.run_test(size=SIZE) as pilot:
        main = await wait_loaded(pilot)
        await pilot.press("c")  # no earlier snapshot: a warning, no screen
        await pilot.pause()
        assert app.screen is main
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert main.view_step is None
        await pilot.press("m")
        await pilot.pause()
        assert isinstance(app.screen, DataMapScreen)
        assert "0 of 2 examples mapped" in str(app.screen.query_one("#data-map-title").render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is main
