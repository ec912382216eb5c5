"""The header line: run name, progress and ETA, snapshot count, live/stale/finished, last snapshot age."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from evotui.watch.run_state import RunFacts
from evotui.watch.text import visible

STATUS_MARKS = {
    "live": ("● live", "bold green"),
    "stale": ("◌ stale", "bold yellow"),
    "finished": ("■ finished", "bold blue"),
    "failed": ("✗ failed", "bold red"),
    "stopped": ("■ stopped", "bold yellow"),  # ended on purpose (Ctrl-C, SIGTERM): not a failure
    "waiting": ("… waiting", "dim"),
    "loading": ("◐ loading", "bold cyan"),
    "gone": ("✗ directory gone", "bold red"),
}


def format_age(seconds: float, compact: bool = False) -> str:
    seconds = max(seconds, 0.0)
    sep = "" if compact else " "
    if seconds < 60:
        return f"{seconds:.0f}{sep}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}{sep}{'m' if compact else 'min'}"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}{sep}h"
    return f"{seconds / 86400:.1f}{sep}d"


def progress_bar(fraction: float, width: int) -> str:
    filled = round(max(0.0, min(fraction, 1.0)) * width)
    return "▓" * filled + "░" * (width - filled)


def header_text(state: RunFacts, now: float, width: int) -> Text:
    """One line. When it does not fit, a compact form drops the app name and shortens words."""
    text = _header_text(state, now, compact=False)
    if text.cell_len > width:
        text = _header_text(state, now, compact=True)
    return text


def _header_text(state: RunFacts, now: float, compact: bool) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    if not compact:
        text.append(" evotui", style="bold")
        text.append(" ·")
    text.append(" ")
    text.append(visible(state.name)[: 24 if compact else 40], style="bold cyan")
    status = state.status(now)
    current, total = state.current_step(), state.max_steps()
    if current is not None:
        text.append(" · " if compact else " · step ")
        text.append(f"{current:,}", style="bold")
        if total:
            fraction = current / total
            text.append(f"/{total:,} ")
            text.append(progress_bar(fraction, 6 if compact else 16), style="cyan")
            text.append(f" {fraction:.0%}")
    label, style = STATUS_MARKS.get(status, ("?", ""))
    text.append(" · ")
    text.append(label, style=style)
    if status == "loading":
        text.append(f" {state.load.done:,}/{state.load.total:,} files")
    if state.failure is not None:
        # The service's last exception, its reason inert (it may quote file content); the log has the rest.
        text.append(" · ✗ error: " if not compact else " · ✗ ", style="bold red")
        text.append(visible(state.failure.reason)[:80], style="red")
    last = state.last_snapshot_time()
    if last is not None:
        text.append(f"{' ' if compact else ', last '}{format_age(now - last, compact)} ago")
    n = state.history.n_steps
    text.append(f" · {n} snap{'s' if n != 1 else ''}" if compact else f" · {n} snapshot{'s' if n != 1 else ''}")
    if state.errors:
        text.append(f" · {len(state.errors)} skipped", style="bold red")
    if state.manifest_error is not None:
        text.append(" · run.json unreadable", style="bold red")
    if state.warnings:
        text.append(f" · {len(state.warnings)} bad summar{'y' if len(state.warnings) == 1 else 'ies'}", style="yellow")
    if state.manifest is not None and state.manifest.errors:
        text.append(f" · {state.manifest.errors} capture errors", style="bold red")
    eta = state.eta_seconds(now) if current is not None and total else None
    if eta is not None and status == "live":
        text.append(f" · ETA {format_age(eta, compact)}", style="dim")
    return text


class RunHeader(Static):
    """Re-rendered on data changes and once a second (the "ago" and ETA move with the clock); redrawn
    only when its line changes, and one line high whatever it says, so never a layout pass."""

    DEFAULT_CSS = "RunHeader { height: 1; }"

    def show(self, state: RunFacts, now: float) -> None:
        text = header_text(state, now, self.size.width or 80)
        if text != getattr(self, "_shown", None):
            self._shown = text
            self.update(text, layout=False)
