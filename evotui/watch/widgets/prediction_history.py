"""The detail pane's prediction history: its lines (built in a thread) and a Line API widget to show them.

A long run's history is hundreds of lines. Shown as one Text in a ``Static`` it was laid out whole on the
UI thread at every change (~150 ms at 500 lines). Here the lines are wrapped once for the widget's
width in a worker thread (``prepare_history``), and ``PredictionHistory.render_line`` hands out only
the visible ones, ready.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from itertools import accumulate
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from evotui.analysis.history import RunHistory
from evotui.watch.text import whole_text
from evotui.watch.widgets.prepared_lines import PreparedSizeChanged, RenderContext, private_console, text_strips

MARKER = "◀ step"


def history_lines(history: RunHistory, index: int, step: int | None = None) -> tuple[list[Text], int | None]:
    """Prediction history, oldest first, one Text per line; consecutive identical outputs are one line ("×N").

    ``step`` (step travel): the line holding that snapshot is highlighted and marked "◀"; its position
    in the list is returned with the lines (None without a step). The first line is the header.
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
    lines = [Text(f"{'step':>{width}}    sim output", style="bold")]
    marked: int | None = None
    for label, (first, last, count) in zip(labels, runs, strict=True):
        text = Text()
        text.append(f"{label:>{width}} ", style="bold")
        text.append("✓" if first.exact else "✗", style="green" if first.exact else "red")
        text.append(" —   " if math.isnan(first.similarity) else f" {first.similarity:.2f} ")
        text.append_text(whole_text(first.output, style="" if first.exact else "italic"))
        if count > 1:
            text.append(f"  ×{count}", style="dim")
        if step is not None and first.step <= step <= last:
            text.append(f"  {MARKER} {step:,}", style="bold reverse")
            text.stylize("on #303050", 0, len(text))
            marked = len(lines)
        lines.append(text)
    return lines, marked


def history_text(history: RunHistory, index: int, step: int | None = None) -> Text:
    """The history as one Text (``history_lines`` joined): for reports and tests."""
    return Text("\n", no_wrap=False).join(history_lines(history, index, step)[0])


# Wrapped lines kept per (text, spans, width, style): a live update adds a line or two to a history whose
# other lines are unchanged, and wrapping a line costs ~0.3 ms.
LineCache = dict[tuple[object, ...], list[Strip]]
LINE_CACHE_SIZE = 4000


def wrapped_line(line: Text, width: int, context: RenderContext, console: Console, cache: LineCache) -> list[Strip]:
    """``line`` wrapped to ``width`` (from ``cache`` when it was before; dict operations are atomic, so
    a stale build still running beside a newer one at worst wraps a line twice)."""
    key = (line.plain, tuple(line.spans), width, context.key)
    strips = cache.get(key)
    if strips is None:
        if len(cache) > LINE_CACHE_SIZE:
            cache.clear()
        strips = cache[key] = text_strips(line, width, context, console) or [Strip([])]
    return strips


def line_height(line: Text, width: int, context: RenderContext, console: Console, cache: LineCache) -> int:
    """The rows ``line`` takes at ``width``: 1 when it fits (most do: measured, not wrapped), else wrapped."""
    plain = line.plain
    if "\n" not in plain and cell_len(plain) <= width:
        return 1
    return len(wrapped_line(line, width, context, console, cache))


class PreparedHistory:
    """A history's lines laid out for one width: each line's rows, and the Strips of the rows made so far.

    A build (a thread) measures every line and makes the Strips of the rows in sight; ``strip`` makes any
    other row's when it is first scrolled to (one line, ~0.3 ms, then kept). After the build hands it
    over, only the UI thread uses it.
    """

    def __init__(
        self,
        key: object,
        lines: list[Text],
        heights: list[int],
        width: int,
        marker: int | None,
        context: RenderContext,
        cache: LineCache,
    ) -> None:
        self.key = key
        self.lines = lines
        self.width = width  # the width wrapped for (narrower than the widget when a scrollbar is needed)
        self.marker = marker  # the row holding the "◀ step" mark (step travel)
        self.context = context
        self.cache = cache
        self.starts = list(accumulate(heights, initial=0))  # line n takes rows starts[n] to starts[n + 1] - 1
        self.rows: list[Strip | None] = [None] * self.starts[-1]

    @property
    def height(self) -> int:
        return len(self.rows)

    def strip(self, row: int, console: Console) -> Strip:
        strip = self.rows[row]
        if strip is None:
            self.make(row, row + 1, console)
            strip = self.rows[row]
            assert strip is not None
        return strip

    def make(self, first: int, last: int, console: Console) -> None:
        """The Strips of rows ``first`` to ``last - 1`` (clipped to the history)."""
        first, last = max(first, 0), min(last, self.height)
        n = bisect_right(self.starts, first) - 1
        while n < len(self.lines) and self.starts[n] < last:
            start, end = self.starts[n], self.starts[n + 1]
            if self.rows[start] is None:
                wrapped = wrapped_line(self.lines[n], self.width, self.context, console, self.cache)
                for row in range(start, end):
                    self.rows[row] = wrapped[row - start] if row - start < len(wrapped) else Strip([])
            n += 1


def prepare_history(
    key: object,
    lines: list[Text],
    marked: int | None,
    width: int,
    height: int,
    scrollbar: int,
    scroll_y: int,
    context: RenderContext,
    console: Console,
    cache: LineCache,
) -> PreparedHistory:
    """In a thread: ``lines`` measured for ``width``, or for ``width - scrollbar`` when they overflow
    ``height``; the rows in sight made (around the marked line, or at ``scroll_y``, and the top)."""
    for wrap in (width, width - scrollbar):
        heights = [line_height(line, wrap, context, console, cache) for line in lines] if wrap > 0 else []
        if sum(heights) <= height or scrollbar <= 0:
            break
    marker: int | None = None
    prepared = PreparedHistory(key, lines if wrap > 0 else [], heights, wrap, None, context, cache)
    if marked is not None and marked < len(heights):  # the mark ends the line: centre on its last row
        marker = prepared.starts[marked] + heights[marked] - 1
        prepared.marker = marker
        prepared.make(marker - height, marker + height, console)
    prepared.make(0, height, console)
    prepared.make(scroll_y, scroll_y + height, console)
    return prepared


class PredictionHistory(ScrollView, can_focus=True):
    """The prediction history: prepared lines, scrolled; ``render_line`` draws only the visible ones."""

    DEFAULT_CSS = """
    PredictionHistory {
        overflow-x: hidden;
        overflow-y: auto;
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prepared: PreparedHistory | None = None
        self.line_cache: LineCache = {}  # for prepare_history, in the pane's build threads
        self._row_console = private_console()  # for rows made on the UI thread (scrolled to)

    @property
    def key(self) -> object:
        return None if self.prepared is None else self.prepared.key

    @property
    def line_count(self) -> int:
        return 0 if self.prepared is None else self.prepared.height

    def plain_lines(self) -> list[str]:
        """Every line as plain text (tests: makes the rows not made yet)."""
        prepared = self.prepared
        if prepared is None:
            return []
        return [prepared.strip(row, self._row_console).text for row in range(prepared.height)]

    def show(self, prepared: PreparedHistory | None) -> None:
        """Swap in ``prepared`` (None: empty); the travelled step's line, if any, scrolled into view."""
        self.prepared = prepared
        size = Size(0, 0) if prepared is None else Size(prepared.width, prepared.height)
        if size != self.virtual_size:
            self._set_virtual_size(size)
        self.refresh()
        if prepared is not None and prepared.marker is not None:
            # After the layout that the new virtual size asks for: the scrollbar then exists to follow.
            self.call_after_refresh(self._scroll_to_marker, prepared)

    def _set_virtual_size(self, size: Size) -> None:
        """A new virtual size; a layout of the screen only when the scrollbar comes or goes.

        ``virtual_size`` is a reactive that asks for a layout of the whole screen (a reflow and a repaint
        of every widget, the table included) at every change, and the history's length changes with
        every example and every snapshot. This widget's own size does not depend on it: while the
        scrollbar stays (or stays away), updating the scrollbar and the scroll limits is enough.
        """
        overflows = size.height > self.container_size.height
        if not self.is_mounted or not self.container_size or overflows != self.show_vertical_scrollbar:
            self.virtual_size = size
            return
        self.set_reactive(PredictionHistory.virtual_size, size)
        self._scroll_update(size)  # the scrollbar's window, the scroll offset clamped to the new size

    def _scroll_to_marker(self, prepared: PreparedHistory) -> None:
        if prepared is self.prepared and prepared.marker is not None:
            y = max(0, prepared.marker - self.scrollable_content_region.height // 2)
            self.scroll_to(y=y, animate=False, immediate=True)

    def on_resize(self) -> None:
        self.post_message(PreparedSizeChanged())  # wrapped for another width: the pane builds again

    def render_line(self, y: int) -> Strip:
        n = y + self.scroll_offset.y
        if self.prepared is not None and 0 <= n < self.prepared.height:
            return self.prepared.strip(n, self._row_console)
        return Strip.blank(self.size.width, self.visual_style.rich_style)
