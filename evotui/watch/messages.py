"""Messages between the widgets, the screens and the app (a run's data arrives as ``RunUpdated``,
defined beside its service in ``evotui.watch.service``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class ExampleSelected(Message):
    """The table's cursor moved to another example (global index into the run history)."""

    index: int | None


@dataclass
class RunChosen(Message):
    """The run picker chose a run directory."""

    path: Any


class TravelComputed(Message):
    """The dynamics as of a travelled step, computed in a thread (``key`` says for which data)."""

    def __init__(self, key: tuple[Any, ...], dynamics: Any | None, error: str | None = None) -> None:
        super().__init__()
        self.key = key
        self.dynamics = dynamics
        self.error = error  # why it failed (also in the log file)
