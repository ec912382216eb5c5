"""`evotui report DIR` on a terminal: the report's data (``evotui.analysis.report.build_report``) drawn as
Rich tables. Text from snapshot files is untrusted: it reaches the terminal only as ``rich.text.Text``
with control characters made visible, never as markup.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click
import numpy as np
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from evotui.analysis.dynamics import REGIONS, STATUSES
from evotui.analysis.report import MAX_STEP_ROWS, build_report
from evotui.analysis.text import visible as one_line
from evotui.cli.run_dir import load_or_fail, no_snapshots

CELL_CHARS = 40


def visible(text: str, limit: int | None = CELL_CHARS) -> str:
    """``text`` on one line with control characters made visible (``evotui.watch.text``), cut to ``limit``."""
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return one_line(text)


def plain(text: str | None, limit: int | None = CELL_CHARS, style: str = "") -> Text:
    """Untrusted text as a Rich ``Text`` (never parsed as markup)."""
    return Text("—" if text is None else visible(text, limit), style=style)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _sampled(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """At most ``limit`` rows, evenly spaced, always the first and the last."""
    if len(rows) <= limit:
        return rows
    picks = np.unique(np.linspace(0, len(rows) - 1, limit).round().astype(int))
    return [rows[i] for i in picks]


def _steps_table(report: dict[str, Any]) -> Table:
    rows = report["steps"]
    shown = _sampled(rows, MAX_STEP_ROWS)
    title = "Accuracy by step"
    if len(shown) < len(rows):
        title += f" ({len(shown)} of {len(rows)} snapshots; --json has all)"
    table = Table(title=title, title_justify="left")
    for name in ("step", "accuracy", "change", "avg loss", "avg sim", "examples", "forgotten"):
        table.add_column(name, justify="right")
    for row in shown:
        change = row["accuracy_change"]
        change_text = Text("" if change is None else f"{change * 100:+.1f}", style="red" if row["regression"] else "")
        table.add_row(
            f"{row['step']:,}",
            _pct(row["accuracy"]),
            change_text,
            _fmt(row["avg_loss"]),
            _fmt(row["avg_similarity"], 2),
            f"{row['examples']:,}",
            Text(str(row["forgotten"] or ""), style="red"),
        )
    return table


def _counts_table(report: dict[str, Any]) -> Table:
    total = report["examples"] or 1
    table = Table(title="Examples by status and region", title_justify="left")
    table.add_column("status")
    table.add_column("examples", justify="right")
    table.add_column("region")
    table.add_column("examples", justify="right")
    statuses = list(STATUSES)
    regions = [*REGIONS, "unmapped"]
    for k in range(max(len(statuses), len(regions))):
        cells: list[str] = []
        for names, counts in ((statuses, report["status_counts"]), (regions, report["region_counts"])):
            if k < len(names):
                n = counts[names[k]]
                cells += [names[k], f"{n:,} ({n / total:.0%})"]
            else:
                cells += ["", ""]
        table.add_row(*cells)
    return table


def _examples_table(title: str, rows: list[dict[str, Any]], forgetting: bool, width: int) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    max_id = min(max((len(row["example_id"]) for row in rows), default=2), 24)
    # Rich does not shrink no-wrap columns: share out what our own columns leave to the three texts.
    fixed = max(max_id, 2) + 9 + (7 + 12 if forgetting else 9 + 7 + 4) + 3 * (7 if forgetting else 8)
    text_width = max(6, (width - fixed) // 3)
    # One line per example: our own columns never wrap, the file's text is cut with an ellipsis.
    table.add_column("id", no_wrap=True, overflow="ellipsis", min_width=min(max_id, 16), max_width=24)
    table.add_column("status", no_wrap=True, min_width=9)
    if forgetting:
        table.add_column("forgets", justify="right", no_wrap=True, min_width=7)
        table.add_column("forgotten at", no_wrap=True, overflow="ellipsis", min_width=12)
    else:
        table.add_column("region", no_wrap=True, min_width=9)
        table.add_column("correct", justify="right", no_wrap=True, min_width=7)
        table.add_column("conf", justify="right", no_wrap=True, min_width=4)
    for name in ("input", "expected", "latest"):
        table.add_column(name, no_wrap=True, overflow="ellipsis", max_width=text_width)
    for row in rows:
        if forgetting:
            steps = row["forgetting_steps"]
            middle = [
                str(row["forgets"]),
                ", ".join(f"{s:,}" for s in steps[:6]) + (" …" if len(steps) > 6 else ""),
            ]
        else:
            middle = [row["region"] or "—", _pct(row["correctness"]), _fmt(row["confidence"], 2)]
        table.add_row(
            plain(row["example_id"], 24),
            row["status"],
            *middle,
            plain(row["input"]),
            plain(row["expected_output"], 20),
            plain(row["latest_output"], 20),
        )
    return table


SEVERITY_STYLES = {"info": "cyan", "warning": "yellow", "critical": "bold red"}


def _insights_table(report: dict[str, Any]) -> Table:
    """Insights, newest first: severity, kind, step, the one-line message, how many examples are evidence."""
    insights = report["insights"]
    table = Table(title=f"Insights ({len(insights)})", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("severity", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("step", justify="right", no_wrap=True)
    table.add_column("what", ratio=1)
    table.add_column("examples", justify="right", no_wrap=True)
    for x in insights:
        table.add_row(
            Text(x["severity"], style=SEVERITY_STYLES.get(x["severity"], "")),
            x["kind"],
            f"{x['step']:,}",
            plain(x["message"], None),  # metadata values and outputs are in it: untrusted
            f"{len(x['example_ids']):,}",
        )
    return table


def render_report(report: dict[str, Any], width: int = 80) -> RenderableType:
    """The report for a terminal ``width`` columns wide."""
    run = report["run"]
    head = Text("evotui report · ", style="bold")
    head.append(visible(run.get("run_name") or run.get("directory") or "", 80))
    if run.get("model_name"):
        head.append(" · " + visible(run["model_name"], 60))
    if run.get("status"):
        head.append(f" · {run['status']}")
    latest = report["latest_step"]
    facts = Text(
        f"{report['examples']:,} examples · {report['snapshots']:,} snapshots"
        + (f" · latest step {latest:,} · accuracy {_pct(report['accuracy'])}" if latest is not None else "")
    )
    parts: list[RenderableType] = [head, facts]
    if report["read_errors"]:
        errors = Text(f"{len(report['read_errors'])} file(s) could not be read:\n", style="yellow")
        for e in report["read_errors"]:
            errors.append("  " + visible(os.path.basename(e["file"]), 80) + ": " + visible(e["reason"], 200) + "\n")
        parts.append(errors)
    if not report["snapshots"]:
        parts.append(Text("No snapshots to report on.", style="bold yellow"))
        return Group(*parts)
    if report["insights"]:
        parts.append(_insights_table(report))
    else:
        parts.append(Text("Insights: none (no regression, output pathology, slice or plateau found)", style="dim"))
    parts += [_steps_table(report), _counts_table(report)]
    quantiles = report["learning_speed"]["quantiles"]
    if quantiles:
        speed = Text("Learning speed (learned step, examples right to the end): ")
        speed.append(" · ".join(f"p{q} {v:,.0f}" for q, v in quantiles.items()))
        speed.append("\n(a learned step t means: learned after the snapshot before t, by t)", style="dim")
        parts.append(speed)
    regressions = report["regressions"]
    if regressions:
        table = Table(title=f"Regressions ({len(regressions)})", title_justify="left")
        for name in ("step", "accuracy", "change", "forgotten", "examples forgotten"):
            table.add_column(name, justify="right" if name != "examples forgotten" else "left")
        worst = sorted(regressions, key=lambda r: (-len(r["forgotten_ids"]), r["accuracy_change"] or 0.0))[:10]
        for r in sorted(worst, key=lambda r: r["step"]):
            ids = r["forgotten_ids"]
            shown = ", ".join(visible(i, 24) for i in ids[:5]) + (f" +{len(ids) - 5}" if len(ids) > 5 else "")
            table.add_row(
                f"{r['step']:,}",
                _pct(r["accuracy"]),
                Text(f"{(r['accuracy_change'] or 0) * 100:+.1f}", style="red"),
                str(len(ids)),
                Text(shown),
            )
        if len(regressions) > 10:
            table.caption = "the 10 with the most examples forgotten; --json has all"
        parts.append(table)
    parts.append(_examples_table("Hardest examples", report["hardest"], forgetting=False, width=width))
    if report["most_forgotten"]:
        parts.append(_examples_table("Most forgotten examples", report["most_forgotten"], forgetting=True, width=width))
    return Group(*parts)


PIPE_WIDTH = 1000  # not a terminal: no width to fit, so lines are as long as their cells (CELL_CHARS)


def report_console() -> Console:
    """A terminal's width on a terminal; piped or redirected (no terminal), full width: Rich would
    otherwise assume 80 columns and cut the text columns. An explicit COLUMNS wins."""
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, width=PIPE_WIDTH)
    return console


def print_report(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or report_console()
    console.print(render_report(report, console.width))


def run_report(directory: str, as_json: bool, top: int) -> None:
    history, manifest, errors = load_or_fail(directory)
    report = build_report(history, manifest, errors, directory=directory, top=top)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False))
    else:
        print_report(report, report_console())
    if not history.n_steps:
        raise click.ClickException(no_snapshots(directory))
