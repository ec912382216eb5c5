"""`e`: where to export the rows the table shows. Dismisses with a path (or None on esc)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from evotui.analysis.export import ExportFormatError, export_format


class ExportScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical {
        width: 80; max-width: 98%; height: auto;
        border: round $primary; background: $surface; padding: 0 1;
    }
    ExportScreen #export-problem { color: $error; height: auto; }
    """

    def __init__(self, default_path: str, description: str) -> None:
        super().__init__()
        self.default_path = default_path
        self.description = description

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.description, style="bold"), id="export-what")
            yield Static(
                Text("A row per example per step. File name ending .csv or .jsonl; enter writes, esc cancels.")
            )
            yield Input(self.default_path, id="export-path")
            yield Static("", id="export-problem")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        path = event.value.strip()
        try:
            export_format(path)
        except ExportFormatError as exc:
            self.query_one("#export-problem", Static).update(Text(str(exc)))
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
