"""Untrusted text (anything read from snapshot files) turned into inert ``rich.text.Text``.

A model's output can hold anything: terminal escape sequences (ANSI colours, OSC 8 links, OSC 52
clipboard writes), Rich markup like ``[bold red]``, NUL bytes, bidi overrides, megabyte lines. None
of it may reach the terminal as anything but visible characters:

* ``Text(...)`` never parses markup, so ``[bold red]`` stays those ten characters;
* C0 controls become their Unicode "control pictures" (ESC is ``␛``, NUL is ``␀``), DEL is ``␡``,
  C1 controls and invisible direction/format characters become ``\\x9b``/``\\u202e``-style escapes;
* cells get one line, cut to their width before any styling work (a megabyte line costs a slice);
* the detail pane gets the whole text with its newlines, up to ``DETAIL_LIMIT`` characters, with
  a note saying how much was left out.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text

from evotui.analysis.text import DETAIL_LIMIT, NEWLINE_MARK, visible

__all__ = ["DETAIL_LIMIT", "NEWLINE_MARK", "cell_text", "plain_cell", "visible", "whole_text"]


def cell_text(text: str | None, width: int, style: str = "") -> Text:
    """One line for a table cell: visible, at most ``width`` cells, an ellipsis when cut."""
    if text is None:
        return Text("", style=style)
    if width <= 0:
        return Text("")
    # A character is at least... zero cells (combining marks), so slice generously, then cut by cells.
    shown = visible(text[: width * 2 + 16])
    cut = len(text) > width * 2 + 16
    if not cut and cell_len(shown) <= width:
        return Text(shown, style=style, no_wrap=True, end="")
    result = Text(shown, style=style, no_wrap=True, overflow="ellipsis", end="")
    result.truncate(width, overflow="ellipsis")
    if cut and not result.plain.endswith("…"):
        result.truncate(max(width - 1, 0))
        result.append("…")
    return result


def whole_text(text: str | None, style: str = "", limit: int = DETAIL_LIMIT) -> Text:
    """The whole text for the detail pane, newlines kept, controls visible, beyond ``limit`` noted."""
    if text is None:
        return Text("(absent)", style="dim italic")
    result = Text(visible(text[:limit], keep_newlines=True), style=style)
    if len(text) > limit:
        result.append(f" … ({len(text) - limit:,} more characters not shown)", style="dim italic")
    return result


def plain_cell(text: str, width: int) -> str:
    """Like ``cell_text`` but the plain string (for sorting keys, tests and quick measures)."""
    return cell_text(text, width).plain
