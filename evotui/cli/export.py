"""`evotui export DIR -o FILE`: the command's body (the writing itself is ``evotui.analysis.export``)."""

from __future__ import annotations

import click

from evotui.analysis.export import ExportFormatError, export_format, export_run
from evotui.cli.run_dir import load_or_fail, no_snapshots, visible


def run_export(directory: str, output: str) -> None:
    try:
        export_format(output)  # refuse a wrong extension before reading anything
    except ExportFormatError as exc:
        raise click.ClickException(str(exc)) from exc
    history, _manifest, errors = load_or_fail(directory)
    for error in errors:
        click.echo(f"skipped {visible(str(error), 300)}", err=True)
    if not history.n_steps:
        raise click.ClickException(no_snapshots(directory) + ": nothing exported")
    try:
        rows = export_run(output, history)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from exc
    click.echo(f"wrote {rows:,} rows ({history.n_examples:,} examples x {history.n_steps:,} snapshots) to {output}")
