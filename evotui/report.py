"""`evotui report DIR`: a run's dynamics as Rich tables, or as JSON for machines.

``build_report`` gathers everything into plain data (what ``--json`` prints); ``render_report`` draws
that same data, so the two never disagree. Text from snapshot files is untrusted: it reaches the
terminal only as ``rich.text.Text`` with control characters made visible, never as markup.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from evotui.dynamics import REGIONS, STATUSES, RunDynamics, compute_dynamics
from evotui.history import RunHistory
from evotui.text import visible as one_line
from tracker.schema import RunManifest
from tracker.store import ReadError

MAX_STEP_ROWS = 40  # the accuracy table samples longer runs (all steps are in --json)
CELL_CHARS = 40


def visible(text: str, limit: int | None = CELL_CHARS) -> str:
    """``text`` on one line with control characters made visible (``evotui.text``), cut to ``limit``."""
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return one_line(text)


def plain(text: str | None, limit: int | None = CELL_CHARS, style: str = "") -> Text:
    """Untrusted text as a Rich ``Text`` (never parsed as markup)."""
    return Text("—" if text is None else visible(text, limit), style=style)


def _num(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _example(history: RunHistory, dyn: RunDynamics, i: int) -> dict[str, Any]:
    evaluations = history.prediction_history(i)
    latest = evaluations[-1] if evaluations else None
    return {
        "example_id": history.example_ids[i],
        **dyn.row(i),
        "input": history.inputs[i],
        "expected_output": history.expected[i],
        "latest_step": latest.step if latest is not None else None,  # its latest evaluation
        "latest_output": latest.output if latest is not None else None,
    }


def hardest(dyn: RunDynamics, top: int) -> list[int]:
    """Examples the model gets right least often after step 0, then with the least confidence; never
    learned first. Examples never evaluated after step 0 come last."""
    correctness = np.where(np.isnan(dyn.correctness), np.inf, dyn.correctness)
    confidence = np.where(np.isnan(dyn.confidence), np.inf, dyn.confidence)
    never_first = (dyn.status != "never").astype(np.int8)
    order = np.lexsort((np.arange(dyn.n_examples), confidence, correctness, never_first))
    return order[:top].tolist()


def most_forgotten(dyn: RunDynamics, top: int) -> list[int]:
    """Examples with the most forgetting events (at least one), most first; ties by example order."""
    order = np.lexsort((np.arange(dyn.n_examples), -dyn.forget_count))
    return [i for i in order[:top].tolist() if dyn.forget_count[i] > 0]


def build_report(
    history: RunHistory,
    manifest: RunManifest | None = None,
    errors: list[ReadError] | None = None,
    directory: str | os.PathLike[str] | None = None,
    top: int = 10,
) -> dict[str, Any]:
    """The report as JSON-ready data."""
    dyn = compute_dynamics(history)
    summaries = history.summary_series()
    forgotten_at = {r.step: r for r in dyn.regressions}
    steps = []
    for k, step in enumerate(history.steps):
        previous = dyn.accuracy[k - 1] if k else math.nan
        regression = forgotten_at.get(step)
        steps.append(
            {
                "step": step,
                "accuracy": _num(dyn.accuracy[k]),
                "accuracy_change": _num(dyn.accuracy[k] - previous),
                "avg_loss": _num(summaries["avg_loss"][k]),
                "avg_similarity": _num(summaries["avg_similarity"][k]),
                "examples": int(dyn.n_present[k]),
                "forgotten": regression.n_forgotten if regression else 0,
                "regression": regression is not None,
            }
        )
    speed = dyn.learning_speed
    run: dict[str, Any] = {"directory": None if directory is None else str(directory)}
    if manifest is not None:
        run.update(
            run_id=manifest.run_id,
            run_name=manifest.run_name,
            model_name=manifest.model_name,
            status=manifest.status,
            current_step=manifest.current_step,
            max_steps=manifest.max_steps,
            schedule=manifest.schedule,
        )
    return {
        "run": run,
        "examples": history.n_examples,
        "snapshots": history.n_steps,
        "latest_step": history.latest_step,
        "accuracy": _num(dyn.accuracy[-1]) if history.n_steps else None,
        "steps": steps,
        "status_counts": dyn.counts_by_status(),
        "region_counts": dyn.counts_by_region(),
        "learning_speed": {
            "quantiles": {str(q): v for q, v in speed.quantiles.items()},
            "learned_at": {int(s): int(c) for s, c in zip(speed.steps, speed.learned_at, strict=True) if c},
            "first_learned_at": {int(s): int(c) for s, c in zip(speed.steps, speed.first_learned_at, strict=True) if c},
        },
        "regressions": [
            {
                "step": r.step,
                "previous_step": r.previous_step,
                "accuracy": _num(r.accuracy),
                "previous_accuracy": _num(r.previous_accuracy),
                "accuracy_change": _num(r.accuracy_change),
                "forgotten_ids": r.forgotten_ids,
            }
            for r in dyn.regressions
        ],
        "hardest": [_example(history, dyn, i) for i in hardest(dyn, top)],
        "most_forgotten": [_example(history, dyn, i) for i in most_forgotten(dyn, top)],
        "read_errors": [{"file": str(e.path), "reason": e.reason} for e in (errors or [])],
    }


# -- drawing --------------------------------------------------------------------------------------
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
                str(row["forget_count"]),
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


def print_report(report: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    console.print(render_report(report, console.width))
