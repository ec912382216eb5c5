"""Shared by the dynamics helper's tests: write a run directory from a plan of outputs per step.

Snapshots are real files written through ``tracker.store`` and scored with ``tracker.scoring``, as a
tracker would write them.
"""

from __future__ import annotations

import math
from pathlib import Path

from tracker.schema import ExampleResult, RunManifest, Snapshot
from tracker.scoring import score, summarize
from tracker.store import write_manifest, write_snapshot

# Hostile text a model (or a file) may hold: markup, an escape sequence, control characters.
HOSTILE = "[bold red]boom[/] \x1b[2J\x1b]0;pwned\x07 tab\there\nnewline \x9b31m"


def write_plan(
    directory: Path,
    expected: dict[str, str],
    outputs: dict[int, dict[str, str]],
    fmt: str = "json",
    manifest: RunManifest | None = None,
) -> Path:
    """``outputs[step][example_id] = model output`` (an example missing from a step is a gap). The loss
    is made from the similarity, so that confidence follows correctness."""
    directory.mkdir(parents=True, exist_ok=True)
    for step, by_id in outputs.items():
        rows = []
        for example_id, output in by_id.items():
            exact, sim = score(output, expected[example_id])
            rows.append(
                ExampleResult(
                    example_id=example_id,
                    input=f"What is {example_id}?",
                    expected_output=expected[example_id],
                    model_output=output,
                    loss=-math.log(max(0.9 if exact else 0.05 + 0.5 * sim, 1e-6)),
                    similarity=sim,
                    exact_match=exact,
                )
            )
        snapshot = Snapshot(
            training_step=step, examples=rows, summary=summarize(rows), timestamp="2026-11-26T12:00:00Z"
        )
        write_snapshot(directory, snapshot, fmt, fsync=False)  # type: ignore[arg-type]
    if manifest is not None:
        write_manifest(directory, manifest, fsync=False)
    return directory
