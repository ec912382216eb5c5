"""Run metrics as one line of sparklines: accuracy, average loss, average similarity by snapshot."""

from __future__ import annotations

import math

import numpy as np
from rich.text import Text
from textual.widgets import Static

from evotui.analysis.history import RunHistory

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: np.ndarray, width: int) -> str:
    """``values`` as bar characters, at most ``width`` of them; NaN gaps are blanks.

    Longer series are bucketed (bucket means) so the whole run fits, oldest on the left.
    """
    if width <= 0 or values.size == 0:
        return ""
    if values.size > width:
        # Bucket means in three numpy passes (a Python loop of nanmeans cost ~1 ms a series at 500
        # snapshots, on every live update). More values than buckets: every bucket holds one at least.
        starts = np.linspace(0, values.size, width + 1).astype(int)[:-1]
        present = ~np.isnan(values)
        sums = np.add.reduceat(np.where(present, values, 0.0), starts)
        counts = np.add.reduceat(present.astype(np.int64), starts)
        with np.errstate(all="ignore"):
            values = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return " " * values.size
    lo, hi = float(finite.min()), float(finite.max())
    span = hi - lo
    chars = []
    for v in values.tolist():
        if not math.isfinite(v):
            chars.append(" ")
        elif span <= 0:
            chars.append(BARS[3])
        else:
            chars.append(BARS[min(int((v - lo) / span * (len(BARS) - 1) + 0.5), len(BARS) - 1)])
    return "".join(chars)


def sparkline_positions(n_values: int, width: int, indices: list[int]) -> set[int]:
    """The characters of ``sparkline(values, width)`` that show the values at ``indices``."""
    if width <= 0 or n_values == 0:
        return set()
    if n_values <= width:
        return {i for i in indices if 0 <= i < n_values}
    edges = np.linspace(0, n_values, width + 1).astype(int)
    return {int(np.searchsorted(edges, i, side="right")) - 1 for i in indices if 0 <= i < n_values}


def _change(values: np.ndarray, fmt: str, scale: float, lower_is_better: bool) -> Text:
    if values.size < 2 or not (math.isfinite(values[-1]) and math.isfinite(values[-2])):
        return Text("")
    delta = float(values[-1] - values[-2]) * scale
    if abs(delta) < 10**-6:
        return Text(" =", style="dim")
    better = (delta < 0) if lower_is_better else (delta > 0)
    arrow = "▲" if delta > 0 else "▼"
    return Text(f" {arrow}{format(abs(delta), fmt)}", style="green" if better else "red")


def metrics_text(history: RunHistory, width: int, regression_steps: list[int] | None = None) -> Text:
    """The metrics line; the accuracy bars at ``regression_steps`` (accuracy fell or examples were
    forgotten) are drawn red."""
    series = history.summary_series()
    step_index = {s: k for k, s in enumerate(history.steps)}
    regressions = [step_index[s] for s in regression_steps or () if s in step_index]
    narrow = width < 110
    specs = [
        ("Acc" if narrow else "Accuracy", series["accuracy"], 100.0, ".1f", "%", False),
        ("Loss", series["avg_loss"], 1.0, ".3f", "", True),
        ("Sim" if narrow else "Similarity", series["avg_similarity"], 1.0, ".2f", "", False),
    ]
    part = max(width // 3, 20)
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    for name, values, scale, fmt, unit, lower in specs:
        piece = Text(f" {name} ", style="bold")
        latest = values[-1] if values.size else float("nan")
        piece.append("—" if not math.isfinite(latest) else format(latest * scale, fmt) + unit)
        piece.append_text(_change(values, ".1f" if scale == 100.0 else (".3f" if lower else ".2f"), scale, lower))
        piece.append(" ")
        room = part - piece.cell_len - 1
        start = piece.cell_len
        piece.append(sparkline(values, room), style="green" if not lower else "yellow")
        if name in ("Accuracy", "Acc"):
            for position in sparkline_positions(values.size, room, regressions):
                piece.stylize("bold red", start + position, start + position + 1)
        piece.pad_right(max(part - piece.cell_len, 0))
        text.append_text(piece)
    return text


class MetricsBar(Static):
    """Redrawn only when its line changes; one line high whatever it says, so never a layout pass."""

    DEFAULT_CSS = "MetricsBar { height: 1; }"

    def show(self, history: RunHistory, regression_steps: list[int] | None = None) -> None:
        self._history = history
        self._regressions = regression_steps
        self._draw(metrics_text(history, self.size.width or 80, regression_steps))

    def _draw(self, text: Text) -> None:
        if text != getattr(self, "_shown", None):
            self._shown = text
            self.update(text, layout=False)

    def on_resize(self) -> None:
        history = getattr(self, "_history", None)
        if history is not None:
            self._draw(metrics_text(history, self.size.width, getattr(self, "_regressions", None)))
