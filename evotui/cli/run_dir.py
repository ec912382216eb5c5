"""Reading a run directory for a command: a clear message and exit code 1 when it cannot be used."""

from __future__ import annotations

import click

from evotui.analysis.history import RunHistory
from evotui.analysis.loader import RunDirectoryError, load_run
from evotui.analysis.text import visible as one_line
from tracker.schema import RunManifest
from tracker.store import ReadError


def visible(text: str, limit: int) -> str:
    """Untrusted ``text`` on one line, cut to ``limit`` characters."""
    if len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return one_line(text)


def load_or_fail(directory: str) -> tuple[RunHistory, RunManifest | None, list[ReadError]]:
    try:
        return load_run(directory)
    except RunDirectoryError as exc:
        raise click.ClickException(str(exc)) from exc


def no_snapshots(directory: str) -> str:
    """Why there is nothing to read, and where the runs are when DIRECTORY is a directory of runs."""
    from evotui.analysis.runs import find_runs

    message = f"no readable snapshot files in {visible(directory, 200)} (expected step_NNNNNN.json or .msgpack)"
    runs = find_runs(directory)
    if runs:
        names = ", ".join(visible(r.name, 60) for r in runs[:8]) + (" …" if len(runs) > 8 else "")
        message += f"; it holds {len(runs)} run(s): {names}. Give one of them"
    return message
