"""Shown until the first snapshot lands (or while the directory is missing or gone)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widgets import LoadingIndicator, Static

from evotui.watch.text import visible
from evotui.watch.widgets.footer import KeysFooter


class WaitingScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "app.help", "Help"),
    ]

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.detail = ""

    def compose(self) -> ComposeResult:
        with Middle(), Center():
            yield Static(self._message(self.detail), id="waiting-message")
            yield LoadingIndicator()
        yield KeysFooter()

    def _message(self, detail: str) -> Text:
        text = Text(justify="center")
        text.append("Waiting for snapshots in\n", style="bold")
        text.append(visible(self.path), style="cyan")
        text.append("\n\nThe run starts here when the first step_*.json or .msgpack lands.")
        if detail:
            text.append("\n" + visible(detail), style="yellow")
        return text

    def show_state(self, detail: str) -> None:
        self.detail = detail
        if self.is_mounted:
            self.query_one("#waiting-message", Static).update(self._message(detail))
