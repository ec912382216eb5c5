"""`evotui export DIR -o FILE`: the command's body (the writing itself is ``evotui.analysis.export``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from evotui.analysis.dynamics import compute_dynamics
from evotui.analysis.export import (
    ExportFormatError,
    export_difficulty,
    export_examples,
    export_format,
    export_run,
    parse_selection,
    select_examples,
)
from evotui.cli.run_dir import load_or_fail, no_snapshots, visible


def source_rows(path: str) -> dict[str, dict[str, Any]]:
    """The rows of an examples file (JSONL, or a .json list) by the id ``tracker.examples`` gives them
    (the row's own ``id``/``example_id``, else ``ex_NNN`` by position): what --examples reads."""
    from tracker.examples import load_examples

    source = Path(path)
    if source.suffix == ".json":
        rows = json.loads(source.read_text(encoding="utf-8"))
    else:
        with open(source, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
    examples = load_examples(rows, max_examples=None)
    return {e.example_id: row for e, row in zip(examples, rows, strict=True)}


def run_export(
    directory: str,
    output: str,
    difficulty: bool = False,
    select: str | None = None,
    as_examples: bool = False,
    shape: str = "auto",
    examples_source: str | None = None,
) -> None:
    if difficulty and as_examples:
        raise click.UsageError("--difficulty and --as-examples write different files: choose one")
    if (shape != "auto" or examples_source) and not as_examples:
        raise click.UsageError("--shape and --examples go with --as-examples")
    try:
        # Refuse a wrong extension (or Parquet without pyarrow) before reading anything.
        export_format(output, allowed=[".jsonl"] if as_examples else [".csv", ".jsonl", ".parquet"])
        names = parse_selection(select) if select else None
    except (ExportFormatError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    history, manifest, errors = load_or_fail(directory)
    for error in errors:
        click.echo(f"skipped {visible(str(error), 300)}", err=True)
    if not history.n_steps:
        raise click.ClickException(no_snapshots(directory) + ": nothing exported")
    dynamics = compute_dynamics(history)
    indices = select_examples(dynamics, names) if names else None
    chosen = history.n_examples if indices is None else len(indices)
    which = f" ({', '.join(names)})" if names else ""
    try:
        source = source_rows(examples_source) if examples_source else None
    except (OSError, ValueError) as exc:  # ExampleError and JSON errors are ValueErrors
        raise click.ClickException(f"cannot read the examples in {examples_source}: {exc}") from exc
    try:
        if as_examples:
            rows = export_examples(
                output,
                history,
                indices if indices is not None else range(history.n_examples),
                shape=shape,
                source=source,
            )
            click.echo(f"wrote {rows:,} examples{which} to {output}")
        elif difficulty:
            run = manifest.run_name if manifest is not None and manifest.run_name else Path(directory).name
            rows = export_difficulty(output, history, dynamics, indices, run=run)
            click.echo(f"wrote {rows:,} rows (a row per example{which}) to {output}")
        else:
            rows = export_run(output, history, dynamics, indices)
            click.echo(f"wrote {rows:,} rows ({chosen:,} examples{which} x {history.n_steps:,} snapshots) to {output}")
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from exc
    except ValueError as exc:  # --examples lacks an example, or is not an examples file
        raise click.ClickException(str(exc)) from exc
