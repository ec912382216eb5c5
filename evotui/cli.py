"""The `evotui` command line."""

from __future__ import annotations

import click

from evotui import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evotui")
def main() -> None:
    """See what your language model is learning, example by example, live in the terminal."""


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (for machines).")
@click.option("--top", default=10, show_default=True, type=click.IntRange(1), help="Examples in each list.")
def report(directory: str, as_json: bool, top: int) -> None:
    """Summarise a run: accuracy by step, statuses and regions, the hardest and most-forgotten examples."""
    from evotui.commands import run_report

    run_report(directory, as_json, top)


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=str), help="FILE.csv or FILE.jsonl"
)
def export(directory: str, output: str) -> None:
    """Write a row per example per step (with each example's dynamics) as CSV or JSONL."""
    from evotui.commands import run_export

    run_export(directory, output)
