"""A DIR holding several runs (like data/evolution_snapshots/): pick one."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from evotui.analysis.runs import RunInfo, describe_run, find_runs
from evotui.watch.text import cell_text, visible
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
        Binding("r", "reload", "Reload"),
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.path = path
        self.clock = clock
        self.runs: list[RunInfo] = []

    def compose(self) -> ComposeResult:
        yield Static(
            Text.assemble((" evotui", "bold"), " · runs in ", (visible(str(self.path)), "cyan")), id="picker-title"
        )
        yield DataTable(id="run-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

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
        for info in self.runs:
            acc = "—" if info.accuracy is None else f"{info.accuracy:.1%}"
            step = "—" if info.latest_step is None else f"{info.latest_step:,}"
            updated = "—" if info.updated is None else f"{format_age(now - info.updated.timestamp())} ago"
            status = Text(info.status, style=STATUS_STYLE.get(info.status, ""))
            if info.problem:
                status.append(" !", style="bold red")
            table.add_row(
                cell_text(info.name, 40), Text(str(info.snapshots)), Text(step), Text(acc), status, Text(updated)
            )

    def action_open(self) -> None:
        table = self.query_one(DataTable)
        if self.runs and 0 <= table.cursor_row < len(self.runs):
            self.app.show_run(self.runs[table.cursor_row].path)  # type: ignore[attr-defined]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()
