"""Messages between the tailing thread, the widgets and the app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from evotui.analysis.history import RunHistory
from evotui.watch.tail import PollResult


class TailUpdate(Message):
    """One poll that changed something. Posted from the tailing thread.

    ``history`` is set on the first batch of snapshots: the thread built it (and its dynamics) off the
    UI thread so a cold start of hundreds of files does not freeze the screen; the app owns it from
    then on and adds later snapshots itself.
    """

    def __init__(self, result: PollResult, history: RunHistory | None = None, dynamics: Any | None = None) -> None:
        super().__init__()
        self.result = result
        self.history = history
        self.dynamics = dynamics


class RunChanged(Message):
    """The run's data changed (new snapshots, run.json, errors): widgets refresh from the app's state."""

    def __init__(self, new_steps: list[int], first_load: bool) -> None:
        super().__init__()
        self.new_steps = new_steps
        self.first_load = first_load


@dataclass
class ExampleSelected(Message):
    """The table's cursor moved to another example (global index into the run history)."""

    index: int | None


@dataclass
class RunChosen(Message):
    """The run picker chose a run directory."""

    path: Any


class AnalysisDone(Message):
    """Training dynamics computed in a thread for the history at ``version``."""

    def __init__(self, version: int, dynamics: Any | None) -> None:
        super().__init__()
        self.version = version
        self.dynamics = dynamics
