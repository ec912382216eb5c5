"""The filter line: a live text filter, the quick filters, and "N of M shown"."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Static

from evotui.analysis.table import MAIN_QUICK_FILTERS, QUICK_FILTERS

# "forgotten" stays whole: "forgot" read as a second name of the forgets column.
SHORT_LABELS = {"wrong": "wrong", "never": "never"}


class QuickFilters(Static):
    """``[all] wrong now forgotten never right``: click one, or press ``f`` to cycle."""

    _markup = ""  # what ``show`` last drew

    def show(self, current: str) -> None:
        parts = []
        narrow = self.app.size.width < 100
        # The status and region filters do not all fit at 80 columns: the bar shows the main ones and
        # the current one (``f``, the command palette and the data map reach the others).
        shown = [(k, label) for i, (k, label) in enumerate(QUICK_FILTERS) if i < MAIN_QUICK_FILTERS or k == current]
        for key, label in shown:
            if narrow:
                label = SHORT_LABELS.get(key, label)
            # Labels are ours, not file text: markup is safe here.
            if key == current:
                parts.append(f"[@click=screen.quick('{key}')][reverse bold] {label} [/][/]")
            else:
                parts.append(f"[@click=screen.quick('{key}')] {label} [/]")
        markup = "".join(parts)
        if markup != self._markup:  # a resize mostly leaves them as they were: no layout pass then
            self._markup = markup
            self.update(markup)


class FilterBar(Horizontal):
    def compose(self) -> ComposeResult:
        yield Input(placeholder="/ filter", id="filter-input")
        yield QuickFilters(id="quick-filters")
        yield Static("", id="shown-count")

    def show_count(self, shown: int, total: int, note: str = "") -> None:
        # Fixed width in the stylesheet, so no layout pass per keystroke; a step-travel note widens it
        # (class "travel"), which changes only when travelling starts or stops.
        count = self.query_one("#shown-count", Static)
        text = f"{shown:,} of {total:,} shown"
        text = f"{text} · {note}" if note else text
        travelling = bool(note)
        if count.has_class("travel") != travelling:
            count.set_class(travelling, "travel")
            count.update(text)
        elif text != str(count.content):  # a live update mostly leaves the count as it was
            count.update(text, layout=travelling)
