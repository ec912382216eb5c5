"""The detail pane for one example: loss and similarity curves (plotext) and its prediction history."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static
from textual_plotext import PlotextPlot

from evotui.analysis.history import RunHistory
from evotui.watch.text import cell_text, whole_text
from evotui.watch.widgets.example_table import STATUS_STYLES


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


class CurvePlot(PlotextPlot):
    """PlotextPlot that rebuilds its picture only when the data or the size changed.

    textual-plotext's ``render`` rebuilds the whole plot at every paint; a live app repaints often.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._marker: int | None = None  # the travelled step, drawn as a vertical line
        self._data_key: object = None
        self._cache_key: object = None
        self._cache: RenderableType = Text("")

    def set_data(
        self,
        key: object,
        steps: np.ndarray,
        loss: np.ndarray,
        sim: np.ndarray,
        exact: np.ndarray,
        marker: int | None = None,
    ) -> None:
        key = (key, marker)
        if key == self._data_key:
            return
        self._data_key = key
        self._data = (steps.astype(np.float64), loss, sim, exact)
        self._marker = marker
        self.refresh()

    def clear_data(self) -> None:
        if self._data_key is not None or self._data is not None:
            self._data_key, self._data, self._marker = None, None, None
            self.refresh()

    def render(self) -> RenderableType:
        key = (self._data_key, self.size.width, self.size.height, self.app.theme)
        if key == self._cache_key:
            return self._cache
        plt = self.plt
        plt.clear_figure()
        if self._data is None:
            self._cache = Text("")  # no example: the title says why
        elif self._data[0].size == 0:
            self._cache = Text("no data", style="dim")
        else:
            steps, loss, sim, exact = self._data
            # x is the snapshot's index, labelled with its step: schedules are dense early (0, 10, 25,
            # 50, 100, ...), and on a step axis every early snapshot of a long run sits in one column.
            x = np.arange(steps.size, dtype=np.float64)
            buckets = max(self.size.width // 2, 4)
            lx, ly = downsample(x, loss, buckets)
            sx, sy = downsample(x, sim, buckets)
            if lx:
                plt.plot(lx, ly, color="orange", marker="braille")
            if sx:
                plt.plot(sx, sy, color="cyan", marker="braille", yside="right")
                plt.ylim(0, 1.05, yside="right")
            ticks = np.unique(np.linspace(0, steps.size - 1, min(5, steps.size)).round().astype(np.int64))
            plt.xticks(ticks.tolist(), [f"{int(steps[t]):,}" for t in ticks.tolist()])
            if steps.size == 1:  # one snapshot: an axis around it, labelled with its step only
                plt.xlim(-1, 1)
            if self._marker is not None and self._marker in steps:
                plt.vline(int(np.searchsorted(steps, self._marker)), color="white")
            right = ~np.isnan(exact) & (exact == 1.0)
            if right.any():
                rx, ry = downsample(x[right], np.nan_to_num(sim[right], nan=1.0), buckets)
                plt.scatter(rx, ry, color="green", marker="✓", yside="right")
            self._cache = super().render()
        self._cache_key = key
        return self._cache


def history_text(history: RunHistory, index: int, step: int | None = None) -> Text:
    """Prediction history, oldest first; consecutive identical outputs are one line ("×N").

    ``step`` (step travel): the line holding that snapshot is highlighted and marked "◀".

    One Text rather than a rich Table: a Table re-measures every cell at every render, which costs
    a second for a long history, and the pane is re-rendered whenever the selection moves.
    """
    points = history.prediction_history(index)
    runs: list[list[Any]] = []
    for p in points:
        if runs and runs[-1][0].output == p.output and runs[-1][0].exact == p.exact:
            runs[-1][1] = p.step
            runs[-1][2] += 1
        else:
            runs.append([p, p.step, 1])
    labels = [f"{first.step:,}" if count == 1 else f"{first.step:,}–{last:,}" for first, last, count in runs]
    width = max((len(label) for label in labels), default=4)
    text = Text(no_wrap=False)
    text.append(f"{'step':>{width}}    sim output", style="bold")
    for label, (first, last, count) in zip(labels, runs, strict=True):
        text.append("\n")
        line_start = len(text)
        text.append(f"{label:>{width}} ", style="bold")
        text.append("✓" if first.exact else "✗", style="green" if first.exact else "red")
        text.append(" —   " if math.isnan(first.similarity) else f" {first.similarity:.2f} ")
        text.append_text(whole_text(first.output, style="" if first.exact else "italic"))
        if count > 1:
            text.append(f"  ×{count}", style="dim")
        if step is not None and first.step <= step <= last:
            text.append(f"  ◀ step {step:,}", style="bold reverse")
            text.stylize("on #303050", line_start, len(text))
    return text


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


class PlotLegend(Static):
    """The plot's legend line, as long as its width allows."""

    def on_resize(self) -> None:
        self.update(legend_text(self.content_size.width))


class ExampleDetail(Vertical):
    """``show(history, dynamics, index)``; redraws only what changed for that example."""

    def compose(self) -> ComposeResult:
        yield Static("", id="detail-title")
        with Horizontal(id="detail-body"):
            with Vertical(id="detail-curves"):
                yield PlotLegend(legend_text(), id="detail-legend")
                yield CurvePlot(id="detail-plot")
            with Vertical(id="detail-side"):
                # The input and expected output stay in sight; only the prediction history scrolls.
                yield Static("", id="detail-texts")
                with VerticalScroll(id="detail-history"):
                    yield Static("", id="detail-predictions")

    # (history id, version, index, dynamics id, travelled step, empty note) on screen
    shown: tuple[int, int, int | None, int, int | None, str | None] | None = None

    _title_args: tuple[RunHistory, Any, int, int | None] | None = None

    def on_resize(self) -> None:
        if self._title_args is not None:  # the title's parts fit the width: choose them again
            history, dynamics, index, step = self._title_args
            title = title_text(history, dynamics, index, self.size.width - 2, step)
            self.query_one("#detail-title", Static).update(title)

    def _scroll_to_marker(self) -> None:
        predictions = self.query_one("#detail-predictions", Static)
        lines = str(predictions.render()).split("\n")
        line = next((n for n, text in enumerate(lines) if "◀ step" in text), None)
        if line is not None:
            pane = self.query_one("#detail-history", VerticalScroll)
            y = predictions.virtual_region.y + line
            pane.scroll_to(y=max(0, y - pane.size.height // 2), animate=False, immediate=True)

    # Shown instead of "no example selected" when the table's filter matched nothing (set by the screen).
    empty_note: str | None = None

    def show(self, history: RunHistory, dynamics: Any | None, index: int | None, step: int | None = None) -> None:
        """``step``: the travelled step (None when following live); ``dynamics`` are then as of it."""
        key = (id(history), history.version, index, id(dynamics), step, self.empty_note if index is None else None)
        if key == self.shown:
            return
        self.shown = key
        title = self.query_one("#detail-title", Static)
        texts = self.query_one("#detail-texts", Static)
        predictions = self.query_one("#detail-predictions", Static)
        plot = self.query_one(CurvePlot)
        legend = self.query_one(PlotLegend)
        legend.display = index is not None and index < history.n_examples  # no plot, no legend
        if index is None or index >= history.n_examples:
            self._title_args = None
            title.update(Text(self.empty_note or "no example selected", style="dim", no_wrap=True, overflow="ellipsis"))
            texts.update("")
            predictions.update("")
            plot.clear_data()
            return
        self._title_args = (history, dynamics, index, step)
        title.update(title_text(history, dynamics, index, self.size.width - 2, step))
        io = Text()
        io.append("input    ", style="bold")
        io.append_text(whole_text(history.inputs[index]))
        io.append("\nexpected ", style="bold")
        io.append_text(whole_text(history.expected[index]))
        texts.update(io)
        predictions.update(history_text(history, index, step))
        if step is not None:
            # The travelled step's line may be far down a long history: bring it into view once laid out.
            self.call_after_refresh(self._scroll_to_marker)
        plot.set_data(
            (id(history), history.version, index),
            history.steps_array(),
            history.series(index, "loss"),
            history.series(index, "similarity"),
            history.series(index, "exact"),
            marker=step,
        )
