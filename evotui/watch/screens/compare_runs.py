"""``CompareRunsScreen``: two or more runs side by side, live (`evotui watch RUN_A RUN_B`, or the run
picker's marked runs).

Each run has its own ``RunService`` (owned by the App: ``app.open_run``); this screen subscribes to them
and keeps each run's newest ``RunView``. The comparison itself (``evotui.analysis.compare``: matching,
statuses side by side, filters, curves) is computed in a thread worker from those frozen views and comes
back as one ``ComparisonReady`` message; the UI thread swaps it in and redraws what is on screen. One
computation at a time; views that arrive meanwhile are compared next, the newest of each run.

Layout: a title (matching, x axis), a legend line per run (its colour, step, state, accuracy), the
accuracy / loss / similarity curves overlaid, the filter line, the table of matched examples, the
detail of one example. ``o`` swaps the table for the whole-run overview (statuses, learned-step
quartiles, accuracy by tag), which is also what runs sharing no example show.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Markdown, Static

from evotui.analysis.compare import (
    QUICK_FILTERS,
    QUICK_KEYS,
    SORT_KEYS,
    X_FRACTION,
    CompareRun,
    Comparison,
    compare_runs,
    learned_label,
    run_letter,
    run_names,
)
from evotui.analysis.dynamics import STATUSES
from evotui.analysis.table import TableQuery
from evotui.watch.failure_log import record_failure
from evotui.watch.messages import ExampleSelected
from evotui.watch.screens.help import HelpScreen
from evotui.watch.service import RunUpdated, RunView
from evotui.watch.text import cell_text, visible
from evotui.watch.widgets.compare_detail import CompareDetail
from evotui.watch.widgets.compare_table import CompareRows, CompareTable, sort_key_of
from evotui.watch.widgets.example_table import STATUS_STYLES, SortRequested
from evotui.watch.widgets.footer import KeysFooter
from evotui.watch.widgets.run_header import STATUS_MARKS, format_age, progress_bar
from evotui.watch.widgets.runs_plot import RunsPlot, Series, run_style

if TYPE_CHECKING:
    from evotui.watch.service import RunService

Clock = Callable[[], float]
DETAIL_DELAY = 0.06  # seconds of quiet before the detail pane follows the cursor (as on the main screen)
WIDE = 140  # columns from which the filter line lists every quick filter with its count
CURVES_ALL = 120  # columns from which the three curves sit side by side (narrower: one, ``v`` cycles)
METRICS = (("accuracy", "accuracy"), ("avg_loss", "loss"), ("avg_similarity", "similarity"))
SHORT_LABELS = {
    "all": "all",
    "a_only": "A only",
    "b_only": "B only",
    "both": "both",
    "neither": "neither",
    "b_faster": "B faster",
    "b_slower": "B slower",
    "differ": "differ now",
    "forgotten_one": "forgot in one",
}

COMPARE_HELP = """\
# evotui: comparing runs

Examples are matched by `example_id`, else by identical input text (unique on both sides). **A** is the
first run, the reference; **B** is the run it is compared with (`b` picks another one when there are
more than two). Every run keeps tailing its directory: new snapshots appear as they are written.

| key | does |
|---|---|
| `f` / `F` | next / previous quick filter: learned by A only, by B only, by both, by neither; B faster; \
B slower; answers differ now; forgotten in one only |
| `b` | which run is B (three runs or more) |
| `/` | filter by text (id, input, expected, any run's output); enter keeps it, esc clears it |
| `s` / `S` | sort: id, B−A, A's learned step, B's, A's status, B's / reverse; or click a title |
| `↑ ↓ PgUp PgDn Home End` | move in the table · `n` / `p` next / previous example |
| `enter` / `d` | detail pane full height, and back · `z` the table full height |
| `o` | overview: each run's statuses, learned-step quartiles and accuracy by metadata tag (any dataset) |
| `v` | next curve (accuracy, loss, similarity) when the screen is too narrow for all three |
| `esc` | step out: close, clear the filter, back to the run list |
| `ctrl+p` | command palette · `?` this help · `q` quit |

**learned**: the snapshot from which the example stays right to the latest one (see the main help).
**B−A**: B's learned step minus A's; negative (green) when B learned it sooner. When the runs differ in
length (their run.json `max_steps`), steps are fractions of each run's `max_steps`, and the title says so.

**Detail**: the loss (━) and similarity (•) of the example in every run, one colour per run; each
run's outputs by step, the characters new since the line before in green; on top its latest output,
the characters that differ from A's marked.
"""


class CompareHelpScreen(HelpScreen):
    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Markdown(COMPARE_HELP)


class ComparisonReady(Message):
    """A comparison computed in a thread from ``views`` (one per run, in the screen's order)."""

    def __init__(self, views: tuple[RunView, ...], comparison: Comparison | None, error: str | None) -> None:
        super().__init__()
        self.views = views
        self.comparison = comparison
        self.error = error


def compare_views(views: Sequence[RunView]) -> Comparison:
    """The comparison of frozen views (safe in a thread: nothing in a view changes)."""
    names = run_names([v.path for v in views], [v.manifest.run_name if v.manifest else None for v in views])
    runs = [
        CompareRun(
            name=name,
            history=view.history,
            dynamics=view.dynamics
            if view.dynamics is not None and view.dynamics.n_examples == view.history.n_examples
            else None,
            max_steps=view.manifest.max_steps if view.manifest is not None and view.manifest.max_steps else None,
            path=str(view.path),
        )
        for name, view in zip(names, views, strict=True)
    ]
    return compare_runs(runs)


def title_text(cmp: Comparison | None, n_runs: int, computing: bool, width: int = 120) -> Text:
    """The comparison in one line: how many examples matched and how, each run's own, the x axis."""
    compact = width < 100
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    if not compact:
        text.append(" evotui ·", style="bold")
    text.append(f" {n_runs} runs" if compact else f" compare {n_runs} runs")
    if cmp is None:
        text.append(" · reading the runs…" if computing else " · waiting for the runs", style="dim")
        return text
    text.append(f" · {cmp.n_matched:,} matched", style="bold")
    if compact:
        text.append(f" ({cmp.by_id:,} id, {cmp.by_input:,} input)")
    else:
        text.append(f" ({cmp.by_id:,} by id, {cmp.by_input:,} by input text)")
    own = [f"{run_letter(r)}{'' if compact else ' '}{side.own:,}" for r, side in enumerate(cmp.runs)]
    text.append(" · own " + " ".join(own))
    if cmp.input_differs:
        text.append(f" · {cmp.input_differs:,} id matches differ in input", style="yellow")
    text.append(" · x " if compact else " · x: ")
    if cmp.x_axis == X_FRACTION:
        text.append("% max_steps" if compact else "fraction of max_steps (runs differ in length)", style="bold")
    else:
        text.append("step", style="bold")
    return text


def legend_line(r: int, view: RunView | None, name: str, now: float, width: int, cmp: Comparison | None) -> Text:
    """Run ``r``: its colour and letter, name, step and progress, state, accuracy now, examples."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(f" ━ {run_letter(r)} ", style=f"bold {run_style(r)}")
    text.append_text(cell_text(name, 28 if width >= 100 else 16, style=f"bold {run_style(r)}"))
    if view is None:
        text.append(" · … waiting", style="dim")
        return text
    current, total = view.current_step(), view.max_steps()
    if current is not None:
        text.append(f" · step {current:,}")
        if total:
            text.append(f"/{total:,} ")
            text.append(progress_bar(current / total, 8 if width >= 100 else 4), style=run_style(r))
    status = view.status(now)
    label, style = STATUS_MARKS.get(status, ("?", ""))
    text.append(" · ")
    text.append(label, style=style)
    if status == "loading":
        text.append(f" {view.load.done:,}/{view.load.total:,}")
    last = view.last_snapshot_time()
    if last is not None and width >= 100:
        text.append(f" {format_age(now - last, compact=True)} ago", style="dim")
    if cmp is not None and r < cmp.n_runs:
        side = cmp.runs[r]
        acc = side.latest_accuracy
        text.append(" · acc ")
        text.append("—" if math.isnan(acc) else f"{acc:.1%}", style="bold")
        text.append(f" · {side.n_examples:,} ex")
    if view.errors:
        text.append(f" · {len(view.errors)} skipped", style="bold red")
    if view.failure is not None:
        text.append(f" · failing: {visible(view.failure.reason)[:60]}", style="bold red")
    return text


def quick_text(cmp: Comparison | None, current: str, b: int, wide: bool) -> str:
    """The quick filters with their counts, as markup (labels and numbers are ours, never file text; a
    click picks a filter): every filter on a wide screen, else the current one."""
    counts = cmp.quick_counts(b) if cmp is not None and cmp.n_runs > b else {}
    letter = run_letter(b)
    parts = []
    for key in QUICK_KEYS if wide else (current,):
        label = SHORT_LABELS[key].replace("B", letter)
        count = f" {counts[key]:,}" if key in counts else ""
        if key == current:
            parts.append(f"[@click=screen.quick('{key}')][reverse bold] {label}{count} [/][/]")
        else:
            parts.append(f"[@click=screen.quick('{key}')] {label}{count} [/]")
    if not wide:
        parts.append("[dim] f: next[/]")
    return "".join(parts)


def overview(cmp: Comparison, names: Sequence[str]) -> RenderableType:
    """Whole-run figures that need no shared example: statuses, learned-step quartiles, tags."""
    parts: list[RenderableType] = []
    if not cmp.n_matched:
        parts.append(Text("The runs share no example (by id or by input text): their whole-run figures.", style="bold"))
    statuses = Table(title="Examples by status", title_justify="left", expand=False)
    statuses.add_column("status")
    for r in range(cmp.n_runs):
        statuses.add_column(Text(run_letter(r), style=f"bold {run_style(r)}"), justify="right")
    for status in STATUSES:
        cells = []
        for side in cmp.runs:
            n = side.counts_by_status.get(status, 0)
            cells.append(f"{n:,} ({n / side.n_examples:.0%})" if side.n_examples else "—")
        statuses.add_row(Text(status, style=STATUS_STYLES.get(status, "")), *cells)
    parts.append(statuses)
    speed = Table(title="Learned step: quartiles over the examples learned", title_justify="left")
    speed.add_column("run")
    for q in ("p25", "median", "p75"):
        speed.add_column(q, justify="right")
    speed.add_column("examples", justify="right")
    speed.add_column("accuracy now", justify="right")
    for r, side in enumerate(cmp.runs):
        qs = side.learned_quartiles
        cells = [learned_label(qs[q], cmp.x_axis) if q in qs else "—" for q in (25, 50, 75)]
        acc = side.latest_accuracy
        label = Text(f"{run_letter(r)} ", style=f"bold {run_style(r)}")
        label.append_text(cell_text(names[r] if r < len(names) else side.name, 30))
        speed.add_row(label, *cells, f"{side.n_examples:,}", "—" if math.isnan(acc) else f"{acc:.1%}")
    parts.append(speed)
    tags = sorted({tag for side in cmp.runs for tag in side.tag_accuracy})
    if tags:
        table = Table(title="Accuracy by metadata tag (latest snapshot)", title_justify="left")
        table.add_column("tag")
        for r in range(cmp.n_runs):
            table.add_column(Text(run_letter(r), style=f"bold {run_style(r)}"), justify="right")
        for tag in tags:
            cells = []
            for side in cmp.runs:
                right, total = side.tag_accuracy.get(tag, (0, 0))
                cells.append(f"{right / total:.0%} of {total:,}" if total else "")
            table.add_row(cell_text(tag, 40), *cells)
        parts.append(table)
    return Group(*parts)


class CompareRunsScreen(Screen[None]):
    """Runs ``paths`` compared live; the first is A."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "app.quit", "Quit"),
        Binding("slash", "focus_filter", "Filter", priority=True),
        Binding("f", "next_quick", "Quick", tooltip="Next quick filter"),
        Binding("F", "next_quick(-1)", "Previous quick filter", show=False),
        Binding("b", "next_b", "B run", tooltip="Which run is B"),
        Binding("s", "next_sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse sort", show=False),
        Binding("o", "toggle_overview", "Overview", tooltip="Statuses, learned-step quartiles, tags"),
        Binding("enter,d", "toggle_detail", "Detail"),
        Binding("z", "toggle_table", "Table only", show=False),
        Binding("v", "next_metric", "Next curve", show=False),
        Binding("n", "move(1)", "Next example", show=False),
        Binding("p", "move(-1)", "Previous example", show=False),
        Binding("escape", "step_out", "Back", show=False),
        Binding("enter", "submit_filter", "Apply filter", show=False, priority=True),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, paths: Sequence[Path], clock: Clock = time.time, from_picker: bool = False) -> None:
        super().__init__()
        if len(paths) < 2:
            raise ValueError("a comparison needs at least two runs")
        self.paths = [Path(p) for p in paths]
        self.clock = clock
        self.from_picker = from_picker
        self.services: list[RunService | None] = [None] * len(self.paths)  # opened one after another
        self.views: list[RunView | None] = [None] * len(self.paths)
        self.compared: tuple[RunView, ...] = ()  # the views behind ``comparison``
        self.comparison: Comparison | None = None
        self.names: list[str] = [p.name or str(p) for p in self.paths]
        self.query_state = TableQuery(quick="all", sort="id")
        self.b = 1
        self.metric = 0  # the curve shown on a narrow screen
        self.selected: int | None = None  # matched-example position under the cursor
        self.error: str | None = None
        self.loaded = False  # a complete comparison is on screen (tests and the bench wait for this)
        self.compare_seconds: list[float] = []  # thread seconds per comparison (for the bench)
        self._computing = False
        self._pending = False
        self._filter_before_edit = ""
        self._detail_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="cmp-title")
        yield Static("", id="cmp-legend")
        with Horizontal(id="cmp-curves"):
            for key, _label in METRICS:
                yield RunsPlot(id=f"cmp-{key}", classes="cmp-curve")
        with Horizontal(id="cmp-filter-bar"):
            yield Input(placeholder="/ filter", id="cmp-filter-input")
            yield Static("", id="cmp-quick")
            yield Static("", id="cmp-count")
        yield CompareTable(id="cmp-table")
        with VerticalScroll(id="cmp-overview"):
            yield Static("", id="cmp-overview-body")
        yield CompareDetail(len(self.paths), id="cmp-detail")
        yield KeysFooter()

    # -- services -----------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self._open_next()
        self.query_one(CompareTable).focus()
        self._layout_for_width()
        self._update_title()
        self._update_legend()
        self.set_interval(1.0, self._update_legend)  # ages and "stale" move with the clock

    def _open_next(self) -> None:
        """Open the next run once every run before it has been read through once.

        The first read of a run is CPU-bound Python (decoding) in its service's thread; two at once share
        the GIL and take longer together than one after the other (two runs of 10,000 x 500: 12.6-14.5 s
        against 9.5-10.0 s, bench machine). Once read, the runs tail side by side.
        """
        for r, service in enumerate(self.services):
            if service is None:
                if all(v is not None and v.polled for v in self.views[:r]):
                    open_run: Callable[[Path], RunService] = self.app.open_run  # type: ignore[attr-defined]
                    self.services[r] = service = open_run(self.paths[r])
                    service.subscribe(self)
                return

    def on_unmount(self) -> None:
        close_run = getattr(self.app, "close_run", None)
        for service, path in zip(self.services, self.paths, strict=True):
            if service is None:
                continue
            service.unsubscribe(self)
            if close_run is not None:
                close_run(path)

    def on_resize(self) -> None:
        self._layout_for_width()
        self._update_legend()
        self._update_quick()

    def _layout_for_width(self) -> None:
        """Three curves side by side on a wide screen, one (``v`` cycles) on a narrow one; the curves
        take more rows on a tall screen and leave the table its rows on a short one."""
        width, height = self.size.width, self.size.height
        narrow = width < CURVES_ALL
        for k, (key, _) in enumerate(METRICS):
            self.query_one(f"#cmp-{key}").display = not narrow or k == self.metric
        self.query_one("#cmp-curves").styles.height = 6 if height < 30 else 9 if height < 44 else 12
        self.query_one(KeysFooter).compact = width < 100
        self.query_one("#cmp-legend", Static).styles.height = len(self.paths)

    def on_run_updated(self, message: RunUpdated) -> None:
        view = message.view
        for r, service in enumerate(self.services):
            if service is not None and service.path == view.path:
                self.views[r] = view
        if view.polled:
            self._open_next()
        self._update_legend()
        self._request_comparison()

    def _request_comparison(self) -> None:
        if any(v is None or not v.polled for v in self.views):
            return  # every run looked at once: no half-empty comparison flashes by first
        views = tuple(v for v in self.views if v is not None)
        # Identity, not equality: a view is never changed, and comparing two would compare whole runs.
        if len(views) == len(self.compared) and all(a is b for a, b in zip(views, self.compared, strict=True)):
            return
        if self._computing:
            self._pending = True
            return
        self._computing, self._pending = True, False
        self._compare(views)

    @work(thread=True, group="compare", exit_on_error=False, description="compare runs")
    def _compare(self, views: tuple[RunView, ...]) -> None:
        comparison: Comparison | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            comparison = compare_views(views)
        except Exception as exc:  # never silent: shown in the title, logged; the next views try again
            error = f"{type(exc).__name__}: {exc}"
            record_failure("compare runs", exc)
        finally:  # always: the UI must learn that no computation is running any more
            self.compare_seconds.append(time.perf_counter() - started)
            self.post_message(ComparisonReady(views, comparison, error))

    def on_comparison_ready(self, message: ComparisonReady) -> None:
        self._computing = False
        self.error = message.error
        if message.comparison is not None:
            previous = self.comparison
            self.comparison = message.comparison
            self.compared = message.views
            self.names = [side.name for side in message.comparison.runs]
            table = self.query_one(CompareTable)
            if previous is not None and table.selected_index is not None and table.selected_index < previous.n_matched:
                # Keep the selected example when matching moved it (a run gained examples).
                table.selected_index = _position(message.comparison, previous.example_ids[table.selected_index])
            self.b = min(self.b, message.comparison.n_runs - 1)
            self.refresh_all()
            if all(v.history.n_steps for v in message.views):
                self.loaded = True
        else:
            self._update_title()
        if self._pending:
            self._request_comparison()

    # -- drawing ------------------------------------------------------------------------------------
    def refresh_all(self) -> None:
        self._update_title()
        self._update_legend()
        self._update_curves()
        self.refresh_table()
        self._update_overview()
        self._show_detail()

    def _update_title(self) -> None:
        text = title_text(self.comparison, len(self.paths), self._computing, self.size.width or 80)
        if self.error:
            text.append(f" · comparison failed: {visible(self.error)[:80]}", style="bold red")
        self.query_one("#cmp-title", Static).update(text)

    def _update_legend(self) -> None:
        now = self.clock()
        width = self.size.width or 80
        lines = [
            legend_line(r, self.views[r], self.names[r], now, width, self.comparison) for r in range(len(self.paths))
        ]
        self.query_one("#cmp-legend", Static).update(Text("\n").join(lines))

    def _update_curves(self) -> None:
        cmp = self.comparison
        if cmp is None:
            return
        fraction = cmp.x_axis == X_FRACTION
        for key, label in METRICS:
            series = [Series(r, side.x, getattr(side, key)) for r, side in enumerate(cmp.runs)]
            ylim = (0.0, 1.0) if key != "avg_loss" else None
            title = label if not fraction else f"{label} by fraction of max_steps"
            self.query_one(f"#cmp-{key}", RunsPlot).set_series(
                (id(cmp), key), series, title=title, fraction=fraction, ylim=ylim
            )

    def _update_quick(self) -> None:
        wide = self.size.width >= WIDE
        self.query_one("#cmp-quick", Static).update(quick_text(self.comparison, self.query_state.quick, self.b, wide))

    def _update_overview(self) -> None:
        cmp = self.comparison
        if cmp is None:
            return
        self.query_one("#cmp-overview-body", Static).update(overview(cmp, self.names))
        # Nothing shared: no table, no example detail; the whole-run figures are the comparison.
        self.set_class(not cmp.n_matched, "unmatched")
        if not cmp.n_matched:
            self.add_class("overview")

    def refresh_table(self, follow: bool = False) -> None:
        self._update_quick()
        cmp = self.comparison
        table = self.query_one(CompareTable)
        count = self.query_one("#cmp-count", Static)
        if cmp is None:
            count.update("")
            return
        q = self.query_state
        order = cmp.rows(quick=q.quick, text=q.text, sort=q.sort, reverse=q.reverse, b=self.b)
        # The example table words an empty result from its query: it gets this filter's label (B's letter in it).
        label = dict(QUICK_FILTERS)[q.quick].replace(" B", f" {run_letter(self.b)}")
        query = TableQuery(q.text, label, q.sort, q.reverse)  # type: ignore[arg-type]
        table.show(CompareRows(order, cmp.n_matched, cmp, self.b, query))
        if follow:
            table.scroll_to_cursor()
        count.update(f"{len(order):,} of {cmp.n_matched:,}")

    def _show_detail(self) -> None:
        histories = [v.history for v in self.compared]
        self.query_one(CompareDetail).show(self.comparison, histories, self.names, self.selected, self.b)

    def on_example_selected(self, message: ExampleSelected) -> None:
        self.selected = message.index
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(DETAIL_DELAY, self._show_detail)

    # -- keys ---------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "focus_filter" and isinstance(self.focused, Input):
            return False
        if action == "submit_filter" and not isinstance(self.focused, Input):
            return False
        if action == "next_b" and len(self.paths) < 3:
            return False  # with two runs B is the second: no key to show
        if action == "next_metric" and self.size.width >= CURVES_ALL:
            return None
        return True

    @on(Input.Changed, "#cmp-filter-input")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_state.text = event.value
        self.refresh_table(follow=True)

    def action_focus_filter(self) -> None:
        field = self.query_one("#cmp-filter-input", Input)
        self._filter_before_edit = field.value
        self.set_focus(field)

    def action_submit_filter(self) -> None:
        self.set_focus(self.query_one(CompareTable))

    def action_quick(self, key: str) -> None:
        if key not in QUICK_KEYS:
            return
        self.query_state.quick = key
        self.remove_class("overview")
        self.refresh_table(follow=True)

    def action_next_quick(self, step: int = 1) -> None:
        keys = list(QUICK_KEYS)
        self.action_quick(keys[(keys.index(self.query_state.quick) + step) % len(keys)])

    def action_next_b(self) -> None:
        if len(self.paths) < 3:
            return
        self.b = self.b % (len(self.paths) - 1) + 1
        if self.query_state.sort.endswith("_b"):
            self.refresh_table(follow=True)
        else:
            self.refresh_table()
        self.query_one(CompareDetail).shown = None
        self._show_detail()
        self.notify(f"B is now run {run_letter(self.b)}: {visible(self.names[self.b])}", timeout=2, markup=False)

    def sort_by(self, key: str, reverse: bool | None = None) -> None:
        if key not in SORT_KEYS:
            return
        if reverse is None:
            reverse = not self.query_state.reverse if key == self.query_state.sort else False
        self.query_state.sort, self.query_state.reverse = key, reverse
        self.refresh_table(follow=True)

    def action_next_sort(self) -> None:
        keys = list(SORT_KEYS)
        self.sort_by(keys[(keys.index(self.query_state.sort) + 1) % len(keys)], False)

    def action_reverse_sort(self) -> None:
        self.sort_by(self.query_state.sort, not self.query_state.reverse)

    def on_sort_requested(self, message: SortRequested) -> None:
        message.stop()
        key = sort_key_of(message.key, self.b)
        if key is not None:
            self.sort_by(key)

    def action_toggle_overview(self) -> None:
        self.toggle_class("overview")

    def action_toggle_detail(self) -> None:
        self.remove_class("table-max")
        self.toggle_class("detail-max")

    def action_toggle_table(self) -> None:
        self.remove_class("detail-max")
        self.toggle_class("table-max")

    def action_next_metric(self) -> None:
        self.metric = (self.metric + 1) % len(METRICS)
        self._layout_for_width()

    def action_move(self, delta: int) -> None:
        self.query_one(CompareTable).action_cursor(delta)

    def action_help(self) -> None:
        self.app.push_screen(CompareHelpScreen())

    def action_step_out(self) -> None:
        field = self.query_one("#cmp-filter-input", Input)
        if self.focused is field:
            field.value = self._filter_before_edit
            self.set_focus(self.query_one(CompareTable))
        elif self.has_class("detail-max") or self.has_class("table-max"):
            self.remove_class("detail-max", "table-max")
        elif self.has_class("overview") and self.comparison is not None and self.comparison.n_matched:
            self.remove_class("overview")
        elif self.query_state.text or self.query_state.quick != "all":
            field.value = ""
            self.action_quick("all")
        elif self.from_picker:
            self.app.pop_screen()

    def system_commands(self) -> Iterable[SystemCommand]:
        """Command-palette entries (the app lists them while this screen is on top)."""
        letter = run_letter(self.b)
        for key, label in QUICK_FILTERS:
            shown = label.replace(" B", f" {letter}")
            yield SystemCommand(f"Compare: {shown}", f"Quick filter: {shown}", lambda k=key: self.action_quick(k))
        for key in SORT_KEYS:
            yield SystemCommand(
                f"Compare: sort by {key}", f"Sort the compare table by {key}", lambda k=key: self.sort_by(k, False)
            )
        yield SystemCommand(
            "Compare: overview", "Statuses, learned-step quartiles, accuracy by tag", self.action_toggle_overview
        )
        if len(self.paths) > 2:
            yield SystemCommand("Compare: next B", "Compare A with the next run", self.action_next_b)
        yield SystemCommand("Compare: detail pane", "Detail pane full height", self.action_toggle_detail)


def _position(cmp: Comparison, example_id: str) -> int | None:
    try:
        return cmp.example_ids.index(example_id)
    except ValueError:
        return None
