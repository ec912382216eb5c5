"""The `evotui` command line."""

from __future__ import annotations

import click

from evotui import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evotui")
def main() -> None:
    """See what your language model is learning, example by example, live in the terminal."""
