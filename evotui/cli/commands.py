"""The `evotui` command line."""

from __future__ import annotations

import os
from pathlib import Path

import click

from evotui import __version__
from evotui.cli.entry import startup_imports_done


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evotui")
def main() -> None:
    """See what your language model is learning, example by example, live in the terminal."""


def check_watch_path(path: Path) -> str | None:
    """Why ``path`` cannot be watched, or None. A missing path is fine: the app waits for it."""
    if not path.exists():
        return None
    if not path.is_dir():
        return f"{path} is a file, not a directory: give the run directory that holds the step_*.json files"
    if not os.access(path, os.R_OK | os.X_OK):
        return f"{path} cannot be read (permission denied)"
    try:
        with os.scandir(path):
            pass
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror or exc}"
    return None


@main.command("watch")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("others", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05, max=3600),
    default=0.5,
    show_default=True,
    help="Seconds between two looks at the directory.",
)
@click.option("--bell", is_flag=True, help="Ring the terminal bell for each new insight of severity warning or higher.")
@click.option(
    "--alerts",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append each new insight (warning or higher) to FILE as one JSON line, once per insight, across restarts.",
)
def watch_command(directory: Path, others: tuple[Path, ...], interval: float, bell: bool, alerts: Path | None) -> None:
    """Watch a run directory (or a directory of runs) live; give two run directories or more
    (DIRECTORY OTHERS...) to compare them, live, example by example (the first is A, the reference).

    DIRECTORY may not exist yet: the viewer waits for the first snapshot.

    \b
    Failures of the background reading show in the header with their reason, and
    their tracebacks go to a log file: $EVOTUI_LOG if set, else
    $XDG_STATE_HOME/evotui/evotui.log (default ~/.local/state/evotui/evotui.log).
    """
    for path in (directory, *others):
        problem = check_watch_path(path)
        if problem is not None:
            raise click.ClickException(problem)
    if not others:
        from evotui.watch.bulk_read import start_early_read

        # A worker process reads the oldest files on another core while this one imports the app.
        start_early_read(directory)
    from evotui.watch.app import make_app  # textual is imported only for the command that needs it

    # The collector, paused by the entry point while the app was imported, is on again before the app
    # exists (its run service starts a thread in its constructor).
    startup_imports_done()
    make_app(directory, interval=interval, compare=others, bell=bell, alerts=alerts).run()


@main.command("demo")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the run's snapshots go (must be new or empty). Default: data/evolution_snapshots/demo-<time>.",
)
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Training steps.  [default: 2000]")
@click.option(
    "--examples", type=click.IntRange(1, 441), default=None, help="Examples tracked (of 441 sums).  [default: 100]"
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="torch threads for the training.  [default: 1, or half the cores beyond two, at most 4]",
)
@click.option("--no-watch", is_flag=True, help="Only train (output on this terminal); watch later with evotui watch.")
@click.option("--interval", type=click.FloatRange(min=0.05), default=0.5, show_default=True, help="Viewer poll, s.")
def demo_command(
    directory: Path | None,
    steps: int | None,
    examples: int | None,
    threads: int | None,
    no_watch: bool,
    interval: float,
) -> None:
    """Train a tiny model on "What is A+B?" in the background and watch it learn, live.

    Nothing is downloaded: a 2-layer Llama and a character tokenizer are built from a config. Needs the
    training extra (torch, transformers, accelerate).
    """
    from evotui.cli import demo as demo_mod

    try:
        plan = demo_mod.plan_demo(
            directory,
            steps=steps or demo_mod.DEFAULT_STEPS,
            examples=examples or demo_mod.DEFAULT_EXAMPLES,
            threads=threads,
        )
    except demo_mod.DemoError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f'evotui demo: a tiny Llama learns "What is A+B?" for {plan.steps} steps, '
        f"{plan.examples} examples tracked (schedule: {plan.schedule}), {plan.threads} torch "
        f"thread{'s' if plan.threads != 1 else ''}."
    )
    click.echo(f"snapshots: {plan.directory}   training log: {plan.log_path}")
    if no_watch:
        code = demo_mod.run_training_foreground(plan)
        click.echo(f"done (exit {code}). Watch it: evotui watch {plan.directory}")
        raise SystemExit(code)
    from evotui.watch.app import make_app

    proc = demo_mod.start_training(plan)
    try:
        make_app(plan.directory, interval=interval).run()
    finally:
        finished = demo_mod.run_finished(plan.directory)
        if proc.poll() is None and not finished:  # stopping takes a moment (its last state is written): say so
            click.echo("stopping training...")
        code = demo_mod.stop_training(proc, finishing=finished)
    if code not in (0, 130, -15):  # 130 / -15: stopped by us when the viewer closed
        click.echo(f"training exited with code {code}; the end of {plan.log_path}:", err=True)
        click.echo(demo_mod.log_tail(plan.log_path), err=True)
    state = "finished" if code == 0 else "stopped when the viewer closed"
    click.echo(f"training {state}. The snapshots stay in {plan.directory}: evotui watch {plan.directory}")


@main.command("report")
@click.argument("directory", type=click.Path(file_okay=False, path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (for machines).")
@click.option("--top", default=10, show_default=True, type=click.IntRange(1), help="Examples in each list.")
def report_command(directory: str, as_json: bool, top: int) -> None:
    """Summarise a run: accuracy by step, statuses and regions, the hardest and most-forgotten examples."""
    from evotui.cli.report import run_report

    run_report(directory, as_json, top)


@main.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=str))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=str),
    help="FILE.csv, FILE.jsonl or FILE.parquet (Parquet needs pyarrow: pip install 'evotui[parquet]').",
)
@click.option("--difficulty", is_flag=True, help="A row per example (learned step, forgets, data map, slices).")
@click.option(
    "--select",
    metavar="NAMES",
    help="Only examples with these statuses or regions, e.g. never,forgotten (known, learned, unstable, forgotten, "
    "never, easy, ambiguous, hard).",
)
@click.option("--as-examples", is_flag=True, help="Write the examples as training rows (.jsonl), e.g. the hard ones.")
@click.option(
    "--shape",
    type=click.Choice(["auto", "input", "prompt", "messages"]),
    default="auto",
    show_default=True,
    help="With --as-examples: input/output, prompt/completion or chat messages rows (auto: input/output).",
)
@click.option(
    "--examples",
    "examples_source",
    type=click.Path(exists=True, dir_okay=False, path_type=str),
    help="With --as-examples: the examples file the run used; its own rows are written, in their own shape.",
)
def export_command(
    directory: str,
    output: str,
    difficulty: bool,
    select: str | None,
    as_examples: bool,
    shape: str,
    examples_source: str | None,
) -> None:
    """Write a run as a table: a row per example per step with each example's dynamics (default), a row
    per example (--difficulty), or chosen examples back as training rows (--as-examples).

    CSV cells that a spreadsheet would run as a formula are escaped with a leading "'".
    """
    from evotui.cli.export import run_export

    run_export(directory, output, difficulty, select, as_examples, shape, examples_source)


@main.command("serve")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on; any but loopback needs a token."
)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port to listen on.")
@click.option(
    "--token",
    envvar="EVOTUI_SERVE_TOKEN",
    default=None,
    help="Access token (also from $EVOTUI_SERVE_TOKEN, unseen by ps). Default: none on loopback, else generated.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05, max=3600),
    default=0.5,
    show_default=True,
    help="Seconds between two looks at the directory (each viewer).",
)
@click.option(
    "--max-sessions", type=click.IntRange(1, 64), default=8, show_default=True, help="Viewers (tabs) open at once."
)
def serve_command(directory: Path, host: str, port: int, token: str | None, interval: float, max_sessions: int) -> None:
    """Serve `evotui watch DIRECTORY` in a browser: one viewer per tab, read-only (needs the serve extra).

    Listens on 127.0.0.1 by default: from another machine, ssh -L 8000:localhost:8000 this-machine.
    """
    from evotui.cli import serve as serve_mod

    try:
        plan = serve_mod.plan_serve(directory, host, port, token, interval, max_sessions)
    except serve_mod.ServeError as exc:
        raise click.ClickException(str(exc)) from None
    serve_mod.run_serve(plan)


# -- compare (issue 13) ---------------------------------------------------------------------------
@main.command("compare")
@click.argument("directories", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON (for machines).")
@click.option(
    "--b",
    "b",
    default=2,
    show_default=True,
    type=click.IntRange(2),
    help="Which run is B in the filters and the learned-step difference (its place among the runs given).",
)
@click.option(
    "--filter",
    "quick",
    default="all",
    show_default=True,
    # evotui.analysis.compare.QUICK_KEYS (not imported here: the CLI starts without numpy)
    type=click.Choice(
        ["all", "a_only", "b_only", "both", "neither", "b_faster", "b_slower", "differ", "forgotten_one"]
    ),
    help="The examples listed: learned by A only, by B only, by both, by neither, B faster or slower, "
    "answers differ now, forgotten in one only.",
)
@click.option("--top", default=30, show_default=True, type=click.IntRange(1), help="Examples listed.")
def compare_command(directories: tuple[str, ...], as_json: bool, b: int, quick: str, top: int) -> None:
    """Compare runs example by example: RUN_A RUN_B [RUN_C ...] (A is the reference).

    Examples are matched by example_id, else by identical input text. Exit code 2 when a path is not a
    readable run.
    """
    from evotui.cli.compare import run_compare

    run_compare(directories, as_json, b, quick, top)
