"""Untrusted text (anything read from snapshot files) made visible as plain strings. No rich, no textual.

Control characters become their Unicode "control pictures" (ESC is ``␛``), C1 controls and invisible
direction/format characters become escapes; see ``evotui.watch.text`` for the Rich renderings.
"""

from __future__ import annotations

DETAIL_LIMIT = 20_000
NEWLINE_MARK = "⏎"


def _build_table(keep_newlines: bool) -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x20):
        table[code] = chr(0x2400 + code)  # ␀ ... ␟; ESC -> ␛
    table[0x7F] = "␡"
    for code in range(0x80, 0xA0):
        table[code] = f"\\x{code:02x}"
    # Invisible characters that reorder or hide text (trojan-source bidi overrides, BOM, separators).
    for code in [*range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2070), 0xFEFF, 0x2028, 0x2029]:
        if code != 0x200D:  # zero-width joiner: part of ordinary emoji sequences
            table[code] = f"\\u{code:04x}"
    table[ord("\t")] = "    " if keep_newlines else " "
    table[ord("\n")] = "\n" if keep_newlines else NEWLINE_MARK
    table[ord("\r")] = "" if keep_newlines else "␍"
    return table


_CELL_TABLE = _build_table(keep_newlines=False)
_DETAIL_TABLE = _build_table(keep_newlines=True)


def visible(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control or invisible formatting character replaced by a visible stand-in."""
    return text.translate(_DETAIL_TABLE if keep_newlines else _CELL_TABLE)


