"""The detail pane for one example: loss and similarity curves (plotext) and its prediction history.

Off the UI thread: the pane's two heavy parts, the plotext figure and the prediction history, are
prepared in a thread worker (``prepare_detail``) as ready ``Strip``s; their widgets (``CurvePlot``,
``PredictionHistory``) only hand those out in ``render_line``. The UI thread reads the request (the
run's frozen view, the example, the step, the widgets' sizes and styles), starts the worker and swaps
the result in. Each part has a key (data, example, step, size, style); a part whose key is on screen
is not built again, and a result for anything but the latest request is dropped. A failed build is
logged (``evotui.watch.failure_log``) and shown in the pane and as a notification.

``ExampleDetail.shown`` is the key of what is on screen, None while a build is under way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from rich.console import Console
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from evotui.analysis.history import RunHistory
from evotui.watch.failure_log import record_failure
from evotui.watch.text import cell_text, visible, whole_text
from evotui.watch.widgets.example_table import STATUS_STYLES
from evotui.watch.widgets.prediction_history import (
    LineCache,
    PredictionHistory,
    PreparedHistory,
    history_lines,
    history_text,
    prepare_history,
)
from evotui.watch.widgets.prepared_lines import PreparedSizeChanged, RenderContext, private_console, text_strips

__all__ = ["CurvePlot", "ExampleDetail", "downsample", "history_lines", "history_text", "legend_text", "title_text"]

WORKER_GROUP = "detail-pane"


def downsample(x: np.ndarray, y: np.ndarray, buckets: int) -> tuple[list[float], list[float]]:
    """At most ``2 * buckets`` points: each bucket keeps its min and max (spikes stay visible)."""
    keep = ~np.isnan(y)
    x, y = x[keep], y[keep]
    if x.size <= 2 * buckets or buckets <= 0:
        return x.tolist(), y.tolist()
    xs: list[float] = []
    ys: list[float] = []
    for chunk in np.array_split(np.arange(x.size), buckets):
        lo, hi = chunk[np.argmin(y[chunk])], chunk[np.argmax(y[chunk])]
        for j in sorted({int(lo), int(hi)}):
            xs.append(float(x[j]))
            ys.append(float(y[j]))
    return xs, ys


@dataclass(frozen=True)
class PlotTheme:
    """textual-plotext's "auto" theme for the App's theme: its name and colours (read on the UI thread)."""

    name: str
    surface: str
    foreground: str

    @classmethod
    def of(cls, widget: Widget) -> PlotTheme:
        variables = widget.app.theme_variables
        return cls(f"textual-auto-{widget.app.theme}", variables.get("surface", ""), variables.get("foreground", ""))

    def register(self) -> None:
        """Into plotext's theme table, as ``PlotextPlot._register_theme`` does (plotext reads it by name)."""
        from plotext._dict import themes
        from textual.color import Color
        from textual_plotext.plot import _rgbify_theme, _sequence

        if self.name not in themes:
            surface = Color.parse(self.surface).rgb
            themes[self.name] = _rgbify_theme(surface, surface, Color.parse(self.foreground).rgb, "default", _sequence)


@dataclass(frozen=True, eq=False)
class PlotData:
    """One example's series, as the plot draws them."""

    steps: np.ndarray  # float64
    loss: np.ndarray
    sim: np.ndarray
    exact: np.ndarray
    marker: int | None  # the travelled step, drawn as a vertical line

    @classmethod
    def of(cls, history: RunHistory, index: int, marker: int | None) -> PlotData:
        return cls(
            history.steps_array().astype(np.float64),
            history.series(index, "loss"),
            history.series(index, "similarity"),
            history.series(index, "exact"),
            marker,
        )


def plot_text(data: PlotData | None, width: int, height: int, theme: PlotTheme) -> Text:
    """The curves as ANSI-coloured Text, built on a private plotext figure (safe in a thread).

    The same picture as textual-plotext's ``PlotextPlot.render``: its ``Plot`` (a plotext figure
    object, not plotext's module-level one), sized and themed as it does.
    """
    if data is None or width <= 0 or height <= 0:
        return Text("")  # no example: the title says why
    if data.steps.size == 0:
        return Text("no data", style="dim")
    from textual_plotext.plot import Plot

    theme.register()
    plt = Plot()
    steps = data.steps
    # x is the snapshot's index, labelled with its step: schedules are dense early (0, 10, 25,
    # 50, 100, ...), and on a step axis every early snapshot of a long run sits in one column.
    x = np.arange(steps.size, dtype=np.float64)
    buckets = max(width // 2, 4)
    lx, ly = downsample(x, data.loss, buckets)
    sx, sy = downsample(x, data.sim, buckets)
    if lx:
        plt.plot(lx, ly, color="orange", marker="braille")
    if sx:
        plt.plot(sx, sy, color="cyan", marker="braille", yside="right")
        plt.ylim(0, 1.05, yside="right")
    ticks = np.unique(np.linspace(0, steps.size - 1, min(5, steps.size)).round().astype(np.int64))
    plt.xticks(ticks.tolist(), [f"{int(steps[t]):,}" for t in ticks.tolist()])
    if steps.size == 1:  # one snapshot: an axis around it, labelled with its step only
        plt.xlim(-1, 1)
    if data.marker is not None and data.marker in steps:
        plt.vline(int(np.searchsorted(steps, data.marker)), color="white")
    right = ~np.isnan(data.exact) & (data.exact == 1.0)
    if right.any():
        rx, ry = downsample(x[right], np.nan_to_num(data.sim[right], nan=1.0), buckets)
        plt.scatter(rx, ry, color="green", marker="✓", yside="right")
    # As PlotextPlot.render: the size twice (plotext's resizing needs both), then the theme.
    plt.plotsize(width, height)
    plt._set_size(width, height)
    plt.theme(theme.name)
    return Text.from_ansi(plt.build())


class CurvePlot(Widget):
    """The curves: Strips prepared in a thread (``plot_text``), handed out by ``render_line``."""

    DEFAULT_CSS = """
    CurvePlot {
        width: 1fr;
        height: 1fr;
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key: object = None  # what the strips show (see ExampleDetail._plot_key)
        self._strips: list[Strip] = []
        self._data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None  # the series shown

    def show(self, key: object, strips: list[Strip], data: PlotData | None) -> None:
        self.key, self._strips = key, strips
        self._data = None if data is None else (data.steps, data.loss, data.sim, data.exact)
        self.refresh()

    def on_resize(self) -> None:
        self.post_message(PreparedSizeChanged())  # drawn for another size: the pane builds again

    def render_line(self, y: int) -> Strip:
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)


@dataclass(frozen=True, eq=False)
class DetailJob:
    """What one build prepares, read on the UI thread. A part whose key is None is kept as it is."""

    shown: object  # ExampleDetail's key of the request
    history: RunHistory  # a frozen view's history: read, never changed, by the thread
    index: int | None
    step: int | None
    plot_key: object | None
    plot_size: tuple[int, int]
    plot_context: RenderContext
    theme: PlotTheme
    history_key: object | None
    history_size: tuple[int, int]
    scrollbar: int  # the history's scrollbar width (wrapped narrower when it overflows)
    history_context: RenderContext
    history_scroll: int  # the history's scroll offset: its rows in sight are made first
    line_cache: LineCache


@dataclass(frozen=True, eq=False)
class DetailPrepared:
    job: DetailJob
    plot: list[Strip] | None
    plot_data: PlotData | None
    history: PreparedHistory | None


def _cancelled() -> bool:
    try:
        return get_current_worker().is_cancelled
    except Exception:  # not in a worker (called directly)
        return False


def prepare_detail(job: DetailJob) -> DetailPrepared | None:
    """In a worker thread: the parts of ``job`` that changed, as Strips. None when cancelled meanwhile."""
    console: Console = private_console()
    history, index = job.history, job.index
    valid = index is not None and index < history.n_examples
    plot: list[Strip] | None = None
    data: PlotData | None = None
    if job.plot_key is not None:
        width, height = job.plot_size
        data = PlotData.of(history, index, job.step) if valid and index is not None else None
        plot = text_strips(plot_text(data, width, height, job.theme), width, job.plot_context, console, height)
    if _cancelled():
        return None
    prepared: PreparedHistory | None = None
    if job.history_key is not None:
        if valid and index is not None:
            lines, marked = history_lines(history, index, job.step)
        else:
            lines, marked = [], None
        width, height = job.history_size
        prepared = prepare_history(
            job.history_key,
            lines,
            marked,
            width,
            height,
            job.scrollbar,
            job.history_scroll,
            job.history_context,
            console,
            job.line_cache,
        )
    if _cancelled():
        return None
    return DetailPrepared(job, plot, data, prepared)


def title_text(history: RunHistory, dynamics: Any | None, index: int, width: int, step: int | None = None) -> Text:
    """The example's id and status; ``step`` (step travel): ``dynamics`` are as of that step, and so is the count.

    At most ``width`` cells: what does not fit is left out whole, least telling first (the forgetting
    steps, then the count of right snapshots, then the learned interval), never cut mid-phrase.
    """
    # (rank: lower stays longer, text, glued to the part before it instead of " · ")
    parts: list[tuple[int, Text, bool]] = [(0, cell_text(history.example_ids[index], 24, style="bold"), False)]
    if step is not None:
        parts.append((0, Text(f"as of step {step:,}", style="bold reverse"), False))
    if dynamics is not None and index < len(dynamics.status):
        status = str(dynamics.status[index])
        parts.append((0, Text(status, style=STATUS_STYLES.get(status, "")), False))
        learned, after = int(dynamics.learned_step[index]), int(dynamics.learned_after[index])
        if learned >= 0:
            # Snapshots are sparse: the step it was learned lies in (after, learned].
            window = f"({after:,}, {learned:,}]" if after >= 0 else f"by {learned:,}"
            parts.append((1, Text(f"learned in {window}"), False))
        forgets = int(dynamics.forget_count[index])
        if forgets:
            parts.append((1, Text(f"forgotten {forgets}×", style="yellow"), False))
            at = getattr(dynamics, "forgetting_steps", None)
            if at is not None:  # the steps where it was seen wrong right after being right
                steps = [f"{int(s):,}" for s in at(index)]
                listed = f" at {', '.join(steps[:4])}{' …' if len(steps) > 4 else ''}"
                parts.append((3, Text(listed, style="yellow"), True))
    exact = history.series(index, "exact")  # O(steps): the full matrix would be O(examples x steps)
    if step is not None:
        exact = exact[: int(np.searchsorted(history.steps_array(), step, side="right"))]
    present = exact[~np.isnan(exact)]
    plural = "" if present.size == 1 else "s"
    parts.append((2, Text(f"right at {int(present.sum())} of {present.size} snapshot{plural}", style="dim"), False))
    for limit in (3, 2, 1, 0):
        shown = [(part, glued) for rank, part, glued in parts if rank <= limit]
        if sum(part.cell_len + (0 if glued else 3) for part, glued in shown) - 3 <= width:
            break
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    for i, (part, glued) in enumerate(shown):
        if i and not glued:
            text.append(" · ")
        text.append_text(part)
    return text


LEGEND_AXIS = (" · x: snapshots, labelled by step", " · x: by snapshot", " · x: by snapshot")


def legend_text(width: int = 200) -> Text:
    """What the plot shows, above it, in ``width`` cells. The x axis is by snapshot, not by step: say so."""
    for variant, axis in enumerate(LEGEND_AXIS):
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append("━ loss", style="#ffa500")
        text.append(" ━ similarity" if variant < 2 else " ━ sim", style="cyan")
        text.append(" ✓ right", style="green")
        text.append(axis, style="dim")
        if text.cell_len <= width:
            break
    return text


def update_keeping_layout(static: Static, text: Text) -> None:
    """``static.update(text)``, with a layout of the screen only when its height changes.

    A layout of the whole screen follows every ``Static.update`` by default: a reflow and a repaint
    of every widget, the table included. The input and expected texts of two examples mostly take
    the same number of lines.
    """
    width = static.content_region.width
    height = static.content_region.height
    same = width > 0 and Content.from_rich_text(text).get_height(static.styles, width) == height
    static.update(text, layout=not same)


class PlotLegend(Static):
    """The plot's legend line, as long as its width allows."""

    def on_resize(self) -> None:
        self.update(legend_text(self.content_size.width), layout=False)  # one line, always


class ExampleDetail(Vertical):
    """``show(history, dynamics, index)``; the title now, the curves and history when built (see above)."""

    def compose(self) -> ComposeResult:
        yield Static("", id="detail-title")
        yield Horizontal(id="detail-body")  # filled by ``ensure_body``

    def ensure_body(self) -> None:
        """Mount the plot, the texts and the prediction history, the first time the pane shows something.
        Not composed with the screen: a cold start's first frame has no example to show yet, and these
        six widgets were ~20 ms of it (styles, layout, a first render), before the run's data could be drawn."""
        body = self.query_one("#detail-body", Horizontal)
        if body.children:
            return
        curves, side = Vertical(id="detail-curves"), Vertical(id="detail-side")
        body.mount(curves, side)
        # Mounted one level at a time: a container's constructor children are only mounted with it, later,
        # and ``show`` goes on with the texts and the plot at once.
        curves.mount(PlotLegend(legend_text(), id="detail-legend"), CurvePlot(id="detail-plot"))
        # The input and expected output stay in sight; only the prediction history scrolls.
        side.mount(Static("", id="detail-texts"), PredictionHistory(id="detail-history"))

    # (history id, version, index, dynamics id, travelled step, empty note) last asked for
    _requested: tuple[int, int, int | None, int, int | None, str | None] | None = None
    _on_screen: tuple[int, int, int | None, int, int | None, str | None] | None = None
    _request: tuple[RunHistory, int | None, int | None] | None = None  # history, index, step
    _job: DetailJob | None = None  # the build under way (its result is the only one taken)
    _worker: Worker[DetailPrepared | None] | None = None  # its worker
    _texts_key: tuple[object, ...] | None = None
    _title_args: tuple[RunHistory, Any, int, int | None] | None = None
    # The reason the last build failed (shown in the pane until a build succeeds).
    failure: str | None = None

    # Shown instead of "no example selected" when the table's filter matched nothing (set by the screen).
    empty_note: str | None = None

    @property
    def shown(self) -> tuple[int, int, int | None, int, int | None, str | None] | None:
        """The key of what is on screen: (history id, version, index, dynamics id, step, empty note).

        None while a build is under way (a new example, new data, or a new size).
        """
        return None if self._job is not None else self._on_screen

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._build())

    def on_resize(self) -> None:
        if self._title_args is not None:  # the title's parts fit the width: choose them again
            history, dynamics, index, step = self._title_args
            title = title_text(history, dynamics, index, self.size.width - 2, step)
            self.query_one("#detail-title", Static).update(title, layout=False)

    def on_prepared_size_changed(self, event: PreparedSizeChanged) -> None:
        """The plot or the history changed size (enter: full height; a terminal resized): built for it."""
        event.stop()
        self._build()

    def show(self, history: RunHistory, dynamics: Any | None, index: int | None, step: int | None = None) -> None:
        """``step``: the travelled step (None when following live); ``dynamics`` are then as of it."""
        key = (id(history), history.version, index, id(dynamics), step, self.empty_note if index is None else None)
        if key == self._requested:
            return
        self._requested = key
        self.ensure_body()
        title = self.query_one("#detail-title", Static)
        texts = self.query_one("#detail-texts", Static)
        legend = self.query_one(PlotLegend)
        valid = index is not None and index < history.n_examples
        legend.display = valid  # no plot, no legend
        if index is None or not valid:
            self._title_args = None
            self._request = (history, None, None)
            note = Text(self.empty_note or "no example selected", style="dim", no_wrap=True, overflow="ellipsis")
            title.update(note, layout=False)
            if self._texts_key is not None:
                self._texts_key = None
                update_keeping_layout(texts, Text(""))
        else:
            self._title_args = (history, dynamics, index, step)
            self._request = (history, index, step)
            title.update(title_text(history, dynamics, index, self.size.width - 2, step), layout=False)
            # Inputs rarely change: a live update of the same example leaves this (auto-height) box alone.
            texts_key = (index, history.inputs[index], history.expected[index])
            if texts_key != self._texts_key:
                self._texts_key = texts_key
                io = Text()
                io.append("input    ", style="bold")
                io.append_text(whole_text(history.inputs[index]))
                io.append("\nexpected ", style="bold")
                io.append_text(whole_text(history.expected[index]))
                update_keeping_layout(texts, io)
        self._build()

    def _build(self) -> None:
        """Start a build of what the latest request needs and is not on screen (nothing when all is)."""
        if self._request is None or self._requested is None or not self.is_attached:
            return
        history, index, step = self._request
        plot = self.query_one(CurvePlot)
        pane = self.query_one(PredictionHistory)
        data_key = (id(history), history.version, index, step)
        plot_context, history_context = RenderContext.of(plot), RenderContext.of(pane)
        plot_size = (plot.size.width, plot.size.height)
        history_size = (pane.size.width, pane.size.height)
        plot_key = (data_key, plot_size, plot_context.key)
        history_key = (data_key, history_size, history_context.key)
        job = self._job
        if job is not None and job.shown == self._requested:
            will_show = (
                plot.key if job.plot_key is None else job.plot_key,
                pane.key if job.history_key is None else job.history_key,
            )
            if will_show == (plot_key, history_key):
                return  # that very build is under way
        if plot_key == plot.key and history_key == pane.key:
            self._job = None  # everything asked for is on screen (a stale build's result will be dropped)
            self._on_screen = self._requested
            return
        job = DetailJob(
            shown=self._requested,
            history=history,
            index=index,
            step=step,
            plot_key=None if plot_key == plot.key else plot_key,
            plot_size=plot_size,
            plot_context=plot_context,
            theme=PlotTheme.of(self),
            history_key=None if history_key == pane.key else history_key,
            history_size=history_size,
            scrollbar=pane.styles.scrollbar_size_vertical,
            history_context=history_context,
            history_scroll=int(pane.scroll_y),
            line_cache=pane.line_cache,
        )
        self._job = job
        self._worker = self.run_worker(
            partial(prepare_detail, job),
            name="detail pane",
            description="detail pane (curves and prediction history)",
            group=WORKER_GROUP,
            exclusive=True,  # a newer request cancels the older build
            thread=True,
            exit_on_error=False,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != WORKER_GROUP:
            return
        event.stop()
        if event.state == WorkerState.SUCCESS:
            result = worker.result
            if isinstance(result, DetailPrepared) and result.job is self._job:
                self._apply(result)
            # else: a stale build (a newer one is under way, or done): dropped
        elif event.state == WorkerState.ERROR and worker.error is not None:
            self._failed(worker.error, current=worker is self._worker)
        elif event.state == WorkerState.CANCELLED and worker is self._worker:
            self._job = None  # cancelled from outside (the app closing): the next request builds again

    def _apply(self, result: DetailPrepared) -> None:
        """The UI thread's part: swap the prepared Strips in."""
        job = result.job
        self._job = None
        self.failure = None
        if result.plot is not None:
            self.query_one(CurvePlot).show(job.plot_key, result.plot, result.plot_data)
        if result.history is not None:
            self.query_one(PredictionHistory).show(result.history)
        self._on_screen = job.shown
        self._build()  # the pane may have been resized meanwhile: nothing happens when all is current

    def _failed(self, error: BaseException, current: bool = True) -> None:
        """A build that raised: the reason in the pane and a notification, the traceback in the log.

        ``current``: the latest build (an older one that failed after it was overtaken is only reported).
        """
        log = record_failure("worker: detail pane", error)
        where = f" (traceback in {log})" if log is not None else ""
        if not current:
            self.notify(visible(f"detail pane: {type(error).__name__}: {error}{where}"), severity="error", markup=False)
            return
        job, self._job = self._job, None
        self.failure = visible(f"could not draw this example: {type(error).__name__}: {error}")
        plot = self.query_one(CurvePlot)
        message = Text(self.failure, style="bold red")
        strips = text_strips(message, plot.size.width, RenderContext.of(plot), private_console(), plot.size.height)
        # Keyed as the failed build would have been: the same request is not retried (a resize, say);
        # new data or another example are. The history of whatever was shown before goes.
        pane = self.query_one(PredictionHistory)
        plot_key = plot.key if job is None or job.plot_key is None else job.plot_key
        history_key = pane.key if job is None or job.history_key is None else job.history_key
        plot.show(plot_key, strips, None)
        pane.show(PreparedHistory(history_key, [], [], 0, None, RenderContext.of(pane), pane.line_cache))
        if job is not None:
            self._on_screen = job.shown
        self.notify(f"{self.failure}{where}", severity="error", markup=False)
