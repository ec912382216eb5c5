"""The example table, on Textual's Line API: only the rows on screen are ever turned into text.

10,000 examples cost an ordering array (``TableRows.order``); ``render_line`` builds the few dozen
visible rows on demand. Row 0 of the widget is a fixed header (click a title to sort). The cursor
follows an *example*, not a row: when new snapshots re-sort or re-filter the rows, the same example
stays selected.

Live updates redraw only what changed: each screen line has a key saying what it shows (the example
and every value drawn for it, whether the cursor is on it; the header's titles), a built line is
cached under its key, and ``show`` repaints just the lines whose key differs from the one drawn last.
A snapshot that changes three visible rows costs three lines, not the whole table; the cursor moving
costs two.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable, Sequence
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from evotui.analysis.history import RunHistory
from evotui.analysis.table import COLUMNS, QUICK_FILTERS, Column, TableQuery, TableRows
from evotui.watch.messages import ExampleSelected
from evotui.watch.text import cell_text, visible

STATUS_STYLES = {
    "known": "blue",
    "learned": "green",
    "unstable": "yellow",
    "forgotten": "bold red",
    "never": "magenta",
}
GAP = 1  # blank cells between columns
OUTPUT_MIN = len("output")  # the output column's narrowest, when the input takes the room
MEASURED = 2000  # examples whose lengths set the column widths (a live table must not measure 10,000)
# Built lines kept, ~10 screens of rows. Each is a Strip with Textual's own caches, ~40 objects for the
# collector to walk: 2,000 lines were ~80,000 of them.
CACHED_LINES = 400


def longest(texts: list[str]) -> int:
    """Cells the longest of the first MEASURED texts needs (trailing blanks do not count)."""
    return max((cell_len(visible(t[:200]).rstrip()) for t in texts[:MEASURED]), default=0)


def _number(value: float, fmt: str) -> str:
    if math.isnan(value):
        return "—"
    return format(value + 0.0, fmt).replace("-0.000", "0.000")  # no "-0.000" for a tiny negative


def _loss(value: float) -> str:
    """Five cells whatever the size: 0.123, 12.35, 123.5, 1e+04."""
    if math.isnan(value):
        return "—"
    for fmt in (".3f", ".2f", ".1f"):
        text = _number(value, fmt)
        if len(text) <= 5:
            return text
    return f"{value:.0e}"


def key_number(value: float) -> float | None:
    """A number as a line key part: NaN (never equal to itself) as None."""
    return None if math.isnan(value) else value


def no_match_note(query: TableQuery) -> str:
    """What an empty table says: which filter matched nothing (the typed text shown inert, one line)."""
    quick = dict(QUICK_FILTERS).get(query.quick, query.quick)
    text = query.text.strip()
    if text:
        return f"no example matches '{visible(text[:60])}'" + (f" among '{quick}'" if query.quick != "all" else "")
    return f"no example in the quick filter '{quick}'"


def without_colours(text: Text) -> Text:
    """``text`` with bold and italic kept, its colours (and dimming) removed."""

    def plain(style: str | Style) -> Style:
        # Dim too: dimmed text on the cursor colour fades into it.
        return (Style.parse(style) if isinstance(style, str) else style).without_color + Style(dim=False)

    out = text.copy()
    out.style = plain(text.style)
    out.spans = [Span(span.start, span.end, plain(span.style)) for span in text.spans]
    return out


class ExampleTable(ScrollView, can_focus=True):
    """Rows of examples; ``show(rows, history)`` replaces the data, keeping the selected example."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "example-table--header",
        "example-table--cursor",
        "example-table--sorted",
    }
    DEFAULT_CSS = """
    ExampleTable { background: $surface; scrollbar-size-vertical: 1; }
    ExampleTable > .example-table--header { text-style: bold; background: $panel; }
    ExampleTable > .example-table--cursor { background: $accent 40%; }
    ExampleTable:focus > .example-table--cursor { background: $accent; color: $text; }
    ExampleTable > .example-table--sorted { text-style: bold underline; }
    """

    # No repaint of its own: watch_cursor repaints the two lines the cursor leaves and reaches.
    cursor: reactive[int] = reactive(0, always_update=False, repaint=False)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows: TableRows | None = None
        self.history: RunHistory | None = None
        self.selected_index: int | None = None  # global example index under the cursor
        self._strips: dict[Hashable, Strip] = {}  # line key (see _line_key) -> the line built for it
        self._drawn: dict[int, Hashable] = {}  # screen line -> the key of what is drawn there now
        self._styles: dict[str, Style] = {}  # base, header and cursor styles, until styles change
        self._widths: list[int] = []
        self._line_width = 0  # the widget's width when the columns were laid out
        self._id_width = 6
        self._input_len = self._expected_len = 0  # the longest input and expected output (first 2,000)
        # (run lineage, texts version, examples) the lengths above were measured for: every view of a
        # live run is a new history object, but its texts change rarely (measuring costs ~10 ms).
        self._measured: tuple[int, int, int] | None = None
        self.painted_at = 0.0

    # -- data ----------------------------------------------------------------------------------------
    def show(self, rows: TableRows, history: RunHistory) -> None:
        """New rows (filter, sort or data changed). Keeps the selected example, and the scroll offset;
        repaints only the lines whose content changed."""
        self.rows = rows
        self.history = history
        key = (history.lineage, history.texts_version, history.n_examples)
        if key != self._measured:
            self._measured = key
            self._id_width = max(4, min(16, longest(history.example_ids)))
            self._input_len, self._expected_len = longest(history.inputs), longest(history.expected)
        widths = self._widths
        self._layout_columns()
        if self._widths != widths:  # every built line is cut to the old widths
            self._forget_lines()
        position = rows.position_of(self.selected_index)
        if position is None:
            position = min(self.cursor, max(len(rows) - 1, 0))
        self.virtual_size = Size(self.size.width, len(rows) + 1)
        self.set_reactive(ExampleTable.cursor, position)
        self._announce()
        self._refresh_changed_lines()

    def _forget_lines(self) -> None:
        """Drop every built line and repaint the whole table (widths, styles or focus changed)."""
        self._strips.clear()
        self._drawn.clear()
        self._styles.clear()
        self.refresh()

    def _refresh_changed_lines(self) -> None:
        """Repaint the screen lines whose key differs from what was drawn there last."""
        width = self.size.width
        if self.size.height and len(self._drawn) < self.size.height:
            self.refresh()  # not all drawn yet (just mounted): nothing to compare with
            return
        changed = [y for y in range(self.size.height) if self._drawn.get(y) != self._line_key(y)]
        if changed:
            self.refresh(*(Region(0, y, width, 1) for y in changed))

    def _announce(self) -> None:
        index = int(self.rows.order[self.cursor]) if self.rows is not None and len(self.rows) else None
        if index != self.selected_index:
            self.selected_index = index
            self.post_message(ExampleSelected(index))

    def select_index(self, index: int) -> None:
        """Move the cursor to a global example index (if it is shown)."""
        if self.rows is None:
            return
        position = self.rows.position_of(index)
        if position is not None:
            self.cursor = position
            self.scroll_to_cursor()

    # -- layout --------------------------------------------------------------------------------------
    def _layout_columns(self) -> None:
        # Always leave room for the scrollbar: whether it shows must not move the columns.
        self._line_width = self.size.width
        width = max(self._line_width - self.styles.scrollbar_size_vertical, 20)
        fixed = [self._id_width if c.key == "id" else c.width for c in COLUMNS]
        flexible = [i for i, c in enumerate(COLUMNS) if c.width == 0]
        # The sorted column is as wide as its title and arrow, so the arrow is never cut off
        # ("learned▲"); only that column pays for it, not every column that might be sorted.
        sort_key = self.rows.query.sort if self.rows is not None else "id"
        for i, column in enumerate(COLUMNS):
            if column.key == sort_key and column.width:
                fixed[i] = max(fixed[i], cell_len(column.title) + 1)
        room = width - sum(fixed) - GAP * (len(COLUMNS) - 1)
        # "expected" is usually short (an answer): as wide as its longest value, at most a fifth of the room.
        arrow = {key: int(key == sort_key) for key in ("input", "expected", "output")}
        expected = max(len("expected") + arrow["expected"], min(self._expected_len, int(room * 0.2)))
        rest = room - expected
        # The input says which example a row is: it takes what its longest value needs, up to all but
        # OUTPUT_MIN cells, and at least half; the output gets the rest.
        text_input = max(rest // 2, min(self._input_len, rest - OUTPUT_MIN - arrow["output"]))
        widths = {"expected": expected, "input": text_input, "output": max(4, rest - text_input)}
        for i in flexible:
            fixed[i] = widths[COLUMNS[i].key]
        self._widths = fixed

    def notify_style_update(self) -> None:
        # Cached rows carry the cursor's colours: rebuild them when styles (focus, theme) change.
        super().notify_style_update()
        self._forget_lines()

    def on_focus(self) -> None:
        self._forget_lines()

    def on_blur(self) -> None:
        self._forget_lines()

    def on_resize(self, event: events.Resize) -> None:
        self._forget_lines()
        self._layout_columns()
        if self.rows is not None:
            self.virtual_size = Size(self.size.width, len(self.rows) + 1)

    def column_at(self, x: int) -> Column | None:
        left = 0
        for column, width in zip(COLUMNS, self._widths, strict=True):
            if left <= x < left + width + GAP:
                return column
            left += width + GAP
        return None

    # -- rendering -----------------------------------------------------------------------------------
    def _cells(self, index: int) -> list[Text]:
        assert self.rows is not None and self.history is not None
        c = self.rows.columns
        status = str(c.status[index])
        learned = int(c.learned_step[index])
        forgets = int(c.forget_count[index])
        exact = float(c.exact[index])
        glyph = Text("·", style="dim") if math.isnan(exact) else Text("✓", "green") if exact else Text("✗", "red")
        hist = self.history
        w = dict(zip((col.key for col in COLUMNS), self._widths, strict=True))
        return [
            cell_text(hist.example_ids[index], w["id"]),
            Text(status, style=STATUS_STYLES.get(status, "")),
            Text(f"{learned:,}" if learned >= 0 else "—", style="" if learned >= 0 else "dim"),
            Text(str(forgets) if forgets >= 0 else "—", style="bold yellow" if forgets > 0 else "dim"),
            Text(_loss(float(c.loss[index]))),
            Text(_number(float(c.similarity[index]), ".2f")),
            glyph,
            cell_text(hist.inputs[index], w["input"]),
            cell_text(hist.expected[index], w["expected"]),
            cell_text(c.outputs[index], w["output"], style="" if exact == 1.0 else "italic"),
        ]

    def _header_cells(self) -> list[Text]:
        rows = self.rows
        sort_key = rows.query.sort if rows is not None else "id"
        reverse = rows.query.reverse if rows is not None else False
        sorted_style = self.get_component_rich_style("example-table--sorted", partial=True)
        cells = []
        for column in COLUMNS:
            title = column.title
            if column.key == "output" and rows is not None and rows.columns.step is not None:
                with_step = f"output @{rows.columns.step:,}"
                title = with_step if len(with_step) <= self._widths[-1] else title
            if column.key == sort_key:
                cells.append(Text(title + ("▼" if reverse else "▲"), style=sorted_style))
            else:
                cells.append(Text(title))
        return cells

    @property
    def shown_columns(self) -> Sequence[Column]:
        """The columns laid out and joined (a subclass with its own columns, the compare table, overrides it)."""
        return COLUMNS

    def _cursor_cell(self, cell: Text) -> Text:
        """A cell of the cursor row: without its own colours, readable on the cursor's colour."""
        return without_colours(cell)

    def _join(self, cells: list[Text], base: Style, plain: bool = False) -> Strip:
        """One line of cells; ``plain``: without the cells' own colours (the cursor row, see render_line).

        The segments are those of joining the cells into one ``Text`` (spaces between them, padding on
        the left of numbers, ``base`` under everything) and rendering it, made directly: this runs for
        every row a live update changes, and Rich's general path cost ~0.2 ms a line (with contention
        from the service thread, 0.6). Cells with spans of their own take that general path.
        """
        columns = self.shown_columns
        if plain:
            cells = [self._cursor_cell(cell) for cell in cells]
        if not base or any(cell.spans for cell in cells):
            return self._join_text(cells, base)
        get_style = self.app.console.get_style
        null = Style.null()
        segments: list[Segment] = []
        run: list[str] = []  # text under ``base`` alone, since the last styled cell
        for i, (cell, width) in enumerate(zip(cells, self._widths, strict=False)):
            if i:
                run.append(" " * GAP)
            text = cell.plain
            length = cell_len(text)
            if length > width:  # as Text.truncate(width, overflow="ellipsis")
                text = set_cell_size(text, width - 1) + "…"
                length = cell_len(text)
            pad = " " * (width - length) if width > length else ""
            numeric = columns[i].numeric
            if numeric:
                run.append(pad)
            style = cell.style
            if style:
                # A styled cell is a span: it bounds the text around it even when empty.
                if run:
                    segments.append(Segment("".join(run), base))
                    run = []
                if text:
                    own = get_style(style, default=null) if isinstance(style, str) else style
                    segments.append(Segment(text, base + own))
            else:
                run.append(text)
            if not numeric:
                run.append(pad)
        joined = "".join(run)
        if joined:
            segments.append(Segment(joined, base))
        return Strip(segments).adjust_cell_length(self._line_width, base)

    def _join_text(self, cells: list[Text], base: Style) -> Strip:
        """``_join`` through a Rich ``Text`` (cells with spans of their own)."""
        columns = self.shown_columns
        line = Text(no_wrap=True, end="")
        for i, (cell, width) in enumerate(zip(cells, self._widths, strict=False)):
            if i:
                line.append(" " * GAP)
            cell.truncate(width, overflow="ellipsis")
            pad = width - cell.cell_len
            if columns[i].numeric and pad > 0:
                line.append(" " * pad)
                line.append_text(cell)
            else:
                line.append_text(cell)
                if pad > 0:
                    line.append(" " * pad)
        line.stylize_before(base)
        segments = list(line.render(self.app.console))
        return Strip(segments).adjust_cell_length(self._line_width, base)

    def _row_key(self, index: int) -> Hashable:
        """Everything the row of example ``index`` shows (with the widths): equal keys, equal lines."""
        assert self.rows is not None and self.history is not None
        c = self.rows.columns
        hist = self.history
        return (
            index,
            c.status[index],
            int(c.learned_step[index]),
            int(c.forget_count[index]),
            key_number(float(c.loss[index])),
            key_number(float(c.similarity[index])),
            key_number(float(c.exact[index])),
            c.outputs[index],
            hist.example_ids[index],
            hist.inputs[index],
            hist.expected[index],
        )

    def _line_key(self, y: int) -> Hashable:
        """What screen line ``y`` shows now (the header, a row and its cursor state, a note, blank)."""
        if y == 0:
            return ("header", *((cell.plain, str(cell.style)) for cell in self._header_cells()))
        rows = self.rows
        if rows is None:
            return None
        if not len(rows):
            return ("note", no_match_note(rows.query)) if y == 2 and rows.total else None
        position = int(self.scroll_offset.y) + y - 1
        if position >= len(rows) or position < 0:
            return None
        return (self._row_key(int(rows.order[position])), position == self.cursor)

    def _style(self, name: str) -> Style:
        """The widget's base style, or it with a component's (kept until styles or focus change)."""
        style = self._styles.get(name)
        if style is None:
            style = self.rich_style
            if name:
                style = style + self.get_component_rich_style(name)
            self._styles[name] = style
        return style

    def render_line(self, y: int) -> Strip:
        self.painted_at = time.perf_counter()  # the benches time keystroke -> table on screen
        key = self._line_key(y)
        self._drawn[y] = key
        strip = self._strips.get(key)
        if strip is not None:
            return strip
        if len(self._widths) != len(self.shown_columns) or self._line_width != self.size.width:
            self._layout_columns()  # a first paint before any data or resize event
        width = self._line_width
        base = self._style("")
        if y == 0:
            strip = self._join(self._header_cells(), self._style("example-table--header")).crop(0, width)
        elif key is None:
            strip = Strip.blank(width, base)
        elif key[0] == "note":
            # Not a blank table: say that the filter matched nothing.
            note = Text(f"  {key[1]}", style="italic", no_wrap=True, end="")
            note.truncate(width, overflow="ellipsis")
            strip = Strip(list(note.render(self.app.console)), note.cell_len).adjust_cell_length(width, base)
        else:
            assert self.rows is not None
            selected = key[1]
            index = int(self.rows.order[int(self.scroll_offset.y) + y - 1])
            # The cursor row is one colour pair, the theme's text on its cursor colour: a status or
            # mark in its own colour (yellow "unstable" on an orange cursor) could not be read there.
            style = self._style("example-table--cursor") if selected else base
            strip = self._join(self._cells(index), style, plain=selected)
        if len(self._strips) > CACHED_LINES:
            self._strips.clear()
        self._strips[key] = strip
        return strip

    # -- cursor and scrolling ------------------------------------------------------------------------
    @property
    def page_rows(self) -> int:
        return max(self.scrollable_content_region.height - 1, 1)

    def watch_cursor(self, old: int, new: int) -> None:
        # Two lines change (their keys say whether the cursor is on them); a scroll repaints the rest.
        self._refresh_changed_lines()
        self._announce()

    def scroll_to_cursor(self) -> None:
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + self.page_rows:
            self.scroll_to(y=self.cursor - self.page_rows + 1, animate=False, immediate=True)

    def _move_to(self, position: int) -> None:
        if self.rows is None or not len(self.rows):
            return
        self.cursor = max(0, min(position, len(self.rows) - 1))
        self.scroll_to_cursor()

    def action_cursor(self, delta: int) -> None:
        self._move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move_to(self.cursor + direction * self.page_rows)

    def action_jump(self, where: int) -> None:
        self._move_to(0 if where == 0 else (len(self.rows) - 1 if self.rows is not None else 0))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self.column_at(offset.x)
            if column is not None:
                self.screen.post_message(SortRequested(column.key))
            return
        self._move_to(int(self.scroll_offset.y) + offset.y - 1)


class SortRequested(Message):
    """A header title was clicked: sort by that column (again: reverse it)."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
