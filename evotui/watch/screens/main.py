"""``MainScreen``: one run, followed live: header, metrics, filter bar, example table, detail pane.

The screen subscribes to its run's service (owned by the App, ``evotui.watch.service``) and swaps in
each ``RunView`` it posts: the reading, decoding and dynamics happen in the service's thread, and
this screen only redraws what is on screen (see the threading model in service.py).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from evotui.analysis.table import COLUMN_KEYS, COLUMNS, QUICK_FILTERS, TableQuery, TableRows, table_rows
from evotui.watch.dynamics_actions import DYNAMICS_BINDINGS, DynamicsActions, regression_steps
from evotui.watch.failure_log import record_failure
from evotui.watch.insight_actions import INSIGHT_BINDINGS, InsightActions
from evotui.watch.messages import ExampleSelected
from evotui.watch.screens.waiting import WaitingScreen
from evotui.watch.service import RunService, RunUpdated, RunView
from evotui.watch.text import visible
from evotui.watch.widgets.detail import ExampleDetail
from evotui.watch.widgets.example_table import ExampleTable, SortRequested, no_match_note
from evotui.watch.widgets.filter_bar import FilterBar, QuickFilters
from evotui.watch.widgets.footer import KeysFooter
from evotui.watch.widgets.metrics import MetricsBar
from evotui.watch.widgets.run_header import RunHeader

Clock = Callable[[], float]
FOOTER_ROOMY_WIDTH = 84  # narrower: a compact footer (MainScreen's footer needs 81 columns padded, 69 compact)
DETAIL_DELAY = 0.06  # seconds of quiet before the detail pane follows the table's cursor
# New data reaches the detail pane at most this often. Its redraw is built in a thread (widgets/detail.py),
# but still costs ~100-300 ms of CPU for a long history (the plotext figure, the wrapped history lines),
# which the UI thread shares (one GIL), so a run writing several snapshots a second must not redraw it for each.
LIVE_DETAIL_EVERY = 2.0


class MainScreen(DynamicsActions, InsightActions, Screen[None]):
    """One run, followed live (step travel, data map, compare and export come from DynamicsActions)."""

    # No automatic focus: Textual's would give it to the first focusable widget, the filter box, after a
    # pop-up closes while the table is hidden (detail pane full height), and then "q" would type a q.
    # ``focus_pane`` decides instead.
    AUTO_FOCUS = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "app.quit", "Quit"),
        # Priority: handled as the key arrives, so keys typed right after "/" already reach the filter.
        Binding("slash", "focus_filter", "Filter", priority=True),
        Binding("f", "next_quick", "Quick", tooltip="Next quick filter"),
        Binding("s", "next_sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse sort", show=False),
        Binding("enter,d", "toggle_detail", "Detail"),
        Binding("n", "move(1)", "Next example", show=False),
        Binding("p", "move(-1)", "Previous example", show=False),
        # Not priority: keys typed into the filter just before esc must reach it before esc resets it.
        Binding("escape", "step_out", "Back", show=False),
        # Enter in the filter, handled as the key arrives (see "/"): the next keys go to the table.
        Binding("enter", "submit_filter", "Apply filter", show=False, priority=True),
        Binding("question_mark", "app.help", "Help"),
        # Keys left free for the dynamics screens: [ ] t m r c e.
        Binding("w", "show_skipped", "Skipped files", show=False),
        Binding("z", "toggle_table", "Table only", show=False),
        *DYNAMICS_BINDINGS,
        *INSIGHT_BINDINGS,
    ]

    def __init__(self, path: Path, clock: Clock = time.time, from_picker: bool = False) -> None:
        super().__init__()
        self.path = path
        self.clock = clock
        self.from_picker = from_picker
        self.service: RunService | None = None  # the App's, for this run: this screen only subscribes
        self.view = RunView.empty(path)  # the latest view drawn; replaced whole, never changed
        self.query_state = TableQuery()
        self.rows: TableRows | None = None
        self.selected: int | None = None
        self._waiting: WaitingScreen | None = None
        self._detail_timer: Timer | None = None
        self._live_detail_timer: Timer | None = None
        self.loaded = False  # the first snapshots are on screen (tests and benches wait for this)
        # Per view taken in: (snapshots held, files read, read+decode s and derive s in the service's
        # thread, s on the UI thread to take it in, the service thread's CPU s for the poll). For the benches.
        self.timings: deque[tuple[int, int, float, float, float, float]] = deque(maxlen=256)

    @property
    def state(self) -> RunView:
        """The run as drawn now (the latest view taken in)."""
        return self.view

    def compose(self) -> ComposeResult:
        yield RunHeader(id="run-header")
        yield MetricsBar(id="metrics")
        yield FilterBar(id="filter-bar")
        yield ExampleTable(id="examples")
        yield ExampleDetail(id="detail")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one(QuickFilters).show(self.query_state.quick)
        self.query_one(ExampleTable).focus()
        self._update_header()
        self.set_interval(1.0, self._update_header)
        self.service = self.app.open_run(self.path)  # type: ignore[attr-defined]
        self.service.subscribe(self, tells_when_drawn=True)

    def on_resize(self) -> None:
        self.query_one(QuickFilters).show(self.query_state.quick)  # short labels on narrow terminals
        # Every footer label fits 80 columns only without the padding around each key.
        self.query_one(KeysFooter).compact = self.size.width < FOOTER_ROOMY_WIDTH

    def on_unmount(self) -> None:
        if self.service is not None:
            self.service.unsubscribe(self)
            self.app.close_run(self.path)  # type: ignore[attr-defined]
            self.service = None

    # -- the run's data (views from the service) ------------------------------------------------------
    def on_run_updated(self, message: RunUpdated) -> None:
        started = time.perf_counter()
        previous, view = self.view, message.view
        if view.path != self.path or view.version <= previous.version:
            return
        self._take(previous, view)
        self.timings.append(
            (
                view.history.n_steps,
                view.files_read,
                view.read_seconds,
                view.derive_seconds,
                time.perf_counter() - started,
                view.thread_seconds,
            )
        )

    def _take(self, previous: RunView, view: RunView) -> None:
        """Swap in ``view`` and redraw what changed. O(rows on screen + steps), never O(examples x steps)."""
        self.view = view
        if view.holds_runs and not view.loaded and not self.from_picker:
            # An empty DIR where runs appear in subdirectories: it is a directory of runs.
            self.app.show_run_picker(self.path)  # type: ignore[attr-defined]
            return
        for path, error in view.errors.items():
            if previous.errors.get(path) != error:
                self.notify(visible(f"skipped {error}"), title="unreadable snapshot", severity="warning", markup=False)
        if view.polled:
            self._sync_waiting()
        data_changed = view.history.version != previous.history.version or view.dynamics is not previous.dynamics
        if data_changed:
            # The detail pane (a plot) always follows a moment later: the first data on screen does not
            # wait for it, and a burst of live views costs it one redraw.
            self.refresh_data(live=True)
            latest = view.history.latest_step
            if previous.loaded and latest is not None and latest not in previous.history.columns:
                self._announce_snapshot(latest)
        self.announce_insights(previous, view)
        self._update_header()
        if view.loaded:
            if not self.loaded:
                # After the first frame with the run: the startup objects, drawn once, are kept for good,
                # and the service goes on with the dynamics it held back for that frame.
                self.call_after_refresh(self._first_data_drawn)
            self.loaded = True

    def _first_data_drawn(self) -> None:
        self.app.freeze_startup_objects()  # type: ignore[attr-defined]
        if self.service is not None:
            self.service.first_data_drawn()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker of this screen (export, step travel) that raised: shown and logged, never silent."""
        error = event.worker.error
        if event.state != WorkerState.ERROR or error is None:
            return
        what = event.worker.description or event.worker.name or "background work"
        log = record_failure(f"worker: {what}", error)
        where = f" (traceback in {log})" if log is not None else ""
        self.notify(visible(f"{what} failed: {type(error).__name__}: {error}{where}"), severity="error", markup=False)

    def _sync_waiting(self) -> None:
        if self.state.history.n_steps == 0 and not self.state.load.active:
            if self._waiting is None:
                self._waiting = WaitingScreen(str(self.path))
                self.app.push_screen(self._waiting)
            detail = self.state.dir_message
            if self.state.failure is not None:
                detail = f"{detail}\nerror: {self.state.failure.reason}".strip()
            self._waiting.show_state(detail)
        elif self._waiting is not None:
            if self.app.screen is self._waiting:
                self.app.pop_screen()
            self._waiting = None

    def _announce_snapshot(self, step: int | None) -> None:
        if step is None:
            return
        change = self.state.summary_change()
        forgotten = self.state.newly_forgotten(step)
        parts = [f"new snapshot: step {step:,}"]
        if change is not None:
            acc, delta = change
            arrow = "▲" if delta > 0 else "▼" if delta < 0 else "="
            parts.append(f"accuracy {acc:.1%} ({arrow}{abs(delta) * 100:.1f})")
        if forgotten:
            parts.append(f"{forgotten} newly forgotten")
        # One toast at a time: a fast run must not bury the screen under a stack of them.
        self.app.clear_notifications()
        # No title: a one-line toast, over the footer's key hints only (see app.tcss).
        self.notify(" · ".join(parts), markup=False, timeout=3)

    # -- drawing -------------------------------------------------------------------------------------
    def _update_header(self) -> None:
        self.query_one(RunHeader).show(self.state, self.clock())

    def refresh_data(self, live: bool = False) -> None:
        """Everything that depends on the run's data (after new snapshots).

        ``live``: an update of a run already on screen; the detail pane (a plot, a long history)
        then follows after a short quiet time, like a cursor move, so a burst of snapshots costs it
        one redraw.
        """
        self.query_one(MetricsBar).show(self.state.history, regression_steps(self.state.dynamics))
        self.refresh_table()
        if not live:
            self._show_detail()
        elif self._live_detail_timer is None:  # one pending redraw for any number of views meanwhile
            delay = DETAIL_DELAY if not self.loaded else LIVE_DETAIL_EVERY
            self._live_detail_timer = self.set_timer(delay, self._live_detail)

    def refresh_table(self, follow: bool = False) -> None:
        """Rows for the current filter, sort and step; the table keeps its selected example.

        ``follow``: the person changed the filter or the sort, so scroll to where the selected
        example went. Live updates (``follow=False``) never move the view under the reader.
        """
        dynamics = self.view_dynamics()
        if dynamics is None and self.travel_pending:
            # As of an earlier step, its dynamics still computing in a thread: the note says so now,
            # the table fills in when they arrive (``on_travel_computed``).
            shown = len(self.rows) if self.rows is not None else 0
            self.query_one(FilterBar).show_count(shown, self.state.history.n_examples, self.travel_note())
            return
        self.rows = table_rows(self.state.history, dynamics, self.query_state)
        table = self.query_one(ExampleTable)
        table.show(self.rows, self.state.history)
        if follow:
            table.scroll_to_cursor()
        self.query_one(FilterBar).show_count(len(self.rows), self.rows.total, self.travel_note())
        detail = self.query_one(ExampleDetail)
        detail.empty_note = no_match_note(self.rows.query) if not len(self.rows) else None
        if detail.empty_note is not None and self.selected is None:
            self._show_detail()  # cheap without an example, and the note follows the typing

    def _show_detail(self) -> None:
        if self.travel_pending:
            return  # shown with the travelled table, when its dynamics arrive
        self.query_one(ExampleDetail).show(self.state.history, self.view_dynamics(), self.selected, self.view_step)

    def on_example_selected(self, message: ExampleSelected) -> None:
        # The table moves at once; the detail pane (plot, long history) follows when the cursor or
        # the filter pauses, so that key repeat and typing never queue up its renders.
        self.selected = message.index
        self._schedule_detail()

    def _live_detail(self) -> None:
        self._live_detail_timer = None
        self._show_detail()

    def _schedule_detail(self) -> None:
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(DETAIL_DELAY, self._show_detail)

    # -- filter, sort, panes -------------------------------------------------------------------------
    @on(Input.Changed, "#filter-input")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_state.text = event.value
        self.refresh_table(follow=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # "/" is a priority binding (see BINDINGS); in the filter itself it is text: let it through.
        if action == "focus_filter" and isinstance(self.focused, Input):
            return False
        if action == "submit_filter" and not isinstance(self.focused, Input):
            return False  # enter elsewhere: the table's "enter" (detail pane)
        return super().check_action(action, parameters)

    def action_submit_filter(self) -> None:
        self.focus_pane()

    def action_focus_filter(self) -> None:
        self.set_focus(self.query_one("#filter-input", Input))

    def action_quick(self, key: str) -> None:
        if key not in dict(QUICK_FILTERS):
            return
        self.query_state.quick = key
        self.query_one(QuickFilters).show(key)
        self.refresh_table(follow=True)

    def action_next_quick(self) -> None:
        keys = [k for k, _ in QUICK_FILTERS]
        self.action_quick(keys[(keys.index(self.query_state.quick) + 1) % len(keys)])

    def sort_by(self, key: str, reverse: bool | None = None) -> None:
        if reverse is None:
            reverse = not self.query_state.reverse if key == self.query_state.sort else False
        self.query_state.sort, self.query_state.reverse = key, reverse
        self.refresh_table()
        # A new order is read from its top: the view and the cursor go there (keeping the selected row
        # in sight instead showed a screenful from the middle, and the sort looked wrong).
        self.query_one(ExampleTable).action_jump(0)

    def action_next_sort(self) -> None:
        keys = list(COLUMN_KEYS)
        self.sort_by(keys[(keys.index(self.query_state.sort) + 1) % len(keys)], False)

    def action_reverse_sort(self) -> None:
        self.sort_by(self.query_state.sort, not self.query_state.reverse)

    def on_sort_requested(self, message: SortRequested) -> None:
        self.sort_by(message.key)

    def palette_commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        """(title, help, callback) for the command palette (ctrl+p): every action of this screen."""
        commands: list[tuple[str, str, Callable[[], object]]] = [
            ("Filter", "Type to filter by id, input, expected or output (/)", self.action_focus_filter),
            ("Next quick filter", "All, wrong now, forgotten, never right, each status and region (f)",
             self.action_next_quick),
        ]  # fmt: skip
        for key, label in QUICK_FILTERS:
            commands.append((f"Show: {label}", f"Quick filter: {label}", lambda k=key: self.action_quick(k)))
        for column in COLUMNS:
            name = "✓ (exact match)" if column.key == "exact" else column.title
            sort = lambda k=column.key: self.sort_by(k, False)  # noqa: E731
            commands.append((f"Sort by {name}", f"Sort the table by {name}, ascending (s)", sort))
        commands += [
            ("Reverse sort", "Reverse the table's order (S)", self.action_reverse_sort),
            ("Detail pane full height", "The selected example's curves and history, and back (enter, d)",
             self.action_toggle_detail),
            ("Table full height", "Hide the detail pane, and back (z)", self.action_toggle_table),
            ("Next example", "Select the next row (n)", lambda: self.action_move(1)),
            ("Previous example", "Select the previous row (p)", lambda: self.action_move(-1)),
            ("Older snapshot", "Step travel: the table as of the previous snapshot ([)", self.action_older),
            ("Newer snapshot", "Step travel: the table as of the next snapshot (])", self.action_newer),
            ("Go to step", "Step picker: choose a snapshot to view the table at (t)", self.action_pick_step),
            ("Data map", "Confidence against variability; choose a region to filter (m)", self.action_data_map),
            ("Regressions", "Snapshots where accuracy fell or examples were forgotten (r)",
             self.action_regressions),
            ("Compare snapshots", "Two snapshots' outputs side by side, changes marked (c)", self.action_compare),
            ("Export", "Write the rows shown as CSV, JSONL or Parquet (e)", self.action_export),
            ("Insights", "Regressions, output collapse, slices...; choose one to see its examples (i)",
             self.action_insights),
            ("Skipped files", "Files that could not be read, and why (w)", self.action_show_skipped),
        ]  # fmt: skip
        return commands

    def action_show_skipped(self) -> None:
        from evotui.watch.screens.skipped import SkippedFilesScreen

        errors = dict(self.state.errors)
        if self.state.manifest_error is not None:
            errors[self.state.manifest_error.path] = self.state.manifest_error
        self.app.push_screen(SkippedFilesScreen(errors, self.state.warnings))

    def action_move(self, delta: int) -> None:
        """Next/previous example, also while the detail pane is full height (the table hidden)."""
        self.query_one(ExampleTable).action_cursor(delta)

    def action_toggle_table(self) -> None:
        """The table full height (small terminals), and back."""
        self.remove_class("detail-max")
        self.toggle_class("table-max")
        self.focus_pane()

    def action_toggle_detail(self) -> None:
        self.remove_class("table-max")
        self.toggle_class("detail-max")
        self.focus_pane()

    def focus_pane(self) -> None:
        """Focus the table, or the detail pane's history when the table is hidden (never the filter box)."""
        if self.has_class("detail-max"):
            detail = self.query_one(ExampleDetail)
            detail.ensure_body()  # before the run's first data, the pane is still empty
            self.set_focus(detail.query_one("#detail-history"))
        else:
            self.set_focus(self.query_one(ExampleTable))

    def on_screen_resume(self) -> None:
        # Back from a pop-up: focus is where it was, unless it was lost (the table hidden meanwhile).
        focused = self.focused
        if focused is None or not focused.display or not focused.is_attached:
            self.focus_pane()

    def action_step_out(self) -> None:
        field = self.query_one("#filter-input", Input)
        if self.focused is field:
            field.value = ""  # one rule: esc in the filter clears it (enter keeps it)
            self.focus_pane()
        elif self.has_class("detail-max") or self.has_class("table-max"):
            self.remove_class("detail-max", "table-max")
            self.focus_pane()
        elif self.view_step is not None:
            self.travel_to(None)
        elif self.clear_evidence():
            pass  # an insight's evidence was shown: all examples again
        elif self.query_state.text or self.query_state.quick != "all":
            field.value = ""
            self.action_quick("all")
        elif self.from_picker:
            self.app.pop_screen()
