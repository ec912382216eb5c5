"""Curves of several runs on one plotext plot, one colour per run (the compare screen's overlays).

Like ``CurvePlot`` (widgets/detail.py), the picture is rebuilt only when the data or the size changed:
textual-plotext's ``render`` rebuilds the whole plot at every paint, and a live screen repaints often.
Long series are downsampled to about twice the plot's width, each bucket keeping its min and max.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.console import RenderableType
from rich.text import Text
from textual_plotext import PlotextPlot

from evotui.watch.widgets.detail import downsample

# One colour per run, the same in plotext (RGB) and in Rich (hex): the legend must match the lines.
RUN_COLORS: tuple[tuple[int, int, int], ...] = (
    (0, 190, 255),
    (255, 150, 0),
    (220, 90, 230),
    (110, 210, 80),
    (240, 220, 60),
    (255, 85, 85),
)


def run_color(r: int) -> tuple[int, int, int]:
    return RUN_COLORS[r % len(RUN_COLORS)]


def run_style(r: int) -> str:
    red, green, blue = run_color(r)
    return f"#{red:02x}{green:02x}{blue:02x}"


@dataclass(frozen=True)
class Series:
    """One line: run ``run`` (its colour), points (x, y), drawn with ``marker`` on the ``yside`` axis."""

    run: int
    x: np.ndarray
    y: np.ndarray
    marker: str = "braille"
    yside: str = "left"


class RunsPlot(PlotextPlot):
    """``set_series(key, series, ...)``; redraws when ``key`` or the size changes."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._series: list[Series] = []
        self._ylim: tuple[float, float] | None = None
        self._ylim_right: tuple[float, float] | None = None
        self._fraction = False
        self._data_key: object = None
        self._cache_key: object = None
        self._cache: RenderableType = Text("")
        self.title = ""

    def set_series(
        self,
        key: object,
        series: list[Series],
        *,
        title: str = "",
        fraction: bool = False,
        ylim: tuple[float, float] | None = None,
        ylim_right: tuple[float, float] | None = None,
    ) -> None:
        if key == self._data_key:
            return
        self._data_key = key
        self._series = series
        self.title = title
        self._fraction = fraction
        self._ylim, self._ylim_right = ylim, ylim_right
        self.refresh()

    def render(self) -> RenderableType:
        key = (self._data_key, self.size.width, self.size.height, self.app.theme)
        if key == self._cache_key:
            return self._cache
        plt = self.plt
        plt.clear_figure()
        drawn = [s for s in self._series if s.x.size and np.any(~np.isnan(s.y))]
        if not drawn:
            self._cache = Text(f"{self.title}: no data yet" if self.title else "no data yet", style="dim")
        else:
            buckets = max(self.size.width // 2, 4)
            lo = min(float(s.x[0]) for s in drawn)
            hi = max(float(s.x[-1]) for s in drawn)
            for s in drawn:
                xs, ys = downsample(s.x.astype(np.float64), s.y, buckets)
                if len(xs) == 1:  # one point: plotext draws no line; a marker shows it
                    plt.scatter(xs, ys, color=run_color(s.run), marker="●", yside=s.yside)
                else:
                    plt.plot(xs, ys, color=run_color(s.run), marker=s.marker, yside=s.yside)
            if self._ylim is not None:
                plt.ylim(*self._ylim)
            if self._ylim_right is not None:
                plt.ylim(*self._ylim_right, yside="right")
            if hi > lo:
                ticks = np.linspace(lo, hi, 4 if self.size.width < 40 else 5)
                labels = [f"{t:.0%}" for t in ticks] if self._fraction else [_step_label(t) for t in ticks]
                plt.xticks(ticks.tolist(), labels)
            if self.title:
                plt.title(self.title)
            self._cache = super().render()
        self._cache_key = key
        return self._cache


def _step_label(step: float) -> str:
    if not math.isfinite(step):
        return ""
    if abs(step) >= 10_000:
        return f"{step / 1000:,.0f}k"
    return f"{step:,.0f}"
