"""`m`: the data map (Swayamdipta et al. 2020): each example at (variability, confidence), coloured by
correctness, with the Data-IQ regions; choosing a region filters the example table to it."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual_plotext import PlotextPlot

from evotui.analysis.dynamics import EASY_CONFIDENCE, HARD_CONFIDENCE, REGIONS, RunDynamics
from evotui.watch.widgets.footer import KeysFooter

# Correctness (share of snapshots after step 0 where the example was right) in five bands.
CORRECTNESS_BANDS: tuple[tuple[float, float, str, str], ...] = (
    (0.0, 0.2, "red", "0–20%"),
    (0.2, 0.4, "orange", "20–40%"),
    (0.4, 0.6, "yellow", "40–60%"),
    (0.6, 0.8, "cyan", "60–80%"),
    (0.8, 1.01, "green", "80–100%"),
)
RICH_COLOURS = {"orange": "dark_orange"}  # plotext and Rich name this one differently
REGION_HELP = {
    "easy": "conf ≥ 0.75, low spread",
    "ambiguous": "the rest",
    "hard": "conf ≤ 0.25, low spread",
}


def map_points(dynamics: RunDynamics, columns: int, rows: int) -> list[tuple[str, list[float], list[float]]]:
    """Per correctness band: (colour, xs, ys), one point per occupied character cell of a
    ``columns`` x ``rows`` plot. 10,000 examples cost what the screen can show, not more."""
    mapped = ~np.isnan(dynamics.confidence) & ~np.isnan(dynamics.correctness)
    x = dynamics.variability[mapped]
    y = dynamics.confidence[mapped]
    c = dynamics.correctness[mapped]
    x_max = x_upper(dynamics)
    gx, gy = max(columns, 1), max(rows, 1)
    out = []
    for low, high, colour, _ in CORRECTNESS_BANDS:
        band = (c >= low) & (c < high)
        if not band.any():
            continue
        cells = np.unique(
            np.stack([np.clip(np.round(x[band] / x_max * gx), 0, gx), np.clip(np.round(y[band] * gy), 0, gy)], axis=1),
            axis=0,
        )
        out.append((colour, (cells[:, 0] / gx * x_max).tolist(), (cells[:, 1] / gy).tolist()))
    return out


def x_upper(dynamics: RunDynamics) -> float:
    """The variability axis ends a little past the largest value (at most 0.5, the largest possible)."""
    finite = dynamics.variability[~np.isnan(dynamics.variability)]
    top = float(finite.max()) if finite.size else 0.0
    return float(min(0.5, max(0.1, top * 1.1)))


class DataMapPlot(PlotextPlot):
    """The scatter; rebuilt only when the dynamics or the size changed."""

    def __init__(self, dynamics: RunDynamics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dynamics = dynamics
        self._cache_key: object = None
        self._cache: RenderableType = Text("")

    def render(self) -> RenderableType:
        key = (id(self.dynamics), self.size.width, self.size.height, self.app.theme)
        if key == self._cache_key:
            return self._cache
        plt = self.plt
        plt.clear_figure()
        # No plotext ylabel: plotext prints it at the bottom left, under the x axis, where it reads as the
        # x label. The y label is a line above the plot (see DataMapScreen.compose).
        plt.xlabel("variability (std of p over snapshots) →")
        plt.xlim(0, x_upper(self.dynamics))
        plt.ylim(0, 1)
        for colour, xs, ys in map_points(self.dynamics, self.size.width, self.size.height):
            plt.scatter(xs, ys, color=colour, marker="dot")
        plt.hline(EASY_CONFIDENCE, "gray")
        plt.hline(HARD_CONFIDENCE, "gray")
        self._cache = super().render()
        self._cache_key = key
        return self._cache


def legend_text(dynamics: RunDynamics) -> Text:
    text = Text("correctness\n", style="bold")
    for _, _, colour, label in CORRECTNESS_BANDS:
        text.append("⣿ ", style=RICH_COLOURS.get(colour, colour))
        text.append(f"{label}\n")
    text.append(
        "\np = exp(-loss), the probability\nof the expected answer, over the\n"
        "snapshots after step 0. Spread:\nmean p(1-p) (Data-IQ aleatoric).",
        style="dim",
    )
    unmapped = dynamics.counts_by_region()["unmapped"]
    if unmapped:
        text.append(f"\n{unmapped:,} without a loss after step 0\nare not on the map.", style="dim")
    return text


def region_option(region: str, count: int, total: int) -> Text:
    text = Text(no_wrap=True, end="")
    text.append(f"{region:<10}", style="bold")
    text.append(f"{count:>6,}  {count / total if total else 0:4.0%}")
    if region in REGION_HELP:
        text.append(f"\n  {REGION_HELP[region]}", style="dim")
    return text


class DataMapScreen(Screen[str | None]):
    """Dismisses with the region chosen ("easy", "ambiguous", "hard", or "all"), None on esc."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,m", "close", "Back"),
        Binding("e", "choose('easy')", "Easy"),
        Binding("a", "choose('ambiguous')", "Ambiguous"),
        Binding("h", "choose('hard')", "Hard"),
    ]
    DEFAULT_CSS = """
    DataMapScreen { layout: vertical; }
    DataMapScreen #data-map-title { height: 1; background: $panel; padding: 0 1; }
    DataMapScreen #data-map-body { height: 1fr; }
    DataMapScreen #data-map-main { width: 1fr; height: 1fr; }
    DataMapScreen #data-map-ylabel { height: 1; color: $text-muted; }
    DataMapScreen DataMapPlot { width: 1fr; height: 1fr; }
    DataMapScreen #data-map-side { width: 36; padding: 0 1; }
    DataMapScreen #region-options { height: auto; max-height: 10; border: none; }
    DataMapScreen #data-map-legend { height: auto; margin-top: 1; }
    """

    def __init__(self, dynamics: RunDynamics, step: int | None = None) -> None:
        super().__init__()
        self.dynamics = dynamics
        self.step = step

    def compose(self) -> ComposeResult:
        dyn = self.dynamics
        counts = dyn.counts_by_region()
        mapped = dyn.n_examples - counts["unmapped"]
        title = Text("Data map", style="bold", no_wrap=True, overflow="ellipsis")
        if self.step is not None:
            title.append(f" · as of step {self.step:,}")
        title.append(f" · {mapped:,} of {dyn.n_examples:,} examples mapped · choose a region to filter the table")
        yield Static(title, id="data-map-title")
        with Horizontal(id="data-map-body"):
            with Vertical(id="data-map-main"):
                yield Static(Text("↑ confidence (mean p)", no_wrap=True, end=""), id="data-map-ylabel")
                yield DataMapPlot(dyn, id="data-map-plot")
            with Vertical(id="data-map-side"):
                options = [Option(region_option(r, counts[r], mapped), id=r) for r in REGIONS]
                options.append(Option(Text("all examples", style="bold"), id="all"))
                yield OptionList(*options, id="region-options")
                yield Static(legend_text(dyn), id="data-map-legend")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_choose(self, region: str) -> None:
        self.dismiss(region)

    def action_close(self) -> None:
        self.dismiss(None)
