"""The compare screen's detail pane for one matched example: its loss and similarity in every run on one
plot, and each run's prediction history side by side, the characters that changed marked (as the
single-run compare screen marks them, ``screens/compare.py``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Static

from evotui.analysis.compare import X_FRACTION, Comparison, learned_label, run_letter
from evotui.analysis.history import RunHistory
from evotui.watch.screens.compare import diff_texts
from evotui.watch.text import cell_text
from evotui.watch.widgets.example_table import STATUS_STYLES
from evotui.watch.widgets.runs_plot import RunsPlot, Series, run_style

MAX_HISTORY_LINES = 400  # distinct outputs shown per run (a long run's history is cut at its oldest)


def prediction_column(
    history: RunHistory, index: int, reference: str | None, r: int, name: str, name_width: int = 30
) -> Text:
    """Run ``r``'s history of one example, oldest first, consecutive identical outputs on one line (×N),
    each output's characters new since the previous line marked; on top, its latest output with the
    characters that differ from run A's (``reference``; None for run A itself) marked."""
    text = Text(no_wrap=False)
    text.append(f"{run_letter(r)} ", style=f"bold {run_style(r)}")
    text.append_text(cell_text(name, name_width, style=f"bold {run_style(r)}"))
    points = history.prediction_history(index)
    if not points:
        text.append("\nnot evaluated", style="dim italic")
        return text
    latest = points[-1].output
    text.append("\nnow ", style="bold")
    if reference is None:
        text.append_text(diff_texts(latest, latest)[1])
    else:
        text.append_text(diff_texts(reference, latest)[1])
    groups: list[list] = []  # [first point, last step, count]
    for p in points:
        if groups and groups[-1][0].output == p.output and groups[-1][0].exact == p.exact:
            groups[-1][1] = p.step
            groups[-1][2] += 1
        else:
            groups.append([p, p.step, 1])
    cut = max(len(groups) - MAX_HISTORY_LINES, 0)
    if cut:
        text.append(f"\n… {cut:,} older outputs not shown", style="dim italic")
    previous: str | None = groups[cut - 1][0].output if cut else None
    for first, last, count in groups[cut:]:
        label = f"{first.step:,}" if count == 1 else f"{first.step:,}–{last:,}"
        text.append(f"\n{label} ", style="bold")
        text.append("✓ " if first.exact else "✗ ", style="green" if first.exact else "red")
        text.append_text(diff_texts(previous if previous is not None else first.output, first.output)[1])
        if count > 1:
            text.append(f" ×{count}", style="dim")
        previous = first.output
    return text


def detail_title(cmp: Comparison, m: int, b: int, width: int) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append_text(cell_text(cmp.example_ids[m], 24, style="bold"))
    if str(cmp.matched_by[m]) == "input":
        text.append(" (matched by input text)", style="dim")
    for r in range(cmp.n_runs):
        status = str(cmp.status[m, r])
        text.append(f" · {run_letter(r)} ", style=f"bold {run_style(r)}")
        text.append(status, style=STATUS_STYLES.get(status, ""))
        learned = float(cmp.learned_x[m, r])
        if not math.isnan(learned):
            text.append(f" by {learned_label(learned, cmp.x_axis)}")
    text.append("   ━ loss  • similarity", style="dim")
    return text


class CompareDetail(Vertical):
    """``show(cmp, histories, names, m, b)``; redraws only when the example or the data changed."""

    def __init__(self, n_runs: int, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.n_runs = n_runs
        self.shown: tuple[object, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="cmp-detail-title")
        yield Static("", id="cmp-detail-texts")
        with Horizontal(id="cmp-detail-body"):
            yield RunsPlot(id="cmp-detail-plot")
            with Horizontal(id="cmp-detail-histories"):
                for r in range(self.n_runs):
                    with VerticalScroll(classes="cmp-history"):
                        yield Static("", id=f"cmp-history-{r}")

    def show(
        self, cmp: Comparison | None, histories: Sequence[RunHistory], names: Sequence[str], m: int | None, b: int
    ) -> None:
        key = (id(cmp), m, b, tuple(h.version for h in histories))
        if key == self.shown:
            return
        self.shown = key
        title = self.query_one("#cmp-detail-title", Static)
        plot = self.query_one(RunsPlot)
        if cmp is None or m is None or not 0 <= m < cmp.n_matched or len(histories) != cmp.n_runs:
            title.update(Text("no example selected", style="dim"))
            plot.set_series(None, [])
            self.query_one("#cmp-detail-texts", Static).update("")
            for r in range(self.n_runs):
                self.query_one(f"#cmp-history-{r}", Static).update("")
            return
        title.update(detail_title(cmp, m, b, self.size.width))
        series: list[Series] = []
        for r, history in enumerate(histories):
            i = int(cmp.index[m, r])
            steps = history.steps_array().astype(np.float64)
            side = cmp.runs[r]
            x = steps / side.max_steps if cmp.x_axis == X_FRACTION and side.max_steps else steps
            series.append(Series(r, x, history.series(i, "loss")))
            series.append(Series(r, x, history.series(i, "similarity"), marker="dot", yside="right"))
        plot.set_series((key, "detail"), series, fraction=cmp.x_axis == X_FRACTION, ylim_right=(0.0, 1.05))
        reference = histories[0].prediction_history(int(cmp.index[m, 0]))
        reference_now = reference[-1].output if reference else None
        a = int(cmp.index[m, 0])
        texts = Text(no_wrap=True, overflow="ellipsis", end="")
        texts.append("input ", style="bold")
        texts.append_text(cell_text(histories[0].inputs[a], 200))
        texts.append("  expected ", style="bold")
        texts.append_text(cell_text(histories[0].expected[a], 60))
        for r, history in enumerate(histories[1:], start=1):
            i = int(cmp.index[m, r])
            if history.expected[i] != histories[0].expected[a]:  # another dataset's gold answer
                texts.append(f"  {run_letter(r)} expects ", style=f"bold {run_style(r)}")
                texts.append_text(cell_text(history.expected[i], 40))
        self.query_one("#cmp-detail-texts", Static).update(texts)
        # The run's name on one line above its column (the columns share two thirds of the pane).
        name_width = max(6, min(30, (self.size.width * 2 // 3) // max(len(histories), 1) - 5))
        for r, history in enumerate(histories):
            i = int(cmp.index[m, r])
            column = prediction_column(history, i, None if r == 0 else reference_now, r, names[r], name_width)
            self.query_one(f"#cmp-history-{r}", Static).update(column)
