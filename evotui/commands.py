"""The bodies of `evotui report` and `evotui export`, kept out of cli.py so the CLI stays a thin list
of commands (and starts fast: numpy and rich load only when a command runs)."""

from __future__ import annotations

import json

import click
from rich.console import Console

from evotui.export import ExportFormatError, export_format, export_run
from evotui.history import RunHistory
from evotui.loader import RunDirectoryError, load_run
from evotui.report import build_report, print_report, visible
from tracker.schema import RunManifest
from tracker.store import ReadError


def _load(directory: str) -> tuple[RunHistory, RunManifest | None, list[ReadError]]:
    try:
        return load_run(directory)
    except RunDirectoryError as exc:
        raise click.ClickException(str(exc)) from exc


def _no_snapshots(directory: str) -> str:
    """Why there is nothing to read, and where the runs are when DIRECTORY is a directory of runs."""
    from evotui.tail import find_runs

    message = f"no readable snapshot files in {visible(directory, 200)} (expected step_NNNNNN.json or .msgpack)"
    runs = find_runs(directory)
    if runs:
        names = ", ".join(visible(r.name, 60) for r in runs[:8]) + (" …" if len(runs) > 8 else "")
        message += f"; it holds {len(runs)} run(s): {names}. Give one of them"
    return message


def run_report(directory: str, as_json: bool, top: int) -> None:
    history, manifest, errors = _load(directory)
    report = build_report(history, manifest, errors, directory=directory, top=top)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False))
    else:
        print_report(report, Console(highlight=False))
    if not history.n_steps:
        raise click.ClickException(_no_snapshots(directory))


def run_export(directory: str, output: str) -> None:
    try:
        export_format(output)  # refuse a wrong extension before reading anything
    except ExportFormatError as exc:
        raise click.ClickException(str(exc)) from exc
    history, _manifest, errors = _load(directory)
    for error in errors:
        click.echo(f"skipped {visible(str(error), 300)}", err=True)
    if not history.n_steps:
        raise click.ClickException(_no_snapshots(directory) + ": nothing exported")
    try:
        rows = export_run(output, history)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from exc
    click.echo(f"wrote {rows:,} rows ({history.n_examples:,} examples x {history.n_steps:,} snapshots) to {output}")
