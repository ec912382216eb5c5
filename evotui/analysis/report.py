"""`evotui report DIR` as plain data: a run's dynamics gathered by ``build_report`` (what ``--json``
prints). ``evotui.cli.report`` draws the same data with Rich, so the two never disagree. No rich here.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from evotui.analysis.dynamics import RunDynamics, compute_dynamics
from evotui.analysis.history import RunHistory
from evotui.analysis.insights import find_insights
from tracker.schema import RunManifest
from tracker.store import ReadError

MAX_STEP_ROWS = 40  # the accuracy table samples longer runs (all steps are in --json)


def _num(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def dynamics_row(dyn: RunDynamics, i: int) -> dict[str, Any]:
    """``dyn.row(i)`` with the project's one name for the forgetting count: ``forgets``."""
    row = dyn.row(i)
    return {("forgets" if k == "forget_count" else k): v for k, v in row.items()}


def _example(history: RunHistory, dyn: RunDynamics, i: int) -> dict[str, Any]:
    evaluations = history.prediction_history(i)
    latest = evaluations[-1] if evaluations else None
    return {
        "example_id": history.example_ids[i],
        **dynamics_row(dyn, i),
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
    """The report as JSON-ready data. ``insights``: every insight of ``evotui.analysis.insights``, newest
    first, each with kind, severity, step, message and example_ids (plus key, p_value and data)."""
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
        "insights": [insight.to_dict() for insight in find_insights(history, dyn, manifest)] if history.n_steps else [],
        "hardest": [_example(history, dyn, i) for i in hardest(dyn, top)],
        "most_forgotten": [_example(history, dyn, i) for i in most_forgotten(dyn, top)],
        "read_errors": [{"file": str(e.path), "reason": e.reason} for e in (errors or [])],
    }


# -- drawing --------------------------------------------------------------------------------------
