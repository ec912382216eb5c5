"""RunHistory: every snapshot of one run, held per example as columns by step. No textual here.

Examples are matched by ``example_id`` and get a global index in order of first appearance. Each
snapshot becomes a ``StepColumn`` whose arrays are aligned to that global index (NaN / None where an
example is absent: a gap, never a zero). Adding a snapshot costs in proportion to that snapshot;
steps stay ordered even when files arrive out of order; matrices over all steps are built on demand
and cached until the next change.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tracker.schema import Snapshot, Summary

NAN = float("nan")
_lineages = itertools.count()


def _float_column(values: list[float | None]) -> np.ndarray:
    """float64 array, NaN for None, NaN and infinities (a gap, never a value)."""
    try:
        arr = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):  # None among the values
        arr = np.array([_as_float(v) for v in values], dtype=np.float64)
    return finite_or_nan(arr)


def finite_or_nan(arr: np.ndarray) -> np.ndarray:
    """``arr`` (float64) with its infinities made NaN, in place: a gap, never a value."""
    arr[~np.isfinite(arr)] = NAN
    return arr


def _as_float(value: float | None) -> float:
    if value is None or not math.isfinite(value):
        return NAN
    return float(value)


def _avg_similarity(column: StepColumn) -> float:
    """The summary's ``avg_similarity``; the seed's format has none: then the mean of the rows' similarity."""
    if column.summary.avg_similarity is not None:
        return _as_float(column.summary.avg_similarity)
    present = column.similarity[~np.isnan(column.similarity)]
    return float(present.mean()) if present.size else NAN


@dataclass
class StepColumn:
    """One snapshot, aligned to the history's global example index at the time it was added."""

    step: int
    timestamp: str
    summary: Summary
    loss: np.ndarray  # float64, NaN = absent or no loss
    similarity: np.ndarray  # float64, NaN = absent
    exact: np.ndarray  # float64: 1.0 right, 0.0 wrong, NaN absent
    # None = absent. A tuple, not a list: once the collector has seen that it holds only strings it stops
    # tracking it, so the run's outputs (examples x snapshots references) are not walked by every full
    # collection; as lists they made each one cost O(examples x snapshots) (a gen-2 pause of ~0.2 s on
    # the UI thread at 10,000 x 120, growing with the run).
    outputs: tuple[str | None, ...]
    source: str | None = None
    epoch: float | None = None
    train_loss: float | None = None
    learning_rate: float | None = None
    eval_seconds: float | None = None
    n_present: int = 0
    # True where the output stopped at max_new_tokens (the tracker's per-row ``metadata["finish"] ==
    # "length"``); None when no row of the snapshot says how its generation ended (seed-format files).
    hit_limit: np.ndarray | None = None

    def value(self, name: str, index: int) -> float:
        arr: np.ndarray = getattr(self, name)
        return float(arr[index]) if index < arr.shape[0] else NAN

    def output(self, index: int) -> str | None:
        return self.outputs[index] if index < len(self.outputs) else None


@dataclass
class SnapshotColumns:
    """One snapshot as the history needs it: its rows' fields as columns, in the rows' order.

    Built in one pass per field (``of``), never a loop per row in Python; plain lists, numpy arrays and
    a msgspec Struct, so it pickles: a worker process can build it while the run service builds another
    (``evotui.watch.tail``). ``RunHistory.add_columns`` aligns it to the history's example index.
    """

    step: int
    timestamp: str
    summary: Summary
    ids: list[str]
    outputs: list[str]
    loss: np.ndarray  # float64, NaN = no loss (None, NaN or infinite in the file)
    similarity: np.ndarray  # float64, NaN = not finite
    exact: np.ndarray  # float64: 1.0 right, 0.0 wrong
    # True where the output stopped at max_new_tokens; None when no row has metadata (seed files).
    hit_limit: np.ndarray | None
    # (inputs, expected outputs, metadata) of the rows, or None when not carried (``with_texts=False``).
    texts: tuple[list[str], list[str], list[dict[str, Any]]] | None = None
    epoch: float | None = None
    train_loss: float | None = None
    learning_rate: float | None = None
    eval_seconds: float | None = None

    @property
    def training_step(self) -> int:
        return self.step

    @staticmethod
    def texts_of(snapshot: Snapshot) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        rows = snapshot.examples
        return [r.input for r in rows], [r.expected_output for r in rows], [r.metadata for r in rows]

    @classmethod
    def of(
        cls, snapshot: Snapshot, with_texts: bool = True, previous: SnapshotColumns | None = None
    ) -> SnapshotColumns:
        """The columns of ``snapshot``. With ``previous`` (the snapshot before it in a bulk read), a list
        equal to the previous one's ids is that very list: held once, pickled once for a batch, and seen
        as unchanged by ``RunHistory.add_columns`` without comparing it."""
        rows = snapshot.examples
        ids = [r.example_id for r in rows]
        outputs = [r.model_output for r in rows]
        if previous is not None and ids == previous.ids:
            ids = previous.ids
        metas = [r.metadata for r in rows]
        hit_limit = None
        if any(metas):  # the tracker writes {"finish": "eos" | "length"} per row; seed files mostly {}
            hit_limit = np.fromiter((m.get("finish") == "length" for m in metas), dtype=bool, count=len(metas))
        texts = ([r.input for r in rows], [r.expected_output for r in rows], metas) if with_texts else None
        return cls(
            step=snapshot.training_step,
            timestamp=snapshot.timestamp,
            summary=snapshot.summary or Summary(),
            ids=ids,
            outputs=outputs,
            loss=_float_column([r.loss for r in rows]),
            similarity=_float_column([r.similarity for r in rows]),
            exact=np.array([r.exact_match for r in rows], dtype=np.float64),
            hit_limit=hit_limit,
            texts=texts,
            epoch=snapshot.epoch,
            train_loss=snapshot.train_loss,
            learning_rate=snapshot.learning_rate,
            eval_seconds=snapshot.eval_seconds,
        )


@dataclass(frozen=True)
class AddResult:
    step: int
    replaced: bool  # a snapshot for this step was already held (file rewritten, or a second format)
    new_examples: int  # example ids seen for the first time
    is_latest: bool  # the step is now the newest one held


@dataclass
class HistoryPoint:
    """One example at one step, for prediction histories."""

    step: int
    output: str
    exact: bool
    similarity: float
    loss: float  # NaN when unknown


@dataclass
class RunHistory:
    """All snapshots of one run. ``version`` increases with every change (cache key for views)."""

    example_ids: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    # Each example's ``metadata`` as of its latest text update (like ``inputs``): what slices are cut by.
    metadata: list[dict[str, Any]] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    columns: dict[int, StepColumn] = field(default_factory=dict)
    version: int = 0
    # Which run this is (copies keep it) and a count of changes to ids, inputs or expected texts: caches
    # of text built from them (the table's search text, id order) stay valid across frozen copies.
    lineage: int = field(default_factory=lambda: next(_lineages))
    texts_version: int = 0
    _index: dict[str, int] = field(default_factory=dict)
    _cache: dict[str, tuple[int, np.ndarray]] = field(default_factory=dict)
    _last_ids: list[str] = field(default_factory=list)  # the previous snapshot's ids, for the fast path
    _last_positions: np.ndarray | None = None
    _last_outputs: list[str | None] = field(default_factory=list)  # the previous snapshot's, aligned

    # -- building ---------------------------------------------------------------------------------
    @classmethod
    def from_snapshots(cls, snapshots: Iterable[Snapshot]) -> RunHistory:
        history = cls()
        for snapshot in snapshots:
            history.add(snapshot)
        return history

    def index_of(self, example_id: str) -> int | None:
        return self._index.get(example_id)

    def add(self, snapshot: Snapshot | SnapshotColumns, source: str | None = None, texts: bool = True) -> AddResult:
        """Add (or replace) the snapshot for its ``training_step``. O(len(snapshot.examples)).

        A ``Snapshot`` is first turned into ``SnapshotColumns`` (one pass per field, no loop per row);
        a bulk load may hand over columns built elsewhere (a worker process, ``evotui.watch.tail``).
        ``texts=False`` keeps the input and expected texts of examples already known (a bulk load
        sets them once, from its newest snapshot, with ``set_texts``); new examples always get theirs.
        """
        if isinstance(snapshot, Snapshot):
            cols = SnapshotColumns.of(snapshot, with_texts=False)
            if texts or cols.ids != self._last_ids:  # texts needed: wanted, or examples possibly new
                cols.texts = SnapshotColumns.texts_of(snapshot)
            return self.add_columns(cols, source=source, texts=texts)
        return self.add_columns(snapshot, source=source, texts=texts)

    def add_columns(self, cols: SnapshotColumns, source: str | None = None, texts: bool = True) -> AddResult:
        """``add`` for a snapshot already in columns. Texts are taken from ``cols.texts`` when it has them."""
        ids = cols.ids
        n_rows = len(ids)
        n_before = len(self.example_ids)
        if ids is self._last_ids or ids == self._last_ids or (not n_before and len(set(ids)) == n_rows):
            # The common case: the same examples in the same order as the previous snapshot.
            if not n_before:
                self._index.update((eid, i) for i, eid in enumerate(ids))
                self.example_ids.extend(ids)
                self.inputs.extend([""] * n_rows)
                self.expected.extend([""] * n_rows)
                self.metadata.extend([{}] * n_rows)
            positions = self._last_positions
            if positions is None or positions.shape[0] != n_rows or not n_before:
                positions = np.arange(n_rows, dtype=np.int64)
            new_examples = n_rows if not n_before else 0
        else:
            new_examples = 0
            positions = np.empty(n_rows, dtype=np.int64)
            index = self._index
            for j, example_id in enumerate(ids):
                i = index.get(example_id)
                if i is None:
                    i = len(self.example_ids)
                    index[example_id] = i
                    self.example_ids.append(example_id)
                    self.inputs.append("")
                    self.expected.append("")
                    self.metadata.append({})
                    new_examples += 1
                positions[j] = i
        self._last_ids = ids
        self._last_positions = positions
        n = len(self.example_ids)
        # The latest text wins: a rerun may fix an example's expected output.
        identity = positions.shape[0] == n and bool(np.array_equal(positions, np.arange(n)))
        if new_examples:
            self.texts_version += 1
        row_texts = cols.texts
        if identity:
            if row_texts is not None and (texts or new_examples):
                inputs, expected, metas = row_texts
                if inputs != self.inputs or expected != self.expected:
                    self.inputs[:] = inputs
                    self.expected[:] = expected
                    self.texts_version += 1
                self.metadata[:] = metas
            outputs: list[str | None] = list(cols.outputs)
        else:
            outputs = [None] * n
            for j, i in enumerate(positions.tolist()):
                outputs[i] = cols.outputs[j]
            if row_texts is not None and (texts or new_examples):
                inputs, expected, metas = row_texts
                for j, i in enumerate(positions.tolist()):
                    if texts or i >= n_before:
                        self.inputs[i] = inputs[j]
                        self.expected[i] = expected[j]
                        self.metadata[i] = metas[j]
                if texts:
                    self.texts_version += 1
        last = self._last_outputs
        if len(last) == n:
            # Share the string object when an output did not change since the previous snapshot: decoding
            # made a new one, and held for every step they were most of the memory (10,000 x 500: ~0.5 GB).
            outputs = [old if old == new else new for old, new in zip(last, outputs, strict=True)]
        self._last_outputs = outputs
        if identity:
            loss, sim, exact = cols.loss, cols.similarity, cols.exact
            hit_limit = cols.hit_limit
        else:
            loss = np.full(n, NAN)
            sim = np.full(n, NAN)
            exact = np.full(n, NAN)
            loss[positions] = cols.loss
            sim[positions] = cols.similarity
            exact[positions] = cols.exact
            hit_limit = None
            if cols.hit_limit is not None:
                hit_limit = np.zeros(n, dtype=bool)
                hit_limit[positions] = cols.hit_limit
        step = cols.step
        replaced = step in self.columns
        self.columns[step] = StepColumn(
            step=step,
            timestamp=cols.timestamp,
            summary=cols.summary,
            loss=loss,
            similarity=sim,
            exact=exact,
            outputs=tuple(outputs),
            source=source,
            epoch=cols.epoch,
            train_loss=cols.train_loss,
            learning_rate=cols.learning_rate,
            eval_seconds=cols.eval_seconds,
            n_present=n_rows,
            hit_limit=hit_limit,
        )
        if not replaced:
            bisect.insort(self.steps, step)
        self.version += 1
        return AddResult(step, replaced, new_examples, is_latest=self.steps[-1] == step)

    def frozen_copy(self) -> RunHistory:
        """A copy that later ``add``/``remove_step`` calls on this history leave alone.

        The run service hands this to the UI thread while it keeps adding to the original. The lists
        and dicts are copied, the step columns shared (a column is never changed once added: a
        rewritten file becomes a new column). O(examples + steps), no per-cell work.
        """
        return RunHistory(
            example_ids=list(self.example_ids),
            inputs=list(self.inputs),
            expected=list(self.expected),
            metadata=list(self.metadata),
            steps=list(self.steps),
            columns=dict(self.columns),
            version=self.version,
            lineage=self.lineage,
            texts_version=self.texts_version,
            _index=dict(self._index),
        )

    def set_texts(self, snapshot: Snapshot) -> None:
        """Input and expected texts of ``snapshot``'s examples (after adds with ``texts=False``)."""
        for row in snapshot.examples:
            i = self._index.get(row.example_id)
            if i is not None:
                self.inputs[i] = row.input
                self.expected[i] = row.expected_output
                self.metadata[i] = row.metadata
        self.version += 1
        self.texts_version += 1

    def remove_step(self, step: int) -> bool:
        if step not in self.columns:
            return False
        del self.columns[step]
        self.steps.remove(step)
        self.version += 1
        return True

    # -- reading ----------------------------------------------------------------------------------
    @property
    def n_examples(self) -> int:
        return len(self.example_ids)

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    @property
    def latest_step(self) -> int | None:
        return self.steps[-1] if self.steps else None

    def column(self, step: int) -> StepColumn:
        return self.columns[step]

    def latest(self) -> StepColumn | None:
        return self.columns[self.steps[-1]] if self.steps else None

    def matrix(self, name: str, cache: bool = True) -> np.ndarray:
        """(n_examples, n_steps) float64 of "loss", "similarity" or "exact", NaN for gaps.

        Cached until the next change unless ``cache=False`` (the run service builds the matrices once
        per change for the dynamics and does not keep them: 80 MB at 10,000 x 500 for two of them).
        """
        if name not in ("loss", "similarity", "exact"):
            raise ValueError(f"unknown matrix {name!r}")
        cached = self._cache.get(name)
        if cached is not None and cached[0] == self.version:
            return cached[1]
        out = np.full((self.n_examples, self.n_steps), NAN)
        for k, step in enumerate(self.steps):
            values: np.ndarray = getattr(self.columns[step], name)
            out[: values.shape[0], k] = values
        out.flags.writeable = False
        if cache:
            self._cache[name] = (self.version, out)
        return out

    def steps_array(self) -> np.ndarray:
        return np.asarray(self.steps, dtype=np.int64)

    def series(self, index: int, name: str) -> np.ndarray:
        """One example's values by step (NaN gaps). O(n_steps), no full matrix built."""
        return np.fromiter(
            (self.columns[s].value(name, index) for s in self.steps), dtype=np.float64, count=self.n_steps
        )

    def prediction_history(self, index: int) -> list[HistoryPoint]:
        """The example's output at each step where it was evaluated, oldest first."""
        points: list[HistoryPoint] = []
        for step in self.steps:
            col = self.columns[step]
            output = col.output(index)
            if output is None:
                continue
            points.append(
                HistoryPoint(
                    step=step,
                    output=output,
                    exact=col.value("exact", index) == 1.0,
                    similarity=col.value("similarity", index),
                    loss=col.value("loss", index),
                )
            )
        return points

    def summary_series(self) -> dict[str, np.ndarray]:
        """Per-step run metrics from the stored summaries: step, accuracy, avg_loss, avg_similarity."""
        summaries = [self.columns[s].summary for s in self.steps]
        return {
            "step": self.steps_array(),
            "accuracy": np.array([s.accuracy for s in summaries], dtype=np.float64),
            "avg_loss": np.array([_as_float(s.avg_loss) for s in summaries], dtype=np.float64),
            "avg_similarity": np.array([_avg_similarity(self.columns[s]) for s in self.steps], dtype=np.float64),
        }
