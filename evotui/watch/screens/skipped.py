"""`w`: the files that could not be read, each with its reason (they are retried when they change)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from evotui.watch.text import visible
from tracker.store import ReadError


def skipped_text(errors: dict[Path, ReadError], warnings: dict[Path, str] | None = None) -> Text:
    text = Text()
    for path, problem in sorted((warnings or {}).items(), key=lambda item: item[0].name):
        text.append(visible(path.name), style="bold yellow")
        text.append("  read, but its summary disagrees with its rows: ")
        text.append(visible(problem))
        text.append("\n")
    if warnings:
        text.append("\n")
    if not errors:
        text.append("No skipped files: every snapshot in the directory was read.", style="green")
        return text
    text.append(f"{len(errors)} file(s) skipped", style="bold red")
    text.append(" (read again as soon as they change)\n")
    for path in sorted(errors, key=lambda p: p.name):
        text.append("\n")
        text.append(visible(path.name), style="bold")
        text.append("  ")
        text.append(visible(errors[path].reason))
    return text


class SkippedFilesScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,w", "close", "Close")]

    def __init__(self, errors: dict[Path, ReadError], warnings: dict[Path, str] | None = None) -> None:
        super().__init__()
        self.errors = dict(errors)
        self.warnings = dict(warnings or {})

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="skipped-body"):
            yield Static(skipped_text(self.errors, self.warnings))

    def action_close(self) -> None:
        self.dismiss(None)
