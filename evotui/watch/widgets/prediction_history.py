"""The detail pane's prediction history: its lines (built in a thread) and a Line API widget to show them.

A long run's history is hundreds of lines. Shown as one Text in a ``Static`` it was laid out whole on the
UI thread at every change (~150 ms at 500 lines). Here the lines are wrapped once for the widget's
width in a worker thread (``prepare_history``), and ``PredictionHistory.render_line`` hands out only
the visible ones, ready.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from evotui.analysis.history import RunHistory
from evotui.watch.text import whole_text
from evotui.watch.widgets.prepared_lines import RenderContext, text_strips

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


@dataclass(frozen=True, eq=False)
class PreparedHistory:
    """A history's lines wrapped for one width: what ``PredictionHistory`` shows."""

    key: object
    strips: list[Strip]
    width: int  # the width wrapped for (narrower than the widget when a scrollbar is needed)
    marker: int | None  # the strip holding the "◀ step" mark (step travel)


# Wrapped lines kept per (text, spans, width, style): a live update adds a line or two to a history whose
# other lines are unchanged, and wrapping is most of a build (~0.3 ms a line).
LineCache = dict[tuple[object, ...], list[Strip]]
LINE_CACHE_SIZE = 4000


def prepare_history(
    key: object,
    lines: list[Text],
    marked: int | None,
    width: int,
    height: int,
    scrollbar: int,
    context: RenderContext,
    console: Console,
    cache: LineCache | None = None,
) -> PreparedHistory:
    """In a thread: ``lines`` wrapped to ``width``, or to ``width - scrollbar`` when they overflow ``height``.

    ``cache``: wrapped lines of earlier builds, read and added to (dict operations are atomic: a stale
    build still running beside a newer one at worst wraps a line twice).
    """
    if cache is not None and len(cache) > LINE_CACHE_SIZE:
        cache.clear()
    for wrap in (width, width - scrollbar):
        strips: list[Strip] = []
        marker: int | None = None
        for n, line in enumerate(lines):
            line_key = (line.plain, tuple(line.spans), wrap, context.key)
            wrapped = None if cache is None else cache.get(line_key)
            if wrapped is None:
                wrapped = text_strips(line, wrap, context, console)
                if cache is not None:
                    cache[line_key] = wrapped
            if n == marked:  # the mark ends the line: centre on its last row
                marker = len(strips) + max(len(wrapped) - 1, 0)
            strips.extend(wrapped)
        if len(strips) <= height or scrollbar <= 0:
            break
    return PreparedHistory(key, strips, wrap, marker)


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

    @property
    def key(self) -> object:
        return None if self.prepared is None else self.prepared.key

    @property
    def line_count(self) -> int:
        return 0 if self.prepared is None else len(self.prepared.strips)

    def plain_lines(self) -> list[str]:
        """Every prepared line as plain text (tests)."""
        return [] if self.prepared is None else [strip.text for strip in self.prepared.strips]

    def show(self, prepared: PreparedHistory | None) -> None:
        """Swap in ``prepared`` (None: empty); the travelled step's line, if any, scrolled into view."""
        self.prepared = prepared
        size = Size(0, 0) if prepared is None else Size(prepared.width, len(prepared.strips))
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

    def render_line(self, y: int) -> Strip:
        n = y + self.scroll_offset.y
        if self.prepared is not None and 0 <= n < len(self.prepared.strips):
            return self.prepared.strips[n]
        return Strip.blank(self.size.width, self.visual_style.rich_style)
