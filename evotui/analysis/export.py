"""The long table of a run: a row per example per step, with each example's dynamics, as CSV or JSONL.

Columns, in order: ``step, example_id, loss, similarity, exact_match, model_output`` (the snapshot),
``forgotten_here`` (a forgetting event at this step), then the example's dynamics over the whole run
(``status, first_learned, learned_after, learned_step, forget_count, confidence, variability,
correctness, region``). Missing values are empty cells in CSV and null in JSONL. An example absent from
a snapshot has no row for that step. Text is written as it is (quoted by the csv module, escaped by the
JSON encoder): a spreadsheet may read a cell starting with "=" as a formula, and "-5" is a valid answer,
so nothing is rewritten.

The file is written to a dot-temp file next to the target and renamed into place: an interrupted
export leaves the previous file (or nothing), never half a table.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import msgspec

from evotui.analysis.dynamics import RunDynamics, compute_dynamics
from evotui.analysis.history import RunHistory, StepColumn

FORMATS = {".csv": "csv", ".jsonl": "jsonl"}
SNAPSHOT_COLUMNS = ("step", "example_id", "loss", "similarity", "exact_match", "model_output", "forgotten_here")
DYNAMICS_COLUMNS = (
    "status",
    "first_learned",
    "learned_after",
    "learned_step",
    "forget_count",
    "confidence",
    "variability",
    "correctness",
    "region",
)
COLUMNS = SNAPSHOT_COLUMNS + DYNAMICS_COLUMNS


class ExportFormatError(ValueError):
    """The output file's extension names no format we write."""


def export_format(path: str | os.PathLike[str]) -> str:
    """ "csv" or "jsonl" from the file's extension; ``ExportFormatError`` with a clear message otherwise."""
    suffix = Path(path).suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        given = f'"{suffix}"' if suffix else "no extension"
        raise ExportFormatError(f"cannot export to {Path(path).name}: {given}; name the file .csv or .jsonl")
    return fmt


def _number(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def iter_rows(
    history: RunHistory,
    dynamics: RunDynamics | None = None,
    indices: Sequence[int] | None = None,
    until_step: int | None = None,
) -> Iterator[dict[str, object]]:
    """The long table as dicts (columns as in ``COLUMNS``), by step then by example index.

    ``indices``: the examples to include (e.g. what a filter shows); None = all of them.
    ``until_step``: the run as it was at that step (later snapshots left out); ``dynamics`` must then
    be the dynamics as of that step (computed here when None).

    Everything is taken from ``history`` now, not as the rows are consumed: the app writes in a
    thread while new snapshots keep arriving.
    """
    dyn = dynamics if dynamics is not None else compute_dynamics(history, until_step=until_step)
    chosen = list(range(history.n_examples)) if indices is None else sorted(set(indices))
    steps = [s for s in history.steps if until_step is None or s <= until_step]
    columns = [history.columns[s] for s in steps]
    example_ids = list(history.example_ids)
    per_example = {}
    for i in chosen:
        # Per-row files say "forgotten_here" instead of repeating the list of forgetting steps.
        per_example[i] = {k: v for k, v in dyn.row(i).items() if k != "forgetting_steps"}
    forgotten = set(zip(dyn.forget_example.tolist(), dyn.steps[dyn.forget_snapshot].tolist(), strict=True))
    return _rows(steps, columns, example_ids, chosen, per_example, forgotten)


def _rows(
    steps: list[int],
    columns: list[StepColumn],
    example_ids: list[str],
    chosen: list[int],
    per_example: dict[int, dict[str, object]],
    forgotten: set[tuple[int, int]],
) -> Iterator[dict[str, object]]:
    for step, column in zip(steps, columns, strict=True):
        for i in chosen:
            output = column.output(i)
            if output is None:  # absent from this snapshot
                continue
            exact = column.value("exact", i)
            yield {
                "step": step,
                "example_id": example_ids[i],
                "loss": _number(column.value("loss", i)),
                "similarity": _number(column.value("similarity", i)),
                "exact_match": exact == 1.0,
                "model_output": output,
                "forgotten_here": (i, step) in forgotten,
                **per_example[i],
            }


def _write_csv(fh: IO[str], rows: Iterator[dict[str, object]]) -> int:
    writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        # None -> empty cell; floats keep full precision (repr), booleans as true/false like JSON.
        writer.writerow(
            {
                key: "" if value is None else ("true" if value is True else "false" if value is False else value)
                for key, value in row.items()
            }
        )
        count += 1
    return count


def _write_jsonl(fh: IO[bytes], rows: Iterator[dict[str, object]]) -> int:
    encoder = msgspec.json.Encoder()
    count = 0
    for row in rows:
        fh.write(encoder.encode(row))
        fh.write(b"\n")
        count += 1
    return count


def export_run(
    path: str | os.PathLike[str],
    history: RunHistory,
    dynamics: RunDynamics | None = None,
    indices: Sequence[int] | None = None,
    until_step: int | None = None,
) -> int:
    """Write the long table to ``path`` (format by extension) and return the number of rows written."""
    return write_rows(path, iter_rows(history, dynamics, indices, until_step))


def write_rows(path: str | os.PathLike[str], rows: Iterator[dict[str, object]]) -> int:
    """Write rows from ``iter_rows`` to ``path`` (format by extension); safe to run in a thread."""
    fmt = export_format(path)
    target = Path(path)
    temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        if fmt == "csv":
            with open(temp, "w", encoding="utf-8", newline="") as text_fh:
                count = _write_csv(text_fh, rows)
        else:
            with open(temp, "wb") as bin_fh:
                count = _write_jsonl(bin_fh, rows)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return count


def write_rows_to(fh: IO[bytes], fmt: str, rows: Iterator[dict[str, object]]) -> int:
    """Write rows from ``iter_rows`` to an open binary file as ``fmt`` ("csv" or "jsonl"); returns the count.

    For a file that is not on this machine's disk: the download `evotui serve` sends to the browser.
    """
    if fmt == "jsonl":
        return _write_jsonl(fh, rows)
    text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
    try:
        return _write_csv(text, rows)
    finally:
        text.flush()
        text.detach()  # the caller keeps ``fh``
