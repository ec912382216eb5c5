"""Rich ``Text`` turned into Textual ``Strip``s in a worker thread, for widgets that only hand them out.

A widget's ``render`` runs on the UI thread at every repaint; for the detail pane (a plotext figure,
a long prediction history) that was the costliest work between a key and the screen. The pane now
prepares its lines in a thread and its widgets' ``render_line`` returns them ready.

What a thread must not touch: the DOM and Textual's active-app context (thread workers run without
it, so ``Content.from_rich_text`` would lose the App's ANSI theme). The UI thread captures a
``RenderContext`` (the widget's style, its text rules, the App's ANSI theme) and the thread renders
with it and a private rich ``Console``: the same Strips a ``Static`` showing that Text would make.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text
from textual.content import Content, Span
from textual.message import Message
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions

if TYPE_CHECKING:
    from rich.terminal_theme import TerminalTheme
    from textual.widget import Widget

# The rules Content.render_strips reads (text-align, text-overflow, text-wrap, line-pad).
TEXT_RULES = ("text_align", "text_overflow", "text_wrap", "line_pad")


@dataclass(frozen=True, eq=False)
class RenderContext:
    """What rendering a widget's Text needs from the UI thread, captured there."""

    style: Style  # the widget's visual style (background, colour) that the Text is drawn on
    rules: tuple[tuple[str, Any], ...]
    ansi_theme: TerminalTheme | None
    theme: str  # the App's theme name: a key part (the style above follows it)

    @classmethod
    def of(cls, widget: Widget) -> RenderContext:
        """On the UI thread only."""
        styles = widget.styles
        rules = tuple((name, styles.get(name)) for name in TEXT_RULES)
        return cls(widget.visual_style, rules, widget.app.ansi_theme, widget.app.theme)

    @property
    def key(self) -> tuple[object, ...]:
        """Equal when the same Text would give the same Strips."""
        return (self.style, self.rules, self.theme)


class PreparedSizeChanged(Message):
    """A widget showing prepared lines changed size: whoever prepares them builds them again for it."""


def private_console() -> Console:
    """A Console for one thread's work: parses style names like the App's (Rich's default theme)."""
    return Console(width=80, color_system="truecolor", force_terminal=False, legacy_windows=False)


def _get_style(style: Style | str) -> Style:
    return style if isinstance(style, Style) else Style.parse(style)


def text_content(text: Text, context: RenderContext, console: Console) -> Content:
    """``Content.from_rich_text`` with the ANSI theme given instead of read from the active App."""
    get_style, theme = console.get_style, context.ansi_theme
    spans = [
        Span(start, end, Style.from_rich_style(get_style(style) if isinstance(style, str) else style, theme))
        for start, end, style in text._spans
    ]
    content = Content(text.plain, spans)
    if text.style:
        content = content.stylize_before(
            text.style if isinstance(text.style, str) else Style.from_rich_style(text.style, context.ansi_theme)
        )
    return content


def text_strips(
    text: Text, width: int, context: RenderContext, console: Console, height: int | None = None
) -> list[Strip]:
    """``text`` wrapped to ``width`` cells (at most ``height`` lines), as the widget would draw it."""
    if width <= 0:
        return []
    options = RenderOptions(_get_style, dict(context.rules))
    return text_content(text, context, console).render_strips(width, height, context.style, options)
