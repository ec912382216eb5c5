"""`e`: where to export the rows the table shows. Dismisses with a path (or None on esc).

The file's full path is shown and can be edited before anything is written (a bare name would land in
whatever directory the viewer was started from); an existing file is replaced only after a second enter.
In a browser (`evotui serve`) the file is a download: only its name is asked for, nothing on the server.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from evotui.analysis.export import ExportFormatError, export_format


def full_path(text: str) -> Path:
    """What a typed path means: ``~`` expanded, relative to the viewer's working directory."""
    return Path(text.strip()).expanduser().absolute()


class ExportScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    ExportScreen { align: center middle; }
    ExportScreen > Vertical {
        width: 100; max-width: 98%; height: auto;
        border: round $primary; background: $surface; padding: 0 1;
    }
    ExportScreen #export-where { color: $text-muted; height: auto; }
    ExportScreen #export-problem { color: $error; height: auto; }
    """

    def __init__(self, default_path: str, description: str) -> None:
        super().__init__()
        self.default_path = default_path
        self.description = description
        self._confirmed_replace: Path | None = None  # an existing file the user chose to replace

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.description, style="bold"), id="export-what")
            yield Static(
                Text(
                    "A row per example per step, with input and expected output. "
                    "File name ending .csv, .jsonl or .parquet; enter writes, esc cancels."
                )
            )
            shown = self.default_path if self.app.is_web else str(full_path(self.default_path))
            yield Input(shown, id="export-path")
            yield Static("", id="export-where")
            yield Static("", id="export-problem")

    def on_mount(self) -> None:
        self.query_one(Input).focus()
        self._describe(self.query_one(Input).value)

    def _describe(self, value: str) -> None:
        if self.app.is_web:
            self.query_one("#export-where", Static).update(Text("a download in your browser"))
            return
        if not value.strip():
            self.query_one("#export-where", Static).update("")
            return
        target = full_path(value)
        state = "exists: enter twice to replace it" if target.exists() else "a new file"
        if not target.parent.is_dir():
            state = f"no directory {target.parent}"
        self.query_one("#export-where", Static).update(Text(f"writes {target} ({state})"))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._confirmed_replace = None
        self.query_one("#export-problem", Static).update("")
        self._describe(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = self.query_one("#export-problem", Static)
        path = event.value.strip()
        try:
            export_format(path)
        except ExportFormatError as exc:
            problem.update(Text(str(exc)))
            return
        if self.app.is_web:
            self.dismiss(path)  # a download: the server's disk is never written
            return
        target = full_path(path)
        if not target.parent.is_dir():
            problem.update(Text(f"no directory {target.parent}: make it first, or choose another"))
            return
        if target.exists() and self._confirmed_replace != target:
            self._confirmed_replace = target
            problem.update(Text(f"{target.name} exists: enter again to replace it, or change the name"))
            return
        self.dismiss(str(target))

    def action_cancel(self) -> None:
        self.dismiss(None)
