"""A list of the run's snapshots to travel to: step, accuracy, and what went backwards there."""

from __future__ import annotations

import math
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from evotui.analysis.dynamics import RunDynamics


def step_label(dynamics: RunDynamics, k: int, regressions: dict[int, tuple[float, int]]) -> Text:
    """``step 1,500   67.0%  ▼4.0  3 forgotten`` for the k-th snapshot."""
    step = int(dynamics.steps[k])
    accuracy = float(dynamics.accuracy[k])
    text = Text(f"step {step:>9,}  ", no_wrap=True, end="")
    text.append("   —  " if math.isnan(accuracy) else f"{accuracy * 100:5.1f}%", style="bold")
    text.append(f"  {int(dynamics.n_present[k]):,} examples", style="dim")
    regression = regressions.get(step)
    if regression is not None:
        change, forgotten = regression
        if change < 0:
            text.append(f"  ▼{abs(change) * 100:.1f}", style="red")
        if forgotten:
            text.append(f"  {forgotten} forgotten", style="red")
    return text


class StepChoiceScreen(ModalScreen[int | None]):
    """A modal list whose option ids are steps: choosing one dismisses with that step, esc with None."""

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id) if event.option.id is not None else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class StepPickerScreen(StepChoiceScreen):
    """Choose a snapshot; dismisses with its step (or None on esc)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q", "cancel", "Cancel")]
    DEFAULT_CSS = """
    StepPickerScreen { align: center middle; }
    StepPickerScreen > Vertical {
        width: 64; max-width: 95%; height: 80%;
        border: round $primary; background: $surface;
    }
    StepPickerScreen #step-picker-title { height: 1; padding: 0 1; background: $panel; }
    StepPickerScreen OptionList { height: 1fr; border: none; }
    """

    def __init__(self, dynamics: RunDynamics, current: int | None, title: str = "Go to snapshot") -> None:
        super().__init__()
        self.dynamics = dynamics
        self.current = current
        self.title_text = title

    def compose(self) -> ComposeResult:
        regressions = {r.step: (r.accuracy_change, r.n_forgotten) for r in self.dynamics.regressions}
        options = [
            Option(step_label(self.dynamics, k, regressions), id=str(int(step)))
            for k, step in enumerate(self.dynamics.steps)
        ]
        with Vertical():
            yield Static(Text(f"{self.title_text} · enter go · esc cancel", no_wrap=True), id="step-picker-title")
            yield OptionList(*options, id="step-options")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        steps = [int(s) for s in self.dynamics.steps]
        if steps:
            options.highlighted = steps.index(self.current) if self.current in steps else len(steps) - 1
        options.focus()
