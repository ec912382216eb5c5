"""`r`: the snapshots where the run went backwards (accuracy fell or examples were forgotten)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from evotui.analysis.dynamics import Regression, RunDynamics
from evotui.watch.screens.step_picker import StepChoiceScreen
from evotui.watch.text import cell_text


def regression_label(regression: Regression, width: int = 90) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(f"step {regression.step:>9,}", style="bold")
    text.append(f"  (from {regression.previous_step:,})", style="dim")
    change = regression.accuracy_change
    text.append(f"  accuracy {regression.accuracy * 100:5.1f}% ")
    text.append(
        f"{'▼' if change < 0 else '▲' if change > 0 else '='}{abs(change) * 100:.1f}", style="red" if change < 0 else ""
    )
    if regression.n_forgotten:
        text.append(f"  {regression.n_forgotten} forgotten: ", style="red")
        ids = regression.forgotten_ids[:8]
        for i, example_id in enumerate(ids):
            if i:
                text.append(", ")
            text.append_text(cell_text(example_id, 16))
        if regression.n_forgotten > len(ids):
            text.append(f" +{regression.n_forgotten - len(ids)}", style="dim")
    text.truncate(width, overflow="ellipsis")
    return text


class RegressionsScreen(StepChoiceScreen):
    """The regressions, oldest first; enter travels to that snapshot (dismisses with its step)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,r", "cancel", "Close"),
        Binding("s", "toggle_order", "By step/severity"),
    ]
    DEFAULT_CSS = """
    RegressionsScreen { align: center middle; }
    RegressionsScreen > Vertical {
        width: 100; max-width: 98%; height: 80%;
        border: round $error; background: $surface;
    }
    RegressionsScreen #regressions-title { height: auto; padding: 0 1; background: $panel; }
    RegressionsScreen OptionList { height: 1fr; border: none; }
    """

    def __init__(self, dynamics: RunDynamics) -> None:
        super().__init__()
        self.dynamics = dynamics
        self.by_severity = False

    def ordered(self) -> list[Regression]:
        """By step, or worst first: the largest accuracy drop, then the most examples forgotten."""
        regressions = self.dynamics.regressions
        if not self.by_severity:
            return list(regressions)
        return sorted(regressions, key=lambda r: (r.accuracy_change, -r.n_forgotten, r.step))

    def heading(self) -> Text:
        """Two lines (the title wraps, never cut): what is listed, then the keys."""
        regressions = self.dynamics.regressions
        fell = sum(1 for r in regressions if r.accuracy_change < 0)
        title = Text(end="")
        title.append(f"Regressions: {len(regressions)} of {max(len(self.dynamics.steps) - 1, 0)} snapshots", "bold")
        title.append(f" · accuracy fell at {fell} (red on the sparkline)")
        title.append(" · by severity" if self.by_severity else " · by step", style="bold")
        title.append("\nenter: view the run at that step · s: by step / severity · esc: close", style="dim")
        return title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.heading(), id="regressions-title")
            if self.dynamics.regressions:
                yield OptionList(*self._options(90))
            else:
                yield Static(Text("No snapshot went backwards.", style="dim"), id="regressions-empty")

    def _options(self, width: int) -> list[Option]:
        return [Option(regression_label(r, width), id=str(r.step)) for r in self.ordered()]

    def _fill(self, keep: bool = True) -> None:
        """One line per regression, cut to the list's width (a wrapped row reads as two regressions)."""
        for options in self.query(OptionList):
            width = options.scrollable_content_region.width
            if width <= 0:
                continue
            highlighted = options.highlighted if keep else 0
            options.clear_options()
            options.add_options(self._options(width))
            options.highlighted = highlighted

    def action_toggle_order(self) -> None:
        self.by_severity = not self.by_severity
        self.query_one("#regressions-title", Static).update(self.heading())
        self._fill(keep=False)

    def on_mount(self) -> None:
        for options in self.query(OptionList):
            options.focus()
        self.call_after_refresh(self._fill)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fill)
