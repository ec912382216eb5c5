"""The header line: run name, progress and ETA, snapshot count, live/stale/finished, last snapshot age."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from evotui.run_state import RunState
from evotui.text import visible

STATUS_MARKS = {
    "live": ("● live", "bold green"),
    "stale": ("◌ stale", "bold yellow"),
    "finished": ("■ finished", "bold blue"),
    "failed": ("✗ failed", "bold red"),
    "waiting": ("… waiting", "dim"),
    "gone": ("✗ directory gone", "bold red"),
}


def format_age(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def progress_bar(fraction: float, width: int) -> str:
    filled = round(max(0.0, min(fraction, 1.0)) * width)
    return "▓" * filled + "░" * (width - filled)


def header_text(state: RunState, now: float, width: int) -> Text:
    """One line; parts are dropped from the right-hand detail first when the terminal is narrow."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(" evotui", style="bold")
    text.append(" · ")
    text.append(visible(state.name)[:40], style="bold cyan")
    current, total = state.current_step(), state.max_steps()
    if current is not None:
        text.append(" · step ")
        text.append(f"{current:,}", style="bold")
        if total:
            fraction = current / total
            text.append(f"/{total:,} ")
            text.append(progress_bar(fraction, 8 if width < 100 else 16), style="cyan")
            text.append(f" {fraction:.0%}")
            eta = state.eta_seconds(now)
            if eta is not None and state.status(now) == "live":
                text.append(f" ETA {format_age(eta)}", style="dim")
    n = state.history.n_steps
    text.append(f" · {n} snapshot{'s' if n != 1 else ''}")
    label, style = STATUS_MARKS.get(state.status(now), ("?", ""))
    text.append(" · ")
    text.append(label, style=style)
    last = state.last_snapshot_time()
    if last is not None:
        text.append(f", last {format_age(now - last)} ago")
    if state.errors:
        text.append(f" · {len(state.errors)} skipped", style="bold red")
    if state.manifest is not None and state.manifest.errors:
        text.append(f" · {state.manifest.errors} capture errors", style="bold red")
    return text


class RunHeader(Static):
    """Re-rendered on data changes and once a second (the "ago" and ETA move with the clock)."""

    def show(self, state: RunState, now: float) -> None:
        self.update(header_text(state, now, self.size.width or 80))
