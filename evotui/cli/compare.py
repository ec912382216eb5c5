"""`evotui compare RUN_A RUN_B [...]`: runs compared example by example, without the TUI.

The data is ``evotui.analysis.compare`` (``--json`` prints ``comparison_data``); this module draws it with
Rich. Text from snapshot files reaches the terminal only as ``rich.text.Text`` with control characters made
visible, never as markup. A path that is not a run (missing, a file, no readable snapshot) exits with 2.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import click
import numpy as np
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from evotui.analysis.compare import (
    QUICK_FILTERS,
    X_FRACTION,
    CompareRun,
    Comparison,
    compare_runs,
    comparison_data,
    delta_label,
    learned_label,
    read_latest_metadata,
    run_letter,
    run_names,
)
from evotui.analysis.dynamics import STATUSES
from evotui.analysis.loader import RunDirectoryError, load_run
from evotui.cli.report import plain, visible
from evotui.cli.run_dir import no_snapshots

MAX_STEP_ROWS = 30
STATUS_STYLES = {"known": "blue", "learned": "green", "unstable": "yellow", "forgotten": "bold red", "never": "magenta"}


class BadRunPath(click.ClickException):
    """A path given to compare is not a readable run: exit code 2 (as click does for bad arguments)."""

    exit_code = 2


def load_runs(directories: Sequence[str]) -> tuple[list[CompareRun], list[str]]:
    """Each directory read whole: the runs to compare, and warnings about the files skipped."""
    loaded = []
    warnings: list[str] = []
    for directory in directories:
        try:
            history, manifest, errors = load_run(directory)
        except RunDirectoryError as exc:
            raise BadRunPath(str(exc)) from exc
        if not history.n_steps:
            raise BadRunPath(no_snapshots(directory))
        warnings += [f"{visible(directory, 80)}: skipped {visible(str(e), 300)}" for e in errors]
        loaded.append((directory, history, manifest))
    names = run_names([d for d, _, _ in loaded], [m.run_name if m is not None else None for _, _, m in loaded])
    runs = [
        CompareRun(
            name=name,
            history=history,
            max_steps=manifest.max_steps if manifest is not None and manifest.max_steps else None,
            path=directory,
            metadata=read_latest_metadata(directory),
        )
        for name, (directory, history, manifest) in zip(names, loaded, strict=True)
    ]
    return runs, warnings


def _pct(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{value * 100:.1f}%"


def _delta(value: float, x_axis: str) -> Text:
    """B - A in x units: negative (B learned sooner) green, positive red."""
    style = "dim" if math.isnan(value) else "green" if value < 0 else "red" if value > 0 else ""
    return Text(delta_label(value, x_axis), style=style)


def _runs_table(cmp: Comparison) -> Table:
    table = Table(title="Runs", title_justify="left")
    for name in ("", "run", "examples", "own", "latest step", "accuracy", "learned p25/50/75"):
        left = name in ("", "run")
        table.add_column(name, justify="left" if left else "right", min_width=12 if name == "run" else None)
    for r, side in enumerate(cmp.runs):
        latest = side.latest_step
        step = "—" if latest is None else f"{latest:,}" + (f"/{side.max_steps:,}" if side.max_steps else "")
        q = side.learned_quartiles
        quartiles = " / ".join(learned_label(q[p], cmp.x_axis) for p in (25, 50, 75)) if q else "—"
        table.add_row(
            run_letter(r),
            plain(side.name, 40),
            f"{side.n_examples:,}",
            f"{side.own:,}",
            step,
            _pct(side.latest_accuracy),
            quartiles,
        )
    return table


def _status_table(cmp: Comparison) -> Table:
    table = Table(title="Examples by status (each run, all its examples)", title_justify="left")
    table.add_column("status")
    for r in range(cmp.n_runs):
        table.add_column(run_letter(r), justify="right")
    for status in STATUSES:
        cells = []
        for side in cmp.runs:
            n = side.counts_by_status.get(status, 0)
            cells.append(f"{n:,} ({n / side.n_examples:.0%})" if side.n_examples else "0")
        table.add_row(Text(status, style=STATUS_STYLES.get(status, "")), *cells)
    return table


def _accuracy_table(cmp: Comparison) -> Table:
    """Accuracy by x (step or fraction) for every run, on the union of their x values, sampled."""
    xs = np.unique(np.concatenate([side.x for side in cmp.runs]))
    title = "Accuracy by " + ("fraction of max_steps" if cmp.x_axis == X_FRACTION else "step")
    if xs.size > MAX_STEP_ROWS:
        picks = np.unique(np.linspace(0, xs.size - 1, MAX_STEP_ROWS).round().astype(int))
        title += f" ({picks.size} of {xs.size} points; --json has all)"
        xs = xs[picks]
    table = Table(title=title, title_justify="left")
    table.add_column("fraction" if cmp.x_axis == X_FRACTION else "step", justify="right")
    for r, side in enumerate(cmp.runs):
        table.add_column(Text(f"{run_letter(r)} ") + plain(side.name, 20), justify="right")
    lookup = [dict(zip(side.x.tolist(), side.accuracy.tolist(), strict=True)) for side in cmp.runs]
    for x in xs.tolist():
        cells = [_pct(by_x[x]) if x in by_x else "" for by_x in lookup]
        table.add_row(learned_label(x, cmp.x_axis), *cells)
    return table


def _filters_table(cmp: Comparison, b: int) -> Table:
    counts = cmp.quick_counts(b)
    table = Table(title=f"Quick filters (A against {run_letter(b)})", title_justify="left")
    table.add_column("filter")
    table.add_column("key", style="dim")
    table.add_column("examples", justify="right")
    for key, label in QUICK_FILTERS:
        shown = label.replace(" B", f" {run_letter(b)}") if b != 1 else label
        table.add_row(shown, key, f"{counts[key]:,}")
    return table


def _examples_table(cmp: Comparison, rows: np.ndarray, b: int, quick: str, width: int) -> Table:
    title = f"Examples: {dict(QUICK_FILTERS)[quick]}"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    n = cmp.n_runs
    # Our own columns never wrap nor shrink; the outputs share what is left.
    id_width = min(16, max((len(cmp.example_ids[m]) for m in rows.tolist()), default=2))
    # cells, then three cells between two columns (padding, separator, padding) and the two edges.
    fixed = id_width + n * (9 + 7) + 6 + 3 * (3 * n + 1) + 2
    out_width = max(4, (width - fixed) // max(n, 1))
    table.add_column("id", no_wrap=True, overflow="ellipsis", min_width=min(id_width, 8), max_width=id_width)
    for r in range(n):
        table.add_column(f"{run_letter(r)} status", no_wrap=True, min_width=9)
        table.add_column("learned", justify="right", no_wrap=True, min_width=7)
    table.add_column(f"{run_letter(b)}−A", justify="right", no_wrap=True, min_width=6)
    for r in range(n):
        table.add_column(f"{run_letter(r)} output", no_wrap=True, overflow="ellipsis", max_width=out_width)
    delta = cmp.learned_difference(b)
    for m in rows.tolist():
        cells: list[Any] = [plain(cmp.example_ids[m], id_width)]
        for r in range(n):
            status = str(cmp.status[m, r])
            learned = float(cmp.learned_x[m, r])
            cells += [Text(status, style=STATUS_STYLES.get(status, "")), learned_label(learned, cmp.x_axis)]
        cells.append(_delta(float(delta[m]), cmp.x_axis))
        for r in range(n):
            exact = cmp.exact_now[m, r]
            cells.append(plain(cmp.outputs[r][m], out_width, style="" if exact == 1.0 else "italic"))
        table.add_row(*cells)
    return table


def _tags_table(cmp: Comparison) -> Table | None:
    tags = sorted({tag for side in cmp.runs for tag in side.tag_accuracy})
    if not tags:
        return None
    table = Table(title="Accuracy by metadata tag (latest snapshot)", title_justify="left")
    table.add_column("tag", no_wrap=True, max_width=40)
    for r, side in enumerate(cmp.runs):
        table.add_column(Text(f"{run_letter(r)} ") + plain(side.name, 20), justify="right")
    for tag in tags:
        cells = []
        for side in cmp.runs:
            right, total = side.tag_accuracy.get(tag, (0, 0))
            cells.append(f"{right / total:.0%} of {total:,}" if total else "")
        table.add_row(plain(tag, 40), *cells)
    return table


def render_comparison(cmp: Comparison, b: int = 1, quick: str = "all", top: int = 30, width: int = 100) -> Group:
    head = Text("evotui compare", style="bold")
    for r, side in enumerate(cmp.runs):
        head.append(f" · {run_letter(r)} ", style="bold")
        head.append_text(plain(side.name, 40, style="cyan"))
    matching = Text(f"{cmp.n_matched:,} examples matched")
    matching.append(f" ({cmp.by_id:,} by id, {cmp.by_input:,} by input text)")
    matching.append(" · own: " + " · ".join(f"{run_letter(r)} {side.own:,}" for r, side in enumerate(cmp.runs)))
    if cmp.input_differs:
        matching.append(f" · {cmp.input_differs:,} id matches have different inputs", style="yellow")
    axis = Text(
        "learned steps and curves by fraction of each run's max_steps (the runs differ in length)"
        if cmp.x_axis == X_FRACTION
        else "learned steps and curves by training step",
        style="dim",
    )
    parts: list[RenderableType] = [head, matching, axis, _runs_table(cmp), _status_table(cmp), _accuracy_table(cmp)]
    tags = _tags_table(cmp)
    if tags is not None:
        parts.append(tags)
    if cmp.n_matched:
        parts.append(_filters_table(cmp, b))
        rows = cmp.rows(quick=quick, b=b)
        table = _examples_table(cmp, rows[:top], b, quick, width)
        if rows.size > top:
            table.caption = f"{top} of {rows.size:,}; --top for more, --json has all"
        parts.append(table)
    else:
        parts.append(Text("The runs share no example: their curves, statuses and learned steps compare above."))
    return Group(*parts)


def run_compare(directories: Sequence[str], as_json: bool, b: int, quick: str, top: int) -> None:
    if len(directories) < 2:
        raise click.UsageError("give at least two run directories")
    if not 2 <= b <= len(directories):
        raise click.UsageError(f"--b is a run's place among the {len(directories)} given: 2..{len(directories)}")
    runs, warnings = load_runs(directories)
    cmp = compare_runs(runs)
    for warning in warnings:
        click.echo(warning, err=True)
    if as_json:
        click.echo(json.dumps(comparison_data(cmp, b - 1), indent=2, ensure_ascii=False, allow_nan=False))
        return
    console = Console(highlight=False)
    console.print(render_comparison(cmp, b - 1, quick, top, console.width))
