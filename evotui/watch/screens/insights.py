"""`i`: the run's insights, newest first; enter filters the table to the chosen insight's evidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from evotui.analysis.insights import Insight
from evotui.watch.text import cell_text

SEVERITY_STYLES = {"info": "cyan", "warning": "yellow", "critical": "bold red"}


def insight_label(insight: Insight, width: int = 120) -> Text:
    """One line: severity, kind, step, the message (untrusted: metadata values and outputs are in it)."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(f"{insight.severity.value:<8}", style=SEVERITY_STYLES.get(insight.severity.value, ""))
    text.append(f" {insight.kind.value:<15}", style="bold")
    text.append(f" {insight.step:>9,}  ", style="dim")
    text.append_text(cell_text(insight.message, width))
    text.append(f"  ({len(insight.example_ids):,})", style="dim")
    text.truncate(width, overflow="ellipsis")
    return text


class InsightsScreen(ModalScreen[Insight | None]):
    """Dismisses with the chosen insight (the main screen filters its table to the evidence), or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,i", "cancel", "Close")]
    DEFAULT_CSS = """
    InsightsScreen { align: center middle; }
    InsightsScreen > Vertical {
        width: 120; max-width: 98%; height: 80%;
        border: round $primary; background: $surface;
    }
    InsightsScreen #insights-title { height: auto; padding: 0 1; background: $panel; }
    InsightsScreen OptionList { height: 1fr; border: none; }
    """

    def __init__(self, insights: Sequence[Insight]) -> None:
        super().__init__()
        # Newest first (the engine's order), then the most severe.
        self.insights = list(insights)

    def compose(self) -> ComposeResult:
        title = Text(end="")  # wraps on a narrow terminal rather than losing its keys (80x24: two lines)
        alarms = sum(1 for x in self.insights if x.severity.value != "info")
        title.append(f"Insights: {len(self.insights)}", style="bold")
        title.append(f" · {alarms} warning or critical · newest first")
        title.append(" · enter: show its examples · esc: close", style="dim")
        with Vertical():
            yield Static(title, id="insights-title")
            if self.insights:
                yield OptionList(*(Option(insight_label(x), id=str(i)) for i, x in enumerate(self.insights)))
            else:
                yield Static(
                    Text("Nothing found: no regression, output pathology, slice or plateau.", style="dim"),
                    id="insights-empty",
                )

    def on_mount(self) -> None:
        for options in self.query(OptionList):
            options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.insights[int(event.option.id or 0)])

    def action_cancel(self) -> None:
        self.dismiss(None)
