"""The compare screen's table: one row per matched example, each run's status, learned step and latest
output, and B's learned step minus A's.

It is the example table (``ExampleTable``: Line API, only the visible rows are built, cursor following
an example, header click to sort) with other columns: this module supplies the columns and the cells,
the scrolling, cursor and caching are the example table's.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from rich.style import Style
from rich.text import Text

from evotui.analysis.compare import Comparison, delta_label, learned_label, run_letter
from evotui.analysis.history import RunHistory
from evotui.analysis.table import Column, OrderedRows, TableQuery
from evotui.watch.text import cell_text
from evotui.watch.widgets.example_table import GAP, STATUS_STYLES, ExampleTable, key_number
from evotui.watch.widgets.runs_plot import run_style


def delta_text(value: float, x_axis: str) -> Text:
    """B - A: negative (B learned sooner) green, positive red, "—" unless both learned."""
    style = "dim" if math.isnan(value) else "green" if value < 0 else "red" if value > 0 else ""
    return Text(delta_label(value, x_axis), style=style)


@dataclass
class CompareRows(OrderedRows):
    """What the table shows: ``order`` holds matched-example positions in display order."""

    comparison: Comparison
    b: int = 1
    query: TableQuery = field(default_factory=TableQuery)


# The sort keys of ``Comparison.rows`` behind the columns a click can sort by.
def sort_key_of(column_key: str, b: int) -> str | None:
    if column_key == "id":
        return "id"
    if column_key == "delta":
        return "delta"
    for prefix in ("status", "learned"):
        if column_key.startswith(prefix):
            r = int(column_key[len(prefix) :])
            if r == 0:
                return f"{prefix}_a"
            if r == b:
                return f"{prefix}_b"
    return None


class CompareTable(ExampleTable):
    """``show(rows)``: the rows of a comparison; keeps the selected example (by its position in the
    comparison, which stays put while the runs add snapshots: matching follows run A's order)."""

    DEFAULT_CSS = """
    CompareTable { background: $surface; scrollbar-size-vertical: 1; }
    CompareTable > .example-table--header { text-style: bold; background: $panel; }
    CompareTable > .example-table--cursor { background: $accent 40%; }
    CompareTable:focus > .example-table--cursor { background: $accent; color: $text; }
    CompareTable > .example-table--sorted { text-style: bold underline; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.columns: list[Column] = []
        self.compare_rows: CompareRows | None = None

    # -- data ----------------------------------------------------------------------------------------
    def show(self, rows: CompareRows, history: RunHistory | None = None) -> None:  # type: ignore[override]
        cmp = rows.comparison
        n = cmp.n_runs
        self.compare_rows = rows
        self._id_width = max(4, min(16, max((len(i) for i in cmp.example_ids[:2000]), default=4)))
        columns = [Column("id", "id", self._id_width)]
        for r in range(n):
            columns += [Column(f"status{r}", f"{run_letter(r)} status", 9), Column(f"learned{r}", "learned", 7, True)]
        columns.append(Column("delta", f"{run_letter(rows.b)}−A", 6, True))
        columns += [Column(f"output{r}", f"{run_letter(r)} output", 0) for r in range(n)]
        self.columns = columns
        super().show(rows, history or RunHistory())  # type: ignore[arg-type]

    def _layout_columns(self) -> None:
        self._line_width = self.size.width
        width = max(self._line_width - self.styles.scrollbar_size_vertical, 20)
        fixed = [c.width for c in self.columns]
        flexible = [i for i, c in enumerate(self.columns) if c.width == 0]
        room = width - sum(fixed) - GAP * (len(self.columns) - 1)
        for i in flexible:
            fixed[i] = max(4, room // max(len(flexible), 1))
        self._widths = fixed

    def column_at(self, x: int) -> Column | None:
        left = 0
        for column, width in zip(self.columns, self._widths, strict=False):
            if left <= x < left + width + GAP:
                return column
            left += width + GAP
        return None

    # -- rendering -----------------------------------------------------------------------------------
    def _row_key(self, index: int) -> Hashable:
        """Everything the row shows (see ``ExampleTable._row_key``): each run's status, learned step,
        exactness and output, and which run is B."""
        rows = self.compare_rows
        assert rows is not None
        cmp = rows.comparison
        return (
            index,
            rows.b,
            cmp.x_axis,
            cmp.example_ids[index],
            *(
                (
                    str(cmp.status[index, r]),
                    key_number(float(cmp.learned_x[index, r])),
                    key_number(float(cmp.exact_now[index, r])),
                    cmp.outputs[r][index],
                )
                for r in range(cmp.n_runs)
            ),
        )

    def _cells(self, index: int) -> list[Text]:
        rows = self.compare_rows
        assert rows is not None
        cmp = rows.comparison
        widths = dict(zip((c.key for c in self.columns), self._widths, strict=False))
        cells = [cell_text(cmp.example_ids[index], widths.get("id", 8))]
        for r in range(cmp.n_runs):
            status = str(cmp.status[index, r])
            learned = float(cmp.learned_x[index, r])
            cells.append(Text(status, style=STATUS_STYLES.get(status, "")))
            cells.append(Text(learned_label(learned, cmp.x_axis), style="" if not math.isnan(learned) else "dim"))
        cells.append(delta_text(float(cmp.learned_x[index, rows.b] - cmp.learned_x[index, 0]), cmp.x_axis))
        for r in range(cmp.n_runs):
            exact = float(cmp.exact_now[index, r])
            style = "" if exact == 1.0 else "italic"
            cells.append(cell_text(cmp.outputs[r][index], widths.get(f"output{r}", 8), style))
        return cells

    def _header_cells(self) -> list[Text]:
        rows = self.compare_rows
        sort = rows.query.sort if rows is not None else "id"
        reverse = rows.query.reverse if rows is not None else False
        sorted_style = self.get_component_rich_style("example-table--sorted", partial=True)
        cells = []
        for column in self.columns:
            # A run's status and output titles in its colour (as in the legend and the plots).
            style = ""
            for prefix in ("status", "output"):
                if column.key.startswith(prefix):
                    style = f"bold {run_style(int(column.key[len(prefix) :]))}"
            if rows is not None and sort_key_of(column.key, rows.b) == sort and (sort != "id" or reverse):
                cells.append(Text(column.title + ("▼" if reverse else "▲"), style=sorted_style))
            else:
                cells.append(Text(column.title, style=style))
        return cells

    @property
    def shown_columns(self) -> Sequence[Column]:
        return self.columns

    def _cursor_cell(self, cell: Text) -> Text:
        # The cursor row: one colour pair, bold kept (the runs' colours would vanish into the cursor's).
        return Text(cell.plain, style=Style(bold=bool(Style.parse(str(cell.style or "")).bold)))
