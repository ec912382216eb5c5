"""`c`: compare mode. Two snapshots' outputs side by side, the characters that changed highlighted.

The rows are the examples the table's filter shows, in its order; by default only those whose output
changed between the two steps. The diff is rapidfuzz's Indel alignment (the one behind the similarity
score): characters only in the older output are struck red, characters only in the newer one green.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rapidfuzz.distance import Indel
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from evotui.analysis.dynamics import RunDynamics
from evotui.analysis.history import RunHistory
from evotui.watch.screens.step_picker import StepPickerScreen
from evotui.watch.text import cell_text, visible
from evotui.watch.widgets.footer import KeysFooter

MAX_ROWS = 200  # a screenful many times over; the table's filter narrows the rest
DIFF_CHARS = 400  # longer outputs are compared on their first DIFF_CHARS characters
REMOVED = "bold red strike"
ADDED = "bold green underline"


def diff_texts(old: str | None, new: str | None) -> tuple[Text, Text]:
    """The two outputs as Texts, with the characters that differ highlighted (control characters
    made visible, text cut at ``DIFF_CHARS``)."""
    if old is None or new is None:
        absent = Text("(absent)", style="dim italic")
        return (absent if old is None else _cut(old, "")), (absent if new is None else _cut(new, ""))
    a, b = old[:DIFF_CHARS], new[:DIFF_CHARS]
    left, right = Text(), Text()
    for op in Indel.opcodes(a, b):
        if op.tag == "equal":
            left.append(visible(a[op.src_start : op.src_end]))
            right.append(visible(b[op.dest_start : op.dest_end]))
        else:  # Indel has only deletes and inserts (a replace would be both)
            if op.src_end > op.src_start:
                left.append(visible(a[op.src_start : op.src_end]), style=REMOVED)
            if op.dest_end > op.dest_start:
                right.append(visible(b[op.dest_start : op.dest_end]), style=ADDED)
    for text, full in ((left, old), (right, new)):
        if len(full) > DIFF_CHARS:
            text.append(f" … (+{len(full) - DIFF_CHARS:,} chars)", style="dim")
    return left, right


def _cut(text: str, style: str) -> Text:
    out = Text(visible(text[:DIFF_CHARS]), style=style)
    if len(text) > DIFF_CHARS:
        out.append(f" … (+{len(text) - DIFF_CHARS:,} chars)", style="dim")
    return out


def _mark(exact: float) -> Text:
    if exact != exact:  # NaN: absent
        return Text("·", style="dim")
    return Text("✓", "green") if exact == 1.0 else Text("✗", "red")


def compare_rows(
    history: RunHistory, indices: Sequence[int], step_a: int, step_b: int, changed_only: bool
) -> tuple[list[int], int]:
    """(examples to show, how many changed) among ``indices``: changed = output or correctness differs."""
    col_a, col_b = history.columns[step_a], history.columns[step_b]
    shown: list[int] = []
    changed = 0
    for i in indices:
        differs = col_a.output(i) != col_b.output(i) or col_a.value("exact", i) != col_b.value("exact", i)
        changed += differs
        if differs or not changed_only:
            shown.append(i)
    return shown, changed


def compare_table(history: RunHistory, rows: list[int], step_a: int, step_b: int) -> Table:
    table = Table(expand=True, padding=(0, 1), show_edge=False, box=None, header_style="bold")
    table.add_column("id", no_wrap=True, max_width=16)
    table.add_column("expected", ratio=1, overflow="fold")
    table.add_column("", no_wrap=True, width=1)
    table.add_column(f"output @{step_a:,}", ratio=2, overflow="fold")
    table.add_column("", no_wrap=True, width=1)
    table.add_column(f"output @{step_b:,}", ratio=2, overflow="fold")
    col_a, col_b = history.columns[step_a], history.columns[step_b]
    for i in rows[:MAX_ROWS]:
        left, right = diff_texts(col_a.output(i), col_b.output(i))
        table.add_row(
            cell_text(history.example_ids[i], 16),
            _cut(history.expected[i], "dim"),
            _mark(col_a.value("exact", i)),
            left,
            _mark(col_b.value("exact", i)),
            right,
        )
    return table


class CompareScreen(Screen[None]):
    """Outputs at ``step_a`` (older) and ``step_b`` side by side, for the examples ``indices``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Back"),
        Binding("left_square_bracket", "shift(-1)", "Older"),
        Binding("right_square_bracket", "shift(1)", "Newer"),
        Binding("a", "pick('a')", "Pick A"),
        Binding("b", "pick('b')", "Pick B"),
        Binding("c", "toggle_changed", "Changed/all"),
    ]
    DEFAULT_CSS = """
    CompareScreen { layout: vertical; }
    CompareScreen #compare-title { height: auto; background: $panel; padding: 0 1; }
    CompareScreen #compare-scroll { height: 1fr; }
    """

    def __init__(
        self, history: RunHistory, dynamics: RunDynamics, indices: Sequence[int], step_a: int, step_b: int
    ) -> None:
        super().__init__()
        self.history = history
        self.dynamics = dynamics
        self.indices = list(indices)
        self.step_a, self.step_b = sorted((step_a, step_b))
        self.changed_only = True

    def compose(self) -> ComposeResult:
        yield Static("", id="compare-title")
        with VerticalScroll(id="compare-scroll"):
            yield Static("", id="compare-body")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.refresh_body()
        self.query_one("#compare-scroll").focus()

    def refresh_body(self) -> None:
        rows, changed = compare_rows(self.history, self.indices, self.step_a, self.step_b, self.changed_only)
        title = Text(end="")  # wraps onto a second line on a narrow terminal, never cut
        title.append(f"Compare step {self.step_a:,} ↔ {self.step_b:,}", style="bold")
        title.append(f" · {changed:,} of {len(self.indices):,} examples changed")
        title.append(" · showing the changed (c: all)" if self.changed_only else " · showing all (c: the changed)")
        if len(rows) > MAX_ROWS:
            title.append(f" · first {MAX_ROWS} shown (filter the table to narrow)", style="yellow")
        title.append(" · ")
        title.append("removed", style=REMOVED)
        title.append(" ")
        title.append("added", style=ADDED)
        self.query_one("#compare-title", Static).update(title)
        body = self.query_one("#compare-body", Static)
        if not rows:
            body.update(Text("No output changed between these two snapshots.", style="dim"))
        else:
            body.update(compare_table(self.history, rows, self.step_a, self.step_b))

    def action_shift(self, direction: int) -> None:
        """Move both steps one snapshot older or newer (the gap between them is kept)."""
        steps = self.history.steps
        if self.step_a not in steps or self.step_b not in steps:  # a snapshot file was removed meanwhile
            self.dismiss(None)
            return
        ka, kb = steps.index(self.step_a), steps.index(self.step_b)
        if not (0 <= ka + direction < len(steps) and 0 <= kb + direction < len(steps)):
            self.app.bell()
            return
        self.step_a, self.step_b = steps[ka + direction], steps[kb + direction]
        self.refresh_body()

    def action_pick(self, side: str) -> None:
        current = self.step_a if side == "a" else self.step_b

        def chosen(step: int | None) -> None:
            if step is None:
                return
            if side == "a":
                self.step_a = step
            else:
                self.step_b = step
            self.step_a, self.step_b = sorted((self.step_a, self.step_b))
            self.refresh_body()

        self.app.push_screen(StepPickerScreen(self.dynamics, current, f"Step {side.upper()}"), chosen)

    def action_toggle_changed(self) -> None:
        self.changed_only = not self.changed_only
        self.refresh_body()

    def action_close(self) -> None:
        self.dismiss(None)
