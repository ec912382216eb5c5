"""The key hints at the bottom of a live screen: what Textual's ``Footer`` shows, drawn as one line by
one widget.

Why not Textual's ``Footer``: it is a container of one widget per key (nine on the main screen), built
only once the screen's bindings are known (after the first frame) and rebuilt whenever they may have
changed: every focus change ("/" into the filter, enter back to the table), every pop-up. A rebuild runs
in a batch on the screen's message queue: until the old keys are gone and the new ones mounted, no
screen update is shown and the screen handles no message. Under live load that held the next keys'
screen updates for 100-300 ms (bench/load.py); at a cold start, mounting the keys was ~35 ms of the
interpreter between the run's data arriving and their first frame (bench/coldstart.py). Here a change of
bindings is a new list of keys and a repaint of one line.

It looks and behaves as Textual's footer does: each key in the theme's footer colours (its key bold, a
disabled one dimmed), the keys spaced out or ``compact``, the command palette's key on the right behind
a thin rule; pointing at a key highlights it and shows its tooltip; clicking one presses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget

PALETTE_RULE = "▏"  # the thin rule before the palette key (Textual's footer: border-left vkey)


@dataclass(frozen=True)
class FooterEntry:
    """One key as the footer shows it."""

    key: str  # the key pressed when the entry is clicked
    display: str  # how the key is written ("q", "^p", "⏎")
    description: str
    tooltip: str
    enabled: bool


def footer_entries(screen: Screen) -> tuple[list[FooterEntry], FooterEntry | None]:
    """The keys a footer on ``screen`` shows now, in order, and the command palette's key (or None): as
    ``Footer.compose`` picks them (shown bindings, the first key of each action)."""
    app = screen.app
    entries: list[FooterEntry] = []
    actions: set[str] = set()
    palette: FooterEntry | None = None
    for key, (_node, binding, enabled, tooltip) in screen.active_bindings.items():
        if key == app.COMMAND_PALETTE_BINDING and app.ENABLE_COMMAND_PALETTE:
            palette = _entry(screen, binding, enabled, binding.tooltip or binding.description)
        elif binding.show and binding.action not in actions:
            actions.add(binding.action)
            entries.append(_entry(screen, binding, enabled, tooltip))
    return entries, palette


def _entry(screen: Screen, binding: Binding, enabled: bool, tooltip: str) -> FooterEntry:
    return FooterEntry(binding.key, screen.app.get_key_display(binding), binding.description, tooltip, enabled)


class KeysFooter(Widget, can_focus=False):
    """The screen's key hints on one line (see the module docstring)."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "keys-footer--key",
        "keys-footer--description",
        "keys-footer--hover",
        "keys-footer--rule",
    }
    # The colours of Textual's footer (its Footer and FooterKey styles), by the same theme variables.
    DEFAULT_CSS = """
    KeysFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
    }
    KeysFooter > .keys-footer--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeysFooter > .keys-footer--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    KeysFooter > .keys-footer--hover {
        color: $footer-key-foreground;
        background: $block-hover-background;
    }
    KeysFooter > .keys-footer--rule {
        color: $foreground 20%;
    }
    """

    compact = reactive(False)
    """Keys closer together (the screen sets it on narrow terminals)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.entries: list[FooterEntry] = []
        self.palette: FooterEntry | None = None
        self._spans: list[tuple[int, int, FooterEntry]] = []  # (start x, end x, entry) as last drawn
        self._hover: FooterEntry | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        entries, palette = footer_entries(screen)
        if (entries, palette) != (self.entries, self.palette):
            self.entries, self.palette = entries, palette
            self.refresh()

    def render(self) -> Text:
        width = self.size.width
        key_style = self.get_component_rich_style("keys-footer--key")
        description_style = self.get_component_rich_style("keys-footer--description")
        hover_style = self.get_component_rich_style("keys-footer--hover", partial=True)
        dim = Style(dim=True)

        def parts(entry: FooterEntry, compact: bool) -> list[tuple[str, Style]]:
            key = entry.display if compact else f" {entry.display} "
            description = f" {entry.description}" if compact else f"{entry.description} "
            styled = [(key, key_style), (description, description_style)] if entry.description else [(key, key_style)]
            extra = Style.chain(hover_style if entry == self._hover else Style(), dim if not entry.enabled else Style())
            return [(text, style + extra) for text, style in styled]

        tail = Text()
        if self.palette is not None:
            # Textual draws the palette's key compact always, one column from the edge.
            tail.append(PALETTE_RULE, self.get_component_rich_style("keys-footer--rule"))
            for text, style in parts(self.palette, compact=True):
                tail.append(text, style)
            tail.append(" ")
        line = Text(no_wrap=True, overflow="crop", end="")
        spans: list[tuple[int, int, FooterEntry]] = []
        room = max(0, width - tail.cell_len)
        for entry in self.entries:
            start = line.cell_len
            if start >= room:
                break
            for text, style in parts(entry, self.compact):
                line.append(text, style)
            spans.append((start, min(line.cell_len, room), entry))
            if self.compact:
                line.append(" ")
        line.truncate(room, pad=True)
        if self.palette is not None:
            spans.append((room, width, self.palette))
        line.append_text(tail)
        self._spans = spans
        return line

    def entry_at(self, x: int) -> FooterEntry | None:
        """The key drawn at column ``x`` of the footer, if any."""
        for start, end, entry in self._spans:
            if start <= x < end:
                return entry
        return None

    def on_mouse_move(self, event: events.MouseMove) -> None:
        entry = self.entry_at(event.x)
        if entry != self._hover:
            self._hover = entry
            self.tooltip = entry.tooltip or None if entry is not None else None
            self.refresh()

    def on_leave(self, _event: events.Leave) -> None:
        if self._hover is not None:
            self._hover = None
            self.tooltip = None
            self.refresh()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        entry = self.entry_at(event.x)
        if entry is None:
            return
        if entry.enabled:
            self.app.simulate_key(entry.key)
        else:
            self.app.bell()

    def watch_compact(self) -> None:
        self.refresh()
