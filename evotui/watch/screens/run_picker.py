"""A DIR holding several runs (like data/evolution_snapshots/): pick one, or mark some (space) and
compare them (c)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Static

from evotui.analysis.runs import RunInfo, describe_run, find_runs
from evotui.watch.text import cell_text, visible
from evotui.watch.widgets.footer import KeysFooter
from evotui.watch.widgets.run_header import format_age

STATUS_STYLE = {
    "running": "green",
    "finished": "blue",
    "failed": "red",
    "stopped": "yellow",  # ended on purpose (Ctrl-C, SIGTERM)
    "unknown": "dim",
    "unreadable": "red",
}


class RunPickerScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open run"),
        Binding("space", "mark", "Mark"),
        Binding("c", "compare", "Compare marked"),
        Binding("r", "reload", "Reload"),
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.path = path
        self.clock = clock
        self.runs: list[RunInfo] = []
        self.marked: list[Path] = []  # in the order they were marked: the first is A

    def compose(self) -> ComposeResult:
        yield Static(
            Text.assemble((" evotui", "bold"), " · runs in ", (visible(str(self.path)), "cyan")), id="picker-title"
        )
        yield DataTable(id="run-table", cursor_type="row", zebra_stripes=True)
        yield KeysFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("run", "snapshots", "latest step", "accuracy", "status", "updated")
        self.action_reload()
        table.focus()

    def action_reload(self) -> None:
        table = self.query_one(DataTable)
        table.clear()
        now = self.clock()
        self.runs = [describe_run(p) for p in find_runs(self.path)]
        self.marked = [p for p in self.marked if any(info.path == p for info in self.runs)]
        for info in self.runs:
            acc = "—" if info.accuracy is None else f"{info.accuracy:.1%}"
            step = "—" if info.latest_step is None else f"{info.latest_step:,}"
            updated = "—" if info.updated is None else f"{format_age(now - info.updated.timestamp())} ago"
            status = Text(info.status, style=STATUS_STYLE.get(info.status, ""))
            if info.problem:
                status.append(" !", style="bold red")
            table.add_row(
                self._name_cell(info), Text(str(info.snapshots)), Text(step), Text(acc), status, Text(updated)
            )

    def _name_cell(self, info: RunInfo) -> Text:
        """The run's name; a marked run's starts with its place in the comparison (A, B, ...)."""
        if info.path not in self.marked:
            return cell_text(info.name, 40)
        place = self.marked.index(info.path)
        mark = Text(f"● {chr(ord('A') + place) if place < 26 else place + 1} ", style="bold green")
        return mark + cell_text(info.name, 40)

    def action_mark(self) -> None:
        """Mark the run under the cursor for a comparison, or unmark it."""
        table = self.query_one(DataTable)
        if not self.runs or not 0 <= table.cursor_row < len(self.runs):
            return
        path = self.runs[table.cursor_row].path
        if path in self.marked:
            self.marked.remove(path)
        else:
            self.marked.append(path)
        for row, info in enumerate(self.runs):  # the places of the other marked runs may have moved
            table.update_cell_at(Coordinate(row, 0), self._name_cell(info), update_width=True)
        table.move_cursor(row=min(table.cursor_row + 1, len(self.runs) - 1))

    def action_compare(self) -> None:
        if len(self.marked) < 2:
            self.notify("Mark two runs or more with space, then press c.", title="compare", timeout=3)
            return
        self.app.show_comparison(list(self.marked), from_picker=True)  # type: ignore[attr-defined]

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if self.runs and 0 <= table.cursor_row < len(self.runs):
            self.app.show_run(self.runs[table.cursor_row].path)  # type: ignore[attr-defined]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()
