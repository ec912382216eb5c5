"""Live updates repaint only what changed: the example table's lines, the header and the metrics line.

A run writing several snapshots a second must not cost the UI thread the whole table each time: a line
is rebuilt when what it shows changed (its example's values, the cursor on it), and only then. The
tests count the lines the real table builds (``render_line``) while a real snapshot file arrives.
"""

from __future__ import annotations

from pathlib import Path

from evotui.watch.app import make_app
from evotui.watch.widgets.example_table import ExampleTable
from tests._watch_helpers import screen_lines, sync, wait_for, wait_loaded
from tracker.schema import ExampleResult, Snapshot
from tracker.scoring import summarize
from tracker.store import SnapshotStore

SIZE = (120, 36)
FAST = 0.05
N = 60  # more examples than the table's lines: some are below the screen


def snapshot(step: int, outputs: dict[int, str] | None = None) -> Snapshot:
    """Every example the same at every step, except ``outputs`` (index -> a wrong output)."""
    changed = outputs or {}
    examples = [
        ExampleResult(
            example_id=f"ex_{i:02d}",
            input=f"What is {i}+1?",
            expected_output=str(i + 1),
            model_output=changed.get(i, str(i + 1)),
            exact_match=i not in changed,
            similarity=0.5 if i in changed else 1.0,
            loss=0.5,
        )
        for i in range(N)
    ]
    return Snapshot(training_step=step, examples=examples, summary=summarize(examples))


class LineLog:
    """The screen lines (y) the table builds from now on."""

    def __init__(self, table: ExampleTable) -> None:
        self.lines: list[int] = []
        render_line = table.render_line

        def logged(y: int):  # type: ignore[no-untyped-def]
            self.lines.append(y)
            return render_line(y)

        table.render_line = logged  # type: ignore[method-assign]


def run_at_step_0(tmp_path: Path) -> tuple[Path, SnapshotStore]:
    """A run directory holding step 0, and the store that writes its next snapshots."""
    run_dir = tmp_path / "run"
    store = SnapshotStore(run_dir, fsync=False)
    store.ensure()
    store.write(snapshot(0))
    return run_dir, store


def table_line(app, table: ExampleTable, y: int) -> str:  # type: ignore[no-untyped-def]
    return screen_lines(app)[table.region.y + y][table.region.x : table.region.right]


@sync
async def test_a_snapshot_repaints_the_rows_it_changed_and_no_other(tmp_path: Path) -> None:
    run_dir, store = run_at_step_0(tmp_path)
    app = make_app(run_dir, interval=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, 1)
        screen = app.screen
        table = screen.query_one(ExampleTable)
        await pilot.press("down", "down")  # the cursor on ex_02 (line 3)
        await pilot.pause()
        y_changed = 6  # ex_05, sorted by id under the header
        assert "ex_05" in table_line(app, table, y_changed)
        log = LineLog(table)
        store.write(snapshot(10, {5: "a new answer"}))
        await wait_for(pilot, lambda: screen.state.history.n_steps == 2)
        await wait_for(pilot, lambda: "a new answer" in table_line(app, table, y_changed))
        # The changed row, and the header (its output title names the step: "output @10"); not the
        # cursor row nor any other.
        assert set(log.lines) <= {0, y_changed}
        assert "@10" in table_line(app, table, 0)
        assert table.cursor == 2 and table.scroll_offset.y == 0

        # The cursor moving builds two lines, the one it leaves and the one it reaches.
        log.lines.clear()
        await pilot.press("down")
        await wait_for(pilot, lambda: set(log.lines) >= {3, 4})
        assert set(log.lines) == {3, 4}

        # A snapshot that changes nothing shown (the same values at a new step) rebuilds no row.
        await pilot.press("end")  # scrolled: the rows on screen are the last ones
        await pilot.pause()
        log.lines.clear()
        store.write(snapshot(20, {5: "a new answer"}))
        await wait_for(pilot, lambda: screen.state.history.n_steps == 3)
        await wait_for(pilot, lambda: "@20" in table_line(app, table, 0))
        assert set(log.lines) == {0}


@sync
async def test_a_row_drawn_before_shows_its_new_values_when_it_comes_back(tmp_path: Path) -> None:
    # Lines are cached by what they show: a row scrolled away, changed meanwhile, and scrolled back
    # to is drawn with its new values, never the line built before.
    run_dir, store = run_at_step_0(tmp_path)
    app = make_app(run_dir, interval=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, 1)
        screen = app.screen
        table = screen.query_one(ExampleTable)
        assert "ex_01" in table_line(app, table, 2)
        await pilot.press("end")
        await pilot.pause()
        store.write(snapshot(10, {1: "changed while away"}))
        await wait_for(pilot, lambda: screen.state.history.n_steps == 2)
        await pilot.press("home")
        await wait_for(pilot, lambda: "ex_01" in table_line(app, table, 2))
        assert "changed while away" in table_line(app, table, 2)


@sync
async def test_focus_moving_to_the_filter_and_back_changes_the_footer_keys_in_place(tmp_path: Path) -> None:
    # Textual's footer rebuilds a widget per key on every focus change, and holds the screen's updates
    # while it does. Here the filter hides the letter keys (it types them) and enter brings them back:
    # one footer widget, its line drawn again.
    from evotui.watch.widgets.footer import KeysFooter

    run_dir, _store = run_at_step_0(tmp_path)
    app = make_app(run_dir, interval=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, 1)
        screen = app.screen
        footer = screen.query_one(KeysFooter)
        assert not footer.children
        assert "Quit" in screen_lines(app)[-1]
        assert [e.description for e in footer.entries][:2] == ["Quit", "Filter"] and footer.palette is not None
        await pilot.press("slash", "q")
        await wait_for(pilot, lambda: screen.query_state.text == "q")  # typed, not quit
        await wait_for(pilot, lambda: "Quit" not in screen_lines(app)[-1])
        assert "palette" in screen_lines(app)[-1]  # the palette's key stays
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.focused, ExampleTable))
        await wait_for(pilot, lambda: "Quit" in screen_lines(app)[-1])
        assert screen.query_one(KeysFooter) is footer and not footer.children


@sync
async def test_a_footer_key_pointed_at_is_highlighted_and_clicked_is_pressed(tmp_path: Path) -> None:
    from evotui.watch.screens.help import HelpScreen
    from evotui.watch.widgets.footer import KeysFooter

    run_dir, _store = run_at_step_0(tmp_path)
    app = make_app(run_dir, interval=FAST)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot, 1)
        footer = app.screen.query_one(KeysFooter)
        start, _end, help_key = next(span for span in footer._spans if span[2].description == "Help")
        assert footer.entry_at(start) is help_key and footer.entry_at(SIZE[0] - 1) is footer.palette
        await pilot.hover(KeysFooter, offset=(start + 1, 0))
        await wait_for(pilot, lambda: footer._hover is help_key)
        await pilot.click(KeysFooter, offset=(start + 1, 0))
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
