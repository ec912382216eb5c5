"""Issue 11: what a new user found wrong in the viewer, each checked on the real app under Pilot at a
fixed terminal size, over real snapshot files (tracker.synthetic writes them through the store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.segment import Segment
from textual.command import CommandList, CommandPalette
from textual.widgets import Input, OptionList

from evotui.analysis.table import COLUMNS
from evotui.watch.app import make_app
from evotui.watch.screens.compare import CompareScreen
from evotui.watch.screens.help import HELP
from evotui.watch.screens.main import MainScreen
from evotui.watch.screens.regressions import RegressionsScreen
from evotui.watch.widgets.detail import ExampleDetail
from evotui.watch.widgets.example_table import ExampleTable
from tests._watch_helpers import frozen_clock, screen_lines, screen_text, sync, wait_for, wait_loaded
from tracker.schema import ExampleResult, Snapshot
from tracker.scoring import summarize
from tracker.store import SnapshotStore
from tracker.synthetic import SyntheticRun, iso_at, write_synthetic_run

FAST = 0.05
README = Path(__file__).resolve().parents[1] / "README.md"


def run_of(tmp_path: Path, n_examples: int = 40, n_steps: int = 12) -> tuple[Path, SyntheticRun]:
    directory = tmp_path / "run"
    return directory, write_synthetic_run(directory, n_examples, n_steps, seed=3, step_every=50)


def main_of(app) -> MainScreen:
    screen = app.screen
    assert isinstance(screen, MainScreen)
    return screen


# -- 1. keys and focus after a pop-up ---------------------------------------------------------------
@sync
async def test_closing_any_popup_with_the_detail_full_height_leaves_keys_to_the_screen(tmp_path: Path) -> None:
    directory, run = run_of(tmp_path)
    app = make_app(directory, interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_loaded(pilot)
        main = main_of(app)
        await wait_for(pilot, lambda: main.state.dynamics is not None)
        await pilot.press("enter")  # the detail pane full height: the table is hidden
        assert main.has_class("detail-max")
        for key in ("r", "t", "m", "c", "question_mark", "e", "w"):
            await pilot.press(key)
            await wait_for(pilot, lambda: app.screen is not main)
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is main)
            assert not isinstance(main.focused, Input), key
            selected = main.selected
            await pilot.press("n")  # the screen's key, not a letter typed into the filter
            await wait_for(pilot, lambda selected=selected: main.selected != selected)
            assert main.query_one("#filter-input", Input).value == "", key
        assert "40 of 40 shown" in screen_text(app)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


# -- 2. esc in the filter ---------------------------------------------------------------------------
@sync
async def test_esc_in_the_filter_clears_it_even_after_an_earlier_filter(tmp_path: Path) -> None:
    directory, run = run_of(tmp_path)
    app = make_app(directory, interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_loaded(pilot)
        main = main_of(app)
        await pilot.press("slash", "1", "3", "enter")
        await pilot.pause()
        assert main.rows is not None and len(main.rows) < 40
        await pilot.press("slash", "7", "escape")
        await pilot.pause()
        assert main.query_one("#filter-input", Input).value == ""
        assert len(main.rows) == 40 and "40 of 40 shown" in screen_text(app)
        assert isinstance(main.focused, ExampleTable)
    # Help and README say the same rule.
    assert "esc clears it" in HELP and "esc clears it" in README.read_text()


# -- 3. a sort starts at the top --------------------------------------------------------------------
@sync
async def test_after_a_sort_the_view_and_the_cursor_start_at_the_top(tmp_path: Path) -> None:
    directory, run = run_of(tmp_path)
    app = make_app(directory, interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        main = main_of(app)
        table = main.query_one(ExampleTable)
        await pilot.press("end")  # the last row selected, the view scrolled down to it
        await pilot.pause()
        assert table.scroll_offset.y > 0
        for _ in range(5):  # sim
            await pilot.press("s")
        await pilot.press("S")  # highest similarity first
        await pilot.pause()
        assert main.query_state.sort == "sim" and main.query_state.reverse
        assert table.cursor == 0 and table.scroll_offset.y == 0
        top = float(table.rows.columns.similarity[int(table.rows.order[0])])
        assert top == max(float(v) for v in table.rows.columns.similarity)
        # The first row on screen (below the header) is the top of the order.
        first_id = main.state.history.example_ids[int(table.rows.order[0])]
        header_row = next(n for n, line in enumerate(screen_lines(app)) if line.startswith("id "))
        assert screen_lines(app)[header_row + 1].startswith(first_id)


# -- 4. the command palette -------------------------------------------------------------------------
@sync
async def test_the_command_palette_finds_every_action(tmp_path: Path) -> None:
    directory, run = run_of(tmp_path)
    app = make_app(directory, interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_loaded(pilot)
        main = main_of(app)
        titles = [title for title, _, _ in main.palette_commands()]
        # Every key of the screen has its entry (the keys the help lists).
        for title in ("Filter", "Next quick filter", "Reverse sort", "Detail pane full height", "Table full height",
                      "Next example", "Previous example", "Older snapshot", "Newer snapshot", "Go to step",
                      "Data map", "Regressions", "Compare snapshots", "Export", "Skipped files"):  # fmt: skip
            assert title in titles
        assert {f"Sort by {c.title}" for c in COLUMNS if c.key != "exact"} <= set(titles)
        # What a new user typed, in the real palette.
        for query, expected in (("comp", "Compare"), ("map", "Data map"), ("regress", "Regressions"),
                                ("export", "Export"), ("step", "Go to step")):  # fmt: skip
            await pilot.press("ctrl+p")
            await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
            await pilot.press(*query)

            def found(expected: str = expected) -> bool:
                options = app.screen.query_one(CommandList)
                return any(expected in str(options.get_option_at_index(i).prompt) for i in range(options.option_count))

            await wait_for(pilot, found)
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is main)


# -- 5. one name per column, arrows never cut -------------------------------------------------------
@sync
async def test_forgets_is_the_one_name_and_every_sort_arrow_shows_at_80_columns(tmp_path: Path) -> None:
    directory, run = run_of(tmp_path)
    app = make_app(directory, interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        main = main_of(app)
        table = main.query_one(ExampleTable)
        for _ in COLUMNS:  # s walks every column and comes back to id
            column = next(c for c in COLUMNS if c.key == main.query_state.sort)
            header = table.render_line(0).text
            assert f"{column.title}▲" in header, header
            assert "…" not in header
            await pilot.press("s")
            await pilot.pause()
        assert main.query_state.sort == "id"
        assert " forgets" in table.render_line(0).text
        assert " forgotten " in screen_lines(app)[2] and "forgot " not in screen_lines(app)[2]  # the quick filter
        assert "Sort by forgets" in [title for title, _, _ in main.palette_commands()]
    assert "**forgets**" in HELP and "forgot " not in HELP and "file order" not in HELP
    assert "file order" not in README.read_text()


# -- 6. notifications -------------------------------------------------------------------------------
@sync
async def test_a_new_snapshot_toast_sits_on_the_footer_line_only(tmp_path: Path) -> None:
    directory = tmp_path / "live"
    run = write_synthetic_run(directory, 30, 8, seed=1, upto=3, max_steps=70)
    for size in ((120, 36), (80, 24)):
        app = make_app(directory, interval=FAST, clock=frozen_clock(run))
        async with app.run_test(size=size, notifications=True) as pilot:
            await wait_loaded(pilot)
            main = main_of(app)
            k = main.state.history.n_steps
            SnapshotStore(directory, fsync=False).write(run.snapshot(k))
            await wait_for(pilot, lambda main=main, k=k: main.state.history.n_steps == k + 1)
            await wait_for(pilot, lambda main=main: bool(main.query("Toast")))
            await pilot.pause()
            for toast in main.query("Toast"):
                region = toast.region
                assert region.height == 1 and region.y == size[1] - 1, (size, region)  # the footer's line
            # A warning with a title and a long message: one line too, the title leading it.
            (directory / "step_009999.json").write_text('{"training_step": 9999, "examples": [')
            await wait_for(pilot, lambda main=main: bool(main.state.errors))
            await wait_for(pilot, lambda main=main: "unreadable snapshot: " in str(main.query("Toast").last().render()))
            await pilot.pause()
            shown = [toast for toast in main.query("Toast") if toast.region.height]
            assert len(shown) == 1, shown  # the newest only: a stack would climb over the content
            assert "unreadable snapshot: " in str(shown[0].render())
            assert shown[0].region.height == 1 and shown[0].region.y == size[1] - 1, (size, shown[0].region)
            (directory / "step_009999.json").unlink()


# -- 7. nothing cut that matters --------------------------------------------------------------------
@sync
async def test_at_80x24_inputs_are_whole_and_the_detail_title_never_ends_mid_phrase(tmp_path: Path) -> None:
    directory, run = run_of(tmp_path)
    app = make_app(directory, interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        main = main_of(app)
        await wait_for(pilot, lambda: main.state.dynamics is not None)
        table = main.query_one(ExampleTable)
        for _ in range(table.page_rows):
            index = main.selected
            assert index is not None
            line = table.render_line(table.cursor - int(table.scroll_offset.y) + 1).text
            assert run.inputs[index].strip() in line, line
            detail = main.query_one(ExampleDetail)
            await wait_for(pilot, lambda d=detail, i=index: d.shown is not None and d.shown[2] == i)
            title = str(detail.query_one("#detail-title").render()).rstrip()
            assert not title.endswith(("·", "…")) and len(title) <= 80, title
            await pilot.press("down")


@sync
async def test_step_travel_keeps_the_legend_and_the_input_in_sight(tmp_path: Path) -> None:
    directory, run = run_of(tmp_path, n_steps=30)
    app = make_app(directory, interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_loaded(pilot)
        main = main_of(app)
        await wait_for(pilot, lambda: main.state.dynamics is not None)
        await pilot.press(*["left_square_bracket"] * 20)
        detail = main.query_one(ExampleDetail)
        await wait_for(pilot, lambda: detail.shown is not None and detail.shown[4] == main.view_step)
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "━ loss ━ similarity ✓ right" in text
        assert f"input    {run.inputs[main.selected]}" in text
        assert f"◀ step {main.view_step:,}" in text


@pytest.mark.parametrize("size", [(120, 36), (80, 24)])
@sync
async def test_the_regressions_list_shows_its_whole_title_and_one_line_per_row(tmp_path: Path, size) -> None:
    directory, run = run_of(tmp_path, n_steps=30)
    app = make_app(directory, interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=size) as pilot:
        await wait_loaded(pilot)
        await wait_for(pilot, lambda: main_of(app).state.dynamics is not None)
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RegressionsScreen))
        await pilot.pause(0.1)
        text = screen_text(app)
        assert "esc: close" in text
        options = app.screen.query_one(OptionList)
        regressions = app.screen.dynamics.regressions
        steps_on_screen = [line for line in screen_lines(app) if "(from " in line]
        assert len(steps_on_screen) == min(len(regressions), options.scrollable_content_region.height)
        assert all("accuracy" in line for line in steps_on_screen)  # no row wrapped onto a second line


# -- 8. say what is empty ---------------------------------------------------------------------------
@sync
async def test_a_filter_that_matches_nothing_says_so(tmp_path: Path) -> None:
    directory, run = run_of(tmp_path)
    app = make_app(directory, interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("slash", *"zzz[b]")
        detail = main_of(app).query_one(ExampleDetail)
        await wait_for(pilot, lambda: detail.shown is not None and detail.shown[2] is None)
        await pilot.pause(0.1)
        text = screen_text(app)
        assert text.count("no example matches 'zzz[b]'") == 2  # in the table and in the detail pane
        assert "no example selected" not in text and "no data" not in text


@sync
async def test_compare_says_whether_it_shows_the_changed_or_all(tmp_path: Path) -> None:
    directory, run = run_of(tmp_path)
    app = make_app(directory, interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        await wait_for(pilot, lambda: main_of(app).state.dynamics is not None)
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen))
        await pilot.pause()
        title = " ".join(line.strip() for line in screen_lines(app)[:2])  # it wraps at 80 columns, not cut
        assert "showing the changed (c: all)" in title and "removed added" in title
        await pilot.press("c")
        await pilot.pause()
        title = " ".join(line.strip() for line in screen_lines(app)[:2])
        assert "showing all" in title and "showing the changed" not in title


@sync
async def test_one_snapshot_the_curve_axis_shows_its_step_not_minus_one_to_one(tmp_path: Path) -> None:
    directory = tmp_path / "one"
    run = write_synthetic_run(directory, 5, 1)
    app = make_app(directory, interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_loaded(pilot)
        await pilot.pause(0.1)
        plot_lines = screen_lines(app)[-8:]
        assert not any("-1.00" in line or "-1" in line.split("┤")[0] for line in plot_lines), plot_lines
        assert not any("1.00 " in line.split("│")[0] for line in plot_lines if "└" not in line)
        axis = next(line for line in plot_lines if "└" in line)
        labels = plot_lines[plot_lines.index(axis) + 1].split()
        assert labels[0] == "0", labels


# -- 9. the curves' x axis ---------------------------------------------------------------------------
@sync
async def test_curves_spread_a_log_spaced_schedule_over_the_plot(tmp_path: Path) -> None:
    steps = [0, 10, 25, 50, 100, 250, 1_000, 10_000, 100_000, 1_000_000]
    directory = tmp_path / "long"
    store = SnapshotStore(directory, fsync=False)
    for k, step in enumerate(steps):
        rows = [
            ExampleResult(example_id="a", input="x", expected_output="1", model_output="1" if k % 2 else "0",
                          loss=1.0 / (k + 1), similarity=float(k % 2), exact_match=bool(k % 2)),
        ]  # fmt: skip
        store.write(Snapshot(training_step=step, examples=rows, timestamp=iso_at(k), summary=summarize(rows)))
    app = make_app(directory, interval=FAST, clock=lambda: 1_767_268_900.0)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_loaded(pilot)
        await pilot.pause(0.1)
        lines = screen_lines(app)
        axis = next(n for n, line in enumerate(lines) if "└" in line)
        labels = lines[axis + 1].split()
        # Early snapshots have their own places on the axis, labelled with their steps.
        assert labels[0] == "0" and "1,000,000" in labels and len(labels) >= 4
        assert any(label in labels for label in ("10", "25", "50", "100"))
        assert "x: by snapshot" in screen_text(app)  # and the screen says so
        # The ✓ marks (every other snapshot) spread over the plot instead of piling up at its left edge.
        marks = [line.index("✓") for line in lines[:axis] if "✓" in line]
        plot = lines[axis]
        assert marks and max(line.rindex("✓") for line in lines[:axis] if "✓" in line) > plot.index("└") + 20


# -- 10. the seed's format --------------------------------------------------------------------------
@sync
async def test_a_seed_format_run_gets_its_similarity_sparkline_from_the_rows(tmp_path: Path) -> None:
    directory = tmp_path / "seed"
    directory.mkdir()
    seed = json.loads((Path(__file__).parent / "data" / "seed_step_000100.json").read_text())
    assert "avg_similarity" not in seed["summary"]
    for step in (100, 200):
        seed["training_step"] = step
        (directory / f"step_{step:06d}.json").write_text(json.dumps(seed))
    sims = [row["similarity"] for row in seed["examples"]]
    app = make_app(directory, interval=FAST, clock=lambda: 1_767_268_900.0)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_loaded(pilot)
        metrics = screen_lines(app)[1]
        assert f"Similarity {sum(sims) / len(sims):.2f}" in metrics, metrics


# -- 15. the cursor row ------------------------------------------------------------------------------
@sync
async def test_every_cell_of_the_cursor_row_is_one_legible_colour_pair(tmp_path: Path) -> None:
    directory, run = run_of(tmp_path)
    app = make_app(directory, interval=FAST, clock=frozen_clock(run))
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_loaded(pilot)
        main = main_of(app)
        await wait_for(pilot, lambda: main.state.dynamics is not None)
        table = main.query_one(ExampleTable)
        statuses = set()
        for _ in range(len(run.example_ids)):  # every status passes under the cursor
            index = int(table.rows.order[table.cursor])
            statuses.add(str(table.rows.columns.status[index]))
            strip = table.render_line(table.cursor - int(table.scroll_offset.y) + 1)
            pairs = {(s.style.color, s.style.bgcolor) for s in strip if isinstance(s, Segment) and s.text.strip()}
            assert len(pairs) == 1, pairs  # the theme's cursor colours, not a status colour on the cursor's
            assert not any(s.style.dim for s in strip if s.text.strip())
            await pilot.press("down")
        assert {"learned", "unstable", "forgotten", "never"} <= statuses
