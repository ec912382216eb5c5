"""``MainScreen``: one run, followed live: header, metrics, filter bar, example table, detail pane.

The tailing runs in a thread worker of this screen and reports only through ``TailUpdate`` messages;
everything else happens on the UI thread.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import ClassVar

import numpy as np
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Input
from textual.worker import get_current_worker

from evotui.analysis.history import RunHistory, StepColumn
from evotui.analysis.runs import find_runs
from evotui.analysis.table import COLUMN_KEYS, COLUMNS, QUICK_FILTERS, TableQuery, TableRows, table_rows
from evotui.watch.dynamics_actions import DYNAMICS_BINDINGS, DynamicsActions, regression_steps
from evotui.watch.messages import AnalysisDone, ExampleSelected, TailUpdate
from evotui.watch.run_state import RunState, analyse, analyse_columns
from evotui.watch.screens.waiting import WaitingScreen
from evotui.watch.tail import (
    DIR_OK,
    DirectoryTailer,
    FirstLoad,
    LoadProgress,
    gc_paused,
)
from evotui.watch.text import visible
from evotui.watch.widgets.detail import ExampleDetail
from evotui.watch.widgets.example_table import ExampleTable, SortRequested, no_match_note
from evotui.watch.widgets.filter_bar import FilterBar, QuickFilters
from evotui.watch.widgets.metrics import MetricsBar
from evotui.watch.widgets.run_header import RunHeader
from tracker.store import ReadError

Clock = Callable[[], float]
FOOTER_ROOMY_WIDTH = 84  # narrower: a compact footer (MainScreen's footer needs 81 columns padded, 69 compact)
DETAIL_DELAY = 0.06  # seconds of quiet before the detail pane follows the table's cursor


class MainScreen(DynamicsActions, Screen[None]):
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
    ]

    def __init__(
        self,
        path: Path,
        interval: float = 0.5,
        clock: Clock = time.time,
        from_picker: bool = False,
        prefetch: Future[FirstLoad] | None = None,
        progress: LoadProgress | None = None,
    ) -> None:
        super().__init__()
        self.prefetch = prefetch
        self.path = path
        self.interval = interval
        self.clock = clock
        self.from_picker = from_picker
        self.state = RunState(path)
        if progress is not None:
            self.state.load = progress  # the prefetch thread counts its files there
        self.query_state = TableQuery()
        self.rows: TableRows | None = None
        self.selected: int | None = None
        self._stop = threading.Event()
        self._consumed = threading.Event()
        self._waiting: WaitingScreen | None = None
        self._detail_timer: Timer | None = None
        self._loading_timer: Timer | None = None
        self._analysis_running = False
        self._analysis_pending = False
        self._analysed_version = -1
        self.loaded = False  # the first snapshots are on screen (tests and benches wait for this)
        # (snapshots held, files in the update, read+decode s in the thread, apply s on the UI thread)
        self.timings: deque[tuple[int, int, float, float]] = deque(maxlen=256)

    def compose(self) -> ComposeResult:
        yield RunHeader(id="run-header")
        yield MetricsBar(id="metrics")
        yield FilterBar(id="filter-bar")
        yield ExampleTable(id="examples")
        yield ExampleDetail(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(QuickFilters).show(self.query_state.quick)
        self.query_one(ExampleTable).focus()
        self._update_header()
        self.set_interval(1.0, self._update_header)
        # A faster header while a bulk load runs, so its file count moves.
        self._loading_timer = self.set_interval(0.25, self._update_header)
        self._tail()

    def on_resize(self) -> None:
        self.query_one(QuickFilters).show(self.query_state.quick)  # short labels on narrow terminals
        # Every footer label fits 80 columns only without the padding around each key.
        self.query_one(Footer).compact = self.size.width < FOOTER_ROOMY_WIDTH

    def on_unmount(self) -> None:
        self._stop.set()
        self._consumed.set()

    # -- tailing (thread) ----------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="tail", exit_on_error=False, description="tail run directory")
    def _tail(self) -> None:
        worker = get_current_worker()
        first: FirstLoad | None = None
        if self.prefetch is not None:
            try:
                first = self.prefetch.result()
            except Exception:  # the prefetch is an optimisation: on any failure, read again here
                first = None
        tailer = first.tailer if first is not None else DirectoryTailer(self.path)
        history = first.history if first is not None else RunHistory()  # built here until handed over
        handed_over = False
        polls = 0
        while not worker.is_cancelled and not self._stop.is_set():
            if first is not None:
                result, first = first.result, None
            elif handed_over:
                result = tailer.poll()
            else:
                with gc_paused():
                    result = tailer.poll(
                        consume=lambda f, snapshot: history.add(snapshot, source=str(f.path)),
                        progress=self.state.load,
                    )
            polls += 1
            if result.changed:
                handing = dynamics = None
                if not handed_over and history.n_steps:
                    # The first batch (maybe hundreds of files) was built here, off the UI thread.
                    handing, dynamics, handed_over = history, analyse(history), True
                self._consumed.clear()
                self.post_message(TailUpdate(result, handing, dynamics))
                # Back-pressure: a busy UI slows the poller down instead of queueing batches.
                while not self._consumed.wait(0.1):
                    if worker.is_cancelled or self._stop.is_set():
                        return
            elif (
                not handed_over
                and not self.from_picker
                and result.state == DIR_OK
                and result.files_seen == 0
                and polls % 4 == 1
                and find_runs(self.path)
            ):
                # An empty DIR where runs appear in subdirectories: it is a directory of runs.
                self.app.call_from_thread(self.app.show_run_picker, self.path)  # type: ignore[attr-defined]
                return
            self._stop.wait(self.interval)

    def on_tail_update(self, message: TailUpdate) -> None:
        started = time.perf_counter()
        try:
            self._apply(message)
        finally:
            self._consumed.set()
            n_loaded = len(message.result.loaded) + len(message.result.consumed)
            self.timings.append(
                (self.state.history.n_steps, n_loaded, message.result.read_seconds, time.perf_counter() - started)
            )

    def _apply(self, message: TailUpdate) -> None:
        result, state = message.result, self.state
        state.dir_state, state.dir_message = result.state, result.message
        if result.manifest_changed:
            manifest = result.manifest
            # A bad run.json loses nothing: the last good manifest stays, and the error is shown.
            if isinstance(manifest, ReadError):
                state.manifest_error = manifest
            else:
                state.manifest, state.manifest_error = manifest, None
        state.errors = result.errors
        for f, _ in result.loaded:
            state.warnings.pop(f.path, None)  # a rewritten file is judged again below
        state.warnings.update(result.warnings)
        for error in result.failed:
            self.notify(visible(f"skipped {error}"), title="unreadable snapshot", severity="warning", markup=False)
        first_load = message.history is not None
        new_steps: list[int] = []
        if first_load:
            assert message.history is not None
            state.history, state.dynamics = message.history, message.dynamics
            self._analysed_version = state.history.version
            # The loaded run lives as long as the app: keep it out of every later full collection
            # (measured: 0.2 s per full GC on 500 x 10,000, landing on random keystrokes).
            gc.freeze()
        else:
            for f, snapshot in sorted(result.loaded, key=lambda item: item[0].step):
                added = state.history.add(snapshot, source=str(f.path))
                if not added.replaced:
                    new_steps.append(added.step)
            for step in result.removed_steps:
                state.history.remove_step(step)
                state.written_at.pop(step, None)
            if result.loaded or result.removed_steps:
                self._request_analysis()
        for f, snapshot in result.loaded:
            state.note_written(snapshot.training_step, snapshot.timestamp, f.mtime_ns)
        for step, mtime_ns in result.consumed:
            if step in state.history.columns:
                state.note_written(step, state.history.columns[step].timestamp, mtime_ns)
        self._sync_waiting()
        if result.loaded or result.removed_steps or first_load:
            self.refresh_data()
            if new_steps and state.history.latest_step in new_steps:
                self._announce_snapshot(state.history.latest_step)
        self._update_header()
        if state.history.n_steps:
            self.loaded = True
            if self._loading_timer is not None:
                self._loading_timer.stop()
                self._loading_timer = None

    # -- training dynamics (thread) -----------------------------------------------------------------
    def _request_analysis(self) -> None:
        """Recompute the dynamics off the UI thread; one computation at a time, the latest data wins."""
        if self._analysis_running:
            self._analysis_pending = True
            return
        history = self.state.history
        self._analysis_running, self._analysis_pending = True, False
        columns = [history.columns[step] for step in history.steps]
        self._analyse(history.version, history.steps_array(), columns, list(history.example_ids))

    @work(thread=True, group="analyse", exit_on_error=False, description="training dynamics")
    def _analyse(self, version: int, steps: np.ndarray, columns: list[StepColumn], ids: list[str]) -> None:
        dynamics = None
        try:
            dynamics = analyse_columns(steps, columns, ids)
        finally:  # even on failure: the UI must learn that no computation is running any more
            self.post_message(AnalysisDone(version, dynamics))

    def on_analysis_done(self, message: AnalysisDone) -> None:
        self._analysis_running = False
        if message.version > self._analysed_version and message.dynamics is not None:
            self._analysed_version = message.version
            self.state.dynamics = message.dynamics
            self.refresh_table()
            # The regression marks on the accuracy sparkline come from the dynamics too.
            self.query_one(MetricsBar).show(self.state.history, regression_steps(self.state.dynamics))
            self.query_one(ExampleDetail).shown = None  # the title shows the status
            self._show_detail()
        if self._analysis_pending:
            self._request_analysis()

    def _sync_waiting(self) -> None:
        if self.state.history.n_steps == 0:
            if self._waiting is None:
                self._waiting = WaitingScreen(str(self.path))
                self.app.push_screen(self._waiting)
            self._waiting.show_state(self.state.dir_message)
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

    def refresh_data(self) -> None:
        """Everything that depends on the run's data (after new snapshots)."""
        self.query_one(MetricsBar).show(self.state.history, regression_steps(self.state.dynamics))
        self.refresh_table()
        self._show_detail()

    def refresh_table(self, follow: bool = False) -> None:
        """Rows for the current filter, sort and step; the table keeps its selected example.

        ``follow``: the person changed the filter or the sort, so scroll to where the selected
        example went. Live updates (``follow=False``) never move the view under the reader.
        """
        self.rows = table_rows(self.state.history, self.view_dynamics(), self.query_state)
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
        self.query_one(ExampleDetail).show(self.state.history, self.view_dynamics(), self.selected, self.view_step)

    def on_example_selected(self, message: ExampleSelected) -> None:
        # The table moves at once; the detail pane (plot, long history) follows when the cursor or
        # the filter pauses, so that key repeat and typing never queue up its renders.
        self.selected = message.index
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
            ("Export", "Write the rows shown as CSV or JSONL (e)", self.action_export),
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
            self.set_focus(self.query_one("#detail-history"))
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
        elif self.query_state.text or self.query_state.quick != "all":
            field.value = ""
            self.action_quick("all")
        elif self.from_picker:
            self.app.pop_screen()
