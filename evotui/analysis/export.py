"""A run's tables as files: the long table, the difficulty table, and hard examples back as training rows.

Formats by the file's extension: ``.csv``, ``.jsonl``, ``.parquet`` (Parquet needs pyarrow: ``pip install
'evotui[parquet]'``; the others need nothing).

* The long table (``export_run``): a row per example per step. Columns, in order: ``step, example_id,
  input, expected_output, loss, similarity, exact_match, model_output`` (the snapshot; input and
  expected output are repeated on each row, so that one file is enough for pandas: Parquet stores
  repeats in its dictionary encoding), ``forgotten_here`` (a forgetting event at this step), then the
  example's dynamics over the run: ``status, first_learned, learned_after, learned_step, forgets,
  confidence, variability, correctness, region``. An example absent from a snapshot has no row there.
* The difficulty table (``export_difficulty``): a row per example, keyed by ``example_id`` for joining
  across runs: ``run, example_id, input, expected_output``, the dynamics columns, ``forgetting_steps``
  and ``slices`` (the insight slices it belongs to: metadata values and length buckets, see
  ``evotui.analysis.insights.slice_candidates``).
* Examples (``export_examples``): the chosen examples as JSONL rows that ``tracker.examples`` reads back
  as the same examples: the original rows when the source file is given, else ``input``/``output``,
  ``prompt``/``completion`` or chat ``messages`` built from the stored text.

Missing values are empty cells in CSV and null in JSONL and Parquet. Text is written as it is, except in
CSV: a cell a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
return, and not a plain number such as ``-5``) gets a leading ``'``, as OWASP advises against CSV injection
(model outputs are untrusted). Every file is written to a dot-temp file beside the target and renamed into
place: an interrupted export leaves the previous file (or nothing), never half a table.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import msgspec
import numpy as np

from evotui.analysis.dynamics import NONE, REGIONS, STATUSES, RunDynamics, compute_dynamics
from evotui.analysis.history import RunHistory

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
SNAPSHOT_COLUMNS = (
    "step",
    "example_id",
    "input",
    "expected_output",
    "loss",
    "similarity",
    "exact_match",
    "model_output",
    "forgotten_here",
)
DYNAMICS_COLUMNS = (
    "status",
    "first_learned",
    "learned_after",
    "learned_step",
    "forgets",
    "confidence",
    "variability",
    "correctness",
    "region",
)
COLUMNS = SNAPSHOT_COLUMNS + DYNAMICS_COLUMNS
DIFFICULTY_COLUMNS = ("run", "example_id", "input", "expected_output", *DYNAMICS_COLUMNS, "forgetting_steps", "slices")
SELECTABLE = STATUSES + REGIONS
SHAPES = ("auto", "input", "prompt", "messages")
PARQUET_ROW_GROUP = 65_536
PARQUET_HINT = "pip install 'evotui[parquet]' (or: pip install pyarrow)"
_STEP_COLUMNS = ("first_learned", "learned_after", "learned_step")
_FLOAT_COLUMNS = ("loss", "similarity", "confidence", "variability", "correctness")


class ExportFormatError(ValueError):
    """The output file's extension names no format we write, or its format's library is missing."""


def export_format(path: str | os.PathLike[str], allowed: Iterable[str] = FORMATS) -> str:
    """ "csv", "jsonl" or "parquet" from the file's extension; ``ExportFormatError`` with a clear message
    otherwise (also when Parquet is asked for and pyarrow is not installed)."""
    allowed = list(allowed)
    suffix = Path(path).suffix.lower()
    fmt = FORMATS.get(suffix) if suffix in allowed else None
    if fmt is None:
        given = f'"{suffix}"' if suffix else "no extension"
        names = allowed[0] if len(allowed) == 1 else ", ".join(allowed[:-1]) + " or " + allowed[-1]
        raise ExportFormatError(f"cannot export to {Path(path).name}: {given}; name the file {names}")
    if fmt == "parquet":
        try:
            import pyarrow.parquet  # noqa: F401  (only to know it is there: a broken install counts as missing)
        except ImportError:
            raise ExportFormatError(
                f"writing {Path(path).name} needs pyarrow, which is not installed: {PARQUET_HINT}"
            ) from None
    return fmt


# -- CSV injection ---------------------------------------------------------------------------------------
_FORMULA_START = frozenset("=+-@\t\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def csv_safe(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet runs: a leading ``'`` when it starts with ``= + - @``, tab or
    CR (OWASP, "CSV Injection"), unless it is a plain number (``-5`` is an answer, not a formula)."""
    if text and text[0] in _FORMULA_START and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


# -- selection -------------------------------------------------------------------------------------------
def parse_selection(text: str) -> list[str]:
    """``"never,forgotten"`` -> ["never", "forgotten"]; ValueError naming the unknown names and the known ones."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in SELECTABLE]
    if unknown or not names:
        given = ", ".join(unknown) or repr(text)
        raise ValueError(f"unknown selection {given}: choose from {', '.join(SELECTABLE)} (comma-separated)")
    return names


def select_examples(dynamics: RunDynamics, names: Sequence[str]) -> list[int]:
    """Indices of the examples whose status or region is one of ``names``, in the history's order."""
    wanted = np.isin(dynamics.status, list(names)) | np.isin(dynamics.region, list(names))
    return np.flatnonzero(wanted).tolist()


# -- the long table, in column batches -------------------------------------------------------------------
Batch = dict[str, Any]  # column name -> list or numpy array, all of one length


def _steps_or_none(values: np.ndarray) -> list[int | None]:
    return [None if v == NONE else v for v in values.tolist()]


def _per_example(dyn: RunDynamics, chosen: np.ndarray) -> dict[str, Any]:
    """The dynamics columns for ``chosen`` examples, as arrays indexed like ``chosen``."""
    return {
        "status": dyn.status[chosen],
        "first_learned": dyn.first_learned[chosen],
        "learned_after": dyn.learned_after[chosen],
        "learned_step": dyn.learned_step[chosen],
        "forgets": dyn.forget_count[chosen],
        "confidence": dyn.confidence[chosen],
        "variability": dyn.variability[chosen],
        "correctness": dyn.correctness[chosen],
        "region": dyn.region[chosen],
    }


def iter_batches(
    history: RunHistory,
    dynamics: RunDynamics | None = None,
    indices: Sequence[int] | None = None,
    until_step: int | None = None,
) -> Iterator[Batch]:
    """The long table as column batches, one per snapshot (columns as in ``COLUMNS``; float columns
    NaN where missing, step columns -1 where none).

    ``indices``: the examples to include (e.g. what a filter shows); None = all of them. ``until_step``:
    the run as it was at that step; ``dynamics`` must then be the dynamics as of that step (computed
    here when None). Everything is taken from ``history`` now, not as the batches are consumed: the app
    writes in a thread while new snapshots keep arriving.
    """
    dyn = dynamics if dynamics is not None else compute_dynamics(history, until_step=until_step)
    n = history.n_examples
    chosen = np.arange(n) if indices is None else np.unique(np.asarray(list(indices), dtype=np.int64))
    steps = [s for s in history.steps if until_step is None or s <= until_step]
    columns = [history.columns[s] for s in steps]
    example_ids = np.asarray(history.example_ids, dtype=object)
    inputs = np.asarray(history.inputs, dtype=object)
    expected = np.asarray(history.expected, dtype=object)
    per_example = _per_example(dyn, chosen)
    forgotten = np.zeros((n, len(steps)), dtype=bool)
    forget_steps = dyn.steps[dyn.forget_snapshot] if dyn.forget_snapshot.size else np.empty(0, np.int64)
    position = {s: k for k, s in enumerate(steps)}
    for i, s in zip(dyn.forget_example.tolist(), forget_steps.tolist(), strict=True):
        k = position.get(s)
        if k is not None and i < n:
            forgotten[i, k] = True
    return _batches(steps, columns, chosen, example_ids, inputs, expected, per_example, forgotten)


def _batches(
    steps: list[int],
    columns: list[Any],
    chosen: np.ndarray,
    example_ids: np.ndarray,
    inputs: np.ndarray,
    expected: np.ndarray,
    per_example: dict[str, Any],
    forgotten: np.ndarray,
) -> Iterator[Batch]:
    for k, (step, column) in enumerate(zip(steps, columns, strict=True)):
        size = len(column.outputs)
        inside = chosen[chosen < size]
        outputs = np.asarray(column.outputs, dtype=object)[inside] if inside.size else np.empty(0, dtype=object)
        present = np.fromiter((o is not None for o in outputs), dtype=bool, count=outputs.shape[0])
        where = inside[present]
        if not where.size:
            continue
        # Positions of ``where`` within ``chosen`` (both sorted): for the per-example columns.
        at = np.searchsorted(chosen, where)
        batch: Batch = {
            "step": np.full(where.shape[0], step, dtype=np.int64),
            "example_id": example_ids[where],
            "input": inputs[where],
            "expected_output": expected[where],
            "loss": column.loss[where],
            "similarity": column.similarity[where],
            "exact_match": column.exact[where] == 1.0,
            "model_output": outputs[present],
            "forgotten_here": forgotten[where, k],
        }
        for name, values in per_example.items():
            batch[name] = values[at]
        yield batch


def _batch_rows(batch: Batch, names: Sequence[str]) -> Iterator[dict[str, Any]]:
    """Rows as plain Python values (None for NaN or no step)."""
    plain: list[list[Any]] = []
    for name in names:
        values = batch[name]
        if name in _FLOAT_COLUMNS:
            plain.append([None if v != v else v for v in values.tolist()])
        elif name in _STEP_COLUMNS:
            plain.append(_steps_or_none(values))
        elif isinstance(values, np.ndarray):
            plain.append(values.tolist())
        else:
            plain.append(list(values))
    for row in zip(*plain, strict=True):
        yield dict(zip(names, row, strict=True))


def iter_rows(
    history: RunHistory,
    dynamics: RunDynamics | None = None,
    indices: Sequence[int] | None = None,
    until_step: int | None = None,
) -> Iterator[dict[str, object]]:
    """The long table as dicts (columns as in ``COLUMNS``), by step then by example index."""
    batches = iter_batches(history, dynamics, indices, until_step)
    return (row for batch in batches for row in _batch_rows(batch, COLUMNS))


# -- writers ---------------------------------------------------------------------------------------------
def _csv_cells(batch: Batch, names: Sequence[str]) -> list[list[str]]:
    cells: list[list[str]] = []
    for name in names:
        values = batch[name]
        if name in _FLOAT_COLUMNS:
            cells.append(["" if v != v else repr(v) for v in values.tolist()])
        elif name in _STEP_COLUMNS:
            cells.append(["" if v == NONE else str(v) for v in values.tolist()])
        elif isinstance(values, np.ndarray) and values.dtype == bool:
            cells.append(["true" if v else "false" for v in values.tolist()])
        elif isinstance(values, np.ndarray) and values.dtype.kind in "iu":
            cells.append([str(v) for v in values.tolist()])
        else:
            cells.append([_csv_text(v) for v in (values.tolist() if isinstance(values, np.ndarray) else values)])
    return cells


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return csv_safe("; ".join(map(str, value)))
    return csv_safe(str(value))


def _write_csv(fh: IO[str], batches: Iterable[Batch], names: Sequence[str]) -> int:
    writer = csv.writer(fh, lineterminator="\n")
    writer.writerow(names)
    count = 0
    for batch in batches:
        cells = _csv_cells(batch, names)
        writer.writerows(zip(*cells, strict=True))
        count += len(cells[0]) if cells else 0
    return count


def _write_jsonl(fh: IO[bytes], batches: Iterable[Batch], names: Sequence[str]) -> int:
    encoder = msgspec.json.Encoder()
    count = 0
    for batch in batches:
        rows = list(_batch_rows(batch, names))
        fh.write(encoder.encode_lines(rows))
        count += len(rows)
    return count


def _arrow_schema(names: Sequence[str]) -> Any:
    import pyarrow as pa

    types = {
        "step": pa.int64(),
        "exact_match": pa.bool_(),
        "forgotten_here": pa.bool_(),
        "forgets": pa.int64(),
        "forgetting_steps": pa.list_(pa.int64()),
        "slices": pa.list_(pa.string()),
        "status": pa.dictionary(pa.int8(), pa.string()),
        "region": pa.dictionary(pa.int8(), pa.string()),
    }
    for name in _FLOAT_COLUMNS:
        types[name] = pa.float64()
    for name in _STEP_COLUMNS:
        types[name] = pa.int64()
    return pa.schema([(name, types.get(name, pa.string())) for name in names])


def _arrow_column(name: str, values: Any, type_: Any) -> Any:
    import pyarrow as pa

    if name in _FLOAT_COLUMNS:
        arr = np.asarray(values, dtype=np.float64)
        return pa.array(arr, type=type_, mask=np.isnan(arr))
    if name in _STEP_COLUMNS:
        arr = np.asarray(values, dtype=np.int64)
        return pa.array(arr, type=type_, mask=arr == NONE)
    if pa.types.is_dictionary(type_):
        return pa.array(list(values), type=pa.string()).dictionary_encode().cast(type_)
    if isinstance(values, np.ndarray) and values.dtype != object:
        return pa.array(values, type=type_)
    return pa.array(list(values), type=type_)


def _write_parquet(path: Path | IO[bytes], batches: Iterable[Batch], names: Sequence[str]) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _arrow_schema(names)
    count = 0
    pending: list[Any] = []
    pending_rows = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in batches:
            arrays = [_arrow_column(name, batch[name], schema.field(name).type) for name in names]
            table = pa.Table.from_arrays(arrays, schema=schema)
            pending.append(table)
            pending_rows += table.num_rows
            count += table.num_rows
            # Row groups of PARQUET_ROW_GROUP rows: a batch per snapshot of a small run would make
            # hundreds of tiny groups (each with its own dictionaries: larger files, slower reads).
            if pending_rows >= PARQUET_ROW_GROUP:
                writer.write_table(pa.concat_tables(pending))
                pending, pending_rows = [], 0
        if pending:
            writer.write_table(pa.concat_tables(pending))
    return count


def _write_atomically(path: str | os.PathLike[str], write: Callable[[Path], int]) -> int:
    target = Path(path)
    temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        count = write(temp)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    return count


def write_batches(path: str | os.PathLike[str], batches: Iterable[Batch], names: Sequence[str] = COLUMNS) -> int:
    """Write column batches to ``path`` (format by extension); returns the rows written. Thread-safe."""
    fmt = export_format(path)

    def write(temp: Path) -> int:
        if fmt == "csv":
            with open(temp, "w", encoding="utf-8", newline="") as text_fh:
                return _write_csv(text_fh, batches, names)
        if fmt == "jsonl":
            with open(temp, "wb") as bin_fh:
                return _write_jsonl(bin_fh, batches, names)
        return _write_parquet(temp, batches, names)

    return _write_atomically(path, write)


def _row_batches(rows: Iterable[dict[str, object]], size: int = 8192) -> Iterator[Batch]:
    """Long-table rows (dicts as from ``iter_rows``) regrouped into column batches for the writers."""
    rows = iter(rows)
    while True:
        chunk = [row for _, row in zip(range(size), rows, strict=False)]
        if not chunk:
            return
        batch: Batch = {}
        for name in COLUMNS:
            values = [row[name] for row in chunk]
            if name in _FLOAT_COLUMNS:
                batch[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            elif name in _STEP_COLUMNS:
                batch[name] = np.array([NONE if v is None else v for v in values], dtype=np.int64)
            elif name in ("exact_match", "forgotten_here"):
                batch[name] = np.array(values, dtype=bool)
            elif name in ("step", "forgets"):
                batch[name] = np.array(values, dtype=np.int64)
            else:
                batch[name] = values
        yield batch


def write_rows(path: str | os.PathLike[str], rows: Iterable[dict[str, object]]) -> int:
    """Write long-table rows (dicts as from ``iter_rows``) to ``path``; safe to run in a thread."""
    return write_batches(path, _row_batches(rows))


def export_run(
    path: str | os.PathLike[str],
    history: RunHistory,
    dynamics: RunDynamics | None = None,
    indices: Sequence[int] | None = None,
    until_step: int | None = None,
) -> int:
    """Write the long table to ``path`` (format by extension) and return the number of rows written."""
    return write_batches(path, iter_batches(history, dynamics, indices, until_step))


# -- the difficulty table --------------------------------------------------------------------------------
def difficulty_batch(
    history: RunHistory, dynamics: RunDynamics | None = None, indices: Sequence[int] | None = None, run: str = ""
) -> Batch:
    """A row per example (``DIFFICULTY_COLUMNS``), in the history's order."""
    from evotui.analysis.insights import slice_candidates

    dyn = dynamics if dynamics is not None else compute_dynamics(history)
    n = history.n_examples
    chosen = np.arange(n) if indices is None else np.unique(np.asarray(list(indices), dtype=np.int64))
    slices = slice_candidates(history.metadata, history.inputs, history.expected)
    labels: list[list[str]] = [[] for _ in range(n)]
    for s in slices:
        for i in np.flatnonzero(s.mask).tolist():
            labels[i].append(s.label)
    batch: Batch = {
        "run": [run] * chosen.shape[0],
        "example_id": np.asarray(history.example_ids, dtype=object)[chosen],
        "input": np.asarray(history.inputs, dtype=object)[chosen],
        "expected_output": np.asarray(history.expected, dtype=object)[chosen],
        **_per_example(dyn, chosen),
        "forgetting_steps": [[int(s) for s in dyn.forgetting_steps(i)] for i in chosen.tolist()],
        "slices": [labels[i] for i in chosen.tolist()],
    }
    return batch


def export_difficulty(
    path: str | os.PathLike[str],
    history: RunHistory,
    dynamics: RunDynamics | None = None,
    indices: Sequence[int] | None = None,
    run: str = "",
) -> int:
    """Write the difficulty table (a row per example) to ``path``; returns the rows written."""
    batch = difficulty_batch(history, dynamics, indices, run)
    return write_batches(path, [batch] if len(batch["example_id"]) else [], DIFFICULTY_COLUMNS)


# -- examples back into training -------------------------------------------------------------------------
def example_rows(
    history: RunHistory,
    indices: Sequence[int],
    shape: str = "auto",
    source: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Training rows for the examples at ``indices``: the original rows when ``source`` gives them (by
    example id: ``evotui.cli.export.source_rows`` reads an examples file as ``tracker.examples`` does),
    the shape they came in, else built from the stored input and expected output in ``shape``: "input"
    (``input``/``output``, also for "auto"), "prompt" (``prompt``/``completion``) or "messages" (a user
    turn and an assistant turn). The stored input of a
    chat example is its prompt turns as the viewer shows them: only ``source`` gives back a system prompt
    or earlier turns. Each row keeps its id (``id``) and the example's metadata, less the tracker's
    per-step keys. Raises ValueError when ``source`` lacks one of the examples."""
    from evotui.analysis.insights import PER_STEP_METADATA

    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}: choose from {', '.join(SHAPES)}")
    by_id = source
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    for i in indices:
        example_id = history.example_ids[i]
        if by_id is not None:
            row = by_id.get(example_id)
            if row is None:
                missing.append(example_id)
            else:
                rows.append(dict(row))
            continue
        text, answer = history.inputs[i], history.expected[i]
        row = {"id": example_id}
        if shape == "prompt":
            row.update(prompt=text, completion=answer)
        elif shape == "messages":
            row["messages"] = [{"role": "user", "content": text}, {"role": "assistant", "content": answer}]
        else:
            row.update(input=text, output=answer)
        metadata = {k: v for k, v in history.metadata[i].items() if k not in PER_STEP_METADATA}
        if metadata:
            row["metadata"] = metadata
        rows.append(row)
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise ValueError(f"{len(missing)} example(s) of the run are not in the examples given: {shown}")
    return rows


def export_examples(
    path: str | os.PathLike[str],
    history: RunHistory,
    indices: Sequence[int],
    shape: str = "auto",
    source: Mapping[str, Mapping[str, Any]] | None = None,
) -> int:
    """Write ``example_rows`` to ``path`` (.jsonl); returns the rows written."""
    export_format(path, allowed=[".jsonl"])
    rows = example_rows(history, indices, shape, source)

    def write(temp: Path) -> int:
        with open(temp, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        return len(rows)

    return _write_atomically(path, write)


def write_rows_to(fh: IO[bytes], fmt: str, rows: Iterable[dict[str, object]]) -> int:
    """Write rows from ``iter_rows`` to an open binary file as ``fmt`` ("csv", "jsonl" or "parquet");
    returns the count. For a file that is not on this machine's disk: the download `evotui serve` sends
    to the browser."""
    batches = _row_batches(rows)
    if fmt == "jsonl":
        return _write_jsonl(fh, batches, COLUMNS)
    if fmt == "parquet":
        return _write_parquet(fh, batches, COLUMNS)
    text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
    try:
        return _write_csv(text, batches, COLUMNS)
    finally:
        text.flush()
        text.detach()  # the caller keeps ``fh``
