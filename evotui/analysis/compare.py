"""Comparing runs example by example: which examples did run B learn that run A never did, which did B
learn sooner, where do their answers differ now. numpy and the tracker's format only: no textual, no rich.

    from evotui.analysis.compare import CompareRun, compare_runs
    cmp = compare_runs([CompareRun("lr 3e-3", history_a), CompareRun("lr 1e-2", history_b)])
    cmp.n_matched, cmp.quick_counts(), cmp.rows(quick="b_faster")

Everything per example comes from ``evotui.analysis.dynamics`` (statuses, learned steps): nothing here
re-defines them.

Matching. Run A (the first run) is the reference. An example of A is matched in another run by its
``example_id``; the examples left over on both sides are then matched by identical input text, where
that text is unique among the left-over examples of each side (a repeated input is never guessed at).
With more than two runs an example is *matched* when it is found in every run; each run's *own*
examples are the rest of its examples (with two runs: exactly the examples the other run lacks).
``input_differs`` counts the id matches whose input texts differ: the ids may mean different things in
the two datasets, and the header says so.

A and B. Filters and the learned-step difference compare A with B, the run chosen as the other side
(``b``: by default the second run; with more than two runs the table still shows every run, and the
app's key cycles B through runs 2..N).

* learned by A only / by B only / by both / by neither: whether each run has a ``learned_step`` (right at
  its latest snapshot and right ever since that step; statuses known, learned and unstable);
* B faster / B slower: both learned, B's learned step earlier / later than A's (in x units, below);
* answers differ now: both runs evaluated the example, and their latest outputs differ;
* forgotten in one only: status ``forgotten`` in exactly one of A and B.

x units. Runs are compared by training step, or by fraction of each run's ``max_steps`` when every run
says its ``max_steps`` (run.json) and they differ (a 1,000-step run against a 3,000-step run). A run
without ``max_steps`` keeps the comparison by step: a live run's latest step is no length.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from evotui.analysis.dynamics import NONE, STATUSES, RunDynamics, compute_dynamics
from evotui.analysis.history import RunHistory
from evotui.analysis.table import STATUS_ORDER, natural_key
from tracker.schema import Snapshot
from tracker.store import list_snapshot_files, read_snapshot

X_STEP = "step"
X_FRACTION = "fraction"
MATCH_ID = "id"
MATCH_INPUT = "input"
# The compare table's quick filters: one Literal, every other list derived from it (see the module docstring).
CompareFilter = Literal[
    "all", "a_only", "b_only", "both", "neither", "b_faster", "b_slower", "differ", "forgotten_one"
]
QUICK_KEYS: tuple[CompareFilter, ...] = get_args(CompareFilter)
FILTER_LABELS: dict[CompareFilter, str] = {
    "all": "all",
    "a_only": "learned by A only",
    "b_only": "learned by B only",
    "both": "learned by both",
    "neither": "learned by neither",
    "b_faster": "B faster",
    "b_slower": "B slower",
    "differ": "answers differ now",
    "forgotten_one": "forgotten in one only",
}
QUICK_FILTERS: tuple[tuple[CompareFilter, str], ...] = tuple((key, FILTER_LABELS[key]) for key in QUICK_KEYS)
SORT_KEYS = ("id", "delta", "learned_a", "learned_b", "status_a", "status_b")
QUARTILES = (25, 50, 75)
# Metadata values become tags ("key=value") when they are short scalars and a key has few distinct
# values: a key with a value per example (an id, a source URL) says nothing about groups.
MAX_TAG_VALUES = 12
MAX_TAG_CHARS = 40


@dataclass(frozen=True)
class CompareRun:
    """One run as the comparison takes it. ``dynamics`` is computed when None; ``metadata`` maps an
    example id to its metadata (from the run's newest snapshot: ``read_latest_metadata``), None when unknown."""

    name: str
    history: RunHistory
    dynamics: RunDynamics | None = None
    max_steps: int | None = None
    path: str | None = None
    metadata: dict[str, dict[str, Any]] | None = None


@dataclass(frozen=True)
class RunSide:
    """One run's share of the comparison: its curves and its whole-run figures (any dataset)."""

    name: str
    path: str | None
    n_examples: int
    own: int  # examples not matched in every run
    max_steps: int | None
    steps: np.ndarray  # (K,) int64
    x: np.ndarray  # (K,) float64: steps, or fractions of max_steps (see Comparison.x_axis)
    accuracy: np.ndarray  # (K,) over the examples present (the dynamics' accuracy)
    avg_loss: np.ndarray  # (K,) mean loss over the examples present, NaN without any
    avg_similarity: np.ndarray  # (K,)
    counts_by_status: dict[str, int]
    learned_quartiles: dict[int, float]  # 25/50/75 -> learned step (x units), over the examples learned
    tag_accuracy: dict[str, tuple[int, int]]  # tag -> (right now, evaluated now)

    @property
    def latest_step(self) -> int | None:
        return int(self.steps[-1]) if self.steps.size else None

    @property
    def latest_accuracy(self) -> float:
        return float(self.accuracy[-1]) if self.accuracy.size else math.nan


@dataclass(frozen=True)
class Comparison:
    """The runs side by side. Per-example arrays have a row per matched example (in A's order) and a
    column per run; ``index`` gives each matched example's index in each run's history."""

    runs: tuple[RunSide, ...]
    x_axis: str  # X_STEP | X_FRACTION
    index: np.ndarray  # (M, R) int64: the example's index in run r's history
    matched_by: np.ndarray  # (M,) str: MATCH_ID, or MATCH_INPUT when some run matched it by input text
    example_ids: list[str]  # (M,) A's ids
    inputs: list[str]  # (M,) A's input texts
    expected: list[str]  # (M,) A's expected outputs
    status: np.ndarray  # (M, R) str, one of STATUSES
    learned_step: np.ndarray  # (M, R) int64, NONE (-1) when not learned
    learned_x: np.ndarray  # (M, R) float64: learned step in x units, NaN when not learned
    forget_count: np.ndarray  # (M, R) int64
    exact_now: np.ndarray  # (M, R) float64: at each run's latest snapshot; NaN when absent there
    outputs: tuple[list[str | None], ...]  # per run: the latest output of each matched example (None: absent)
    run_example_ids: tuple[list[str], ...]  # per run: the matched example's id in that run
    by_id: int
    by_input: int
    input_differs: int  # id matches whose input texts differ between A and some run
    _search: list[str] | None = field(default=None, repr=False, compare=False)
    _counts: dict[int, dict[str, int]] = field(default_factory=dict, repr=False, compare=False)
    _differ: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_runs(self) -> int:
        return len(self.runs)

    @property
    def n_matched(self) -> int:
        return int(self.index.shape[0])

    def _b(self, b: int) -> int:
        if not 1 <= b < self.n_runs:
            raise ValueError(f"run B must be one of runs 1..{self.n_runs - 1}, not {b}")
        return b

    def learned_difference(self, b: int = 1) -> np.ndarray:
        """(M,) B's learned step minus A's, in x units; NaN unless both learned. Negative: B faster."""
        b = self._b(b)
        return self.learned_x[:, b] - self.learned_x[:, 0]

    def quick_mask(self, key: CompareFilter, b: int = 1) -> np.ndarray:
        """(M,) bool: the matched examples a quick filter keeps (see the module's docstring)."""
        b = self._b(b)
        learned_a = self.learned_step[:, 0] != NONE
        learned_b = self.learned_step[:, b] != NONE
        if key == "all":
            return np.ones(self.n_matched, dtype=bool)
        if key == "a_only":
            return learned_a & ~learned_b
        if key == "b_only":
            return learned_b & ~learned_a
        if key == "both":
            return learned_a & learned_b
        if key == "neither":
            return ~learned_a & ~learned_b
        if key in ("b_faster", "b_slower"):
            with np.errstate(invalid="ignore"):
                delta = self.learned_difference(b)
                return delta < 0 if key == "b_faster" else delta > 0  # NaN compares False
        if key == "differ":
            differ = self._differ.get(b)
            if differ is None:  # a pass over the strings: once per B
                out_a, out_b = self.outputs[0], self.outputs[b]
                differ = np.fromiter(
                    (x is not None and y is not None and x != y for x, y in zip(out_a, out_b, strict=True)),
                    dtype=bool,
                    count=self.n_matched,
                )
                self._differ[b] = differ
            return differ.copy()
        if key == "forgotten_one":
            return (self.status[:, 0] == "forgotten") != (self.status[:, b] == "forgotten")
        raise ValueError(f"unknown quick filter {key!r}")

    def quick_counts(self, b: int = 1) -> dict[str, int]:
        """How many matched examples each quick filter keeps (computed once per B: the filter line
        shows them at every keystroke)."""
        cached = self._counts.get(b)
        if cached is None:
            cached = {key: int(np.count_nonzero(self.quick_mask(key, b))) for key in QUICK_KEYS}
            self._counts[b] = cached
        return dict(cached)

    def search_text(self) -> list[str]:
        """Lower-cased id, input, expected and every run's output per matched example (built once)."""
        if self._search is None:
            texts = [
                "\0".join([eid, inp, exp, *(out[m] or "" for out in self.outputs)]).lower()
                for m, (eid, inp, exp) in enumerate(zip(self.example_ids, self.inputs, self.expected, strict=True))
            ]
            object.__setattr__(self, "_search", texts)
        assert self._search is not None
        return self._search

    def rows(
        self, quick: CompareFilter = "all", text: str = "", sort: str = "id", reverse: bool = False, b: int = 1
    ) -> np.ndarray:
        """Matched-example positions (0..M-1) a table shows: filtered, then sorted; NaN / none sort last.

        ``sort``: "id" (A's order; reversed: ids descending, naturally), "delta" (learned-step
        difference B - A), "learned_a" / "learned_b", "status_a" / "status_b".
        """
        mask = self.quick_mask(quick, b)
        needle = text.strip().lower()
        if needle:
            mask &= np.fromiter((needle in t for t in self.search_text()), dtype=bool, count=self.n_matched)
        rows = np.flatnonzero(mask).astype(np.int64)
        if sort == "id" and not reverse:
            return rows
        if sort == "id":
            order = sorted(rows.tolist(), key=lambda m: natural_key(self.example_ids[m]), reverse=True)
            return np.asarray(order, dtype=np.int64)
        if sort == "delta":
            keys = self.learned_difference(b)
        elif sort in ("learned_a", "learned_b"):
            keys = self.learned_x[:, 0 if sort == "learned_a" else b]
        elif sort in ("status_a", "status_b"):
            column = self.status[:, 0 if sort == "status_a" else b]
            keys = np.array([STATUS_ORDER.get(str(s), 5) for s in column], dtype=np.float64)
        else:
            raise ValueError(f"unknown sort {sort!r}")
        values = keys[rows]
        nan = np.isnan(values)
        filled = np.where(nan, 0.0, -values if reverse else values)
        return rows[np.lexsort((rows, filled, nan))]

    def example_row(self, m: int, delta: float = math.nan) -> dict[str, Any]:
        """One matched example as plain data (for ``--json``): A's id, how it was matched, ``delta`` (B's
        learned step minus A's: ``learned_difference(b)[m]``), and per run its id there (it differs when
        matched by input text), status, learned step and latest output."""
        return {
            "example_id": self.example_ids[m],
            "matched_by": str(self.matched_by[m]),
            "learned_step_difference": None if math.isnan(delta) else _plain_number(delta),
            "runs": [
                {
                    "example_id": self.run_example_ids[r][m],
                    "status": str(self.status[m, r]),
                    "learned_step": None if self.learned_step[m, r] == NONE else int(self.learned_step[m, r]),
                    "model_output": self.outputs[r][m],
                    "exact_now": None if math.isnan(self.exact_now[m, r]) else bool(self.exact_now[m, r] == 1.0),
                    "forget_count": int(self.forget_count[m, r]),
                }
                for r in range(self.n_runs)
            ],
        }


def _plain_number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


# -- matching -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Matching:
    index: np.ndarray  # (M, R) int64
    matched_by: np.ndarray  # (M,) str
    by_id: int
    by_input: int
    own: tuple[int, ...]
    input_differs: int


def _unique_texts(indices: list[int], texts: list[str]) -> dict[str, int]:
    """text -> index for the texts that occur once among ``indices``."""
    seen: dict[str, int] = {}
    repeated: set[str] = set()
    for i in indices:
        t = texts[i]
        if t in seen:
            repeated.add(t)
        else:
            seen[t] = i
    for t in repeated:
        del seen[t]
    return seen


def match_examples(histories: Sequence[RunHistory]) -> Matching:
    """Match every run's examples to the reference run's (the first): by id, then by unique input text."""
    if len(histories) < 2:
        raise ValueError("a comparison needs at least two runs")
    ref = histories[0]
    n_ref = ref.n_examples
    columns = [np.arange(n_ref, dtype=np.int64)]
    by_input_any = np.zeros(n_ref, dtype=bool)
    differs_any = np.zeros(n_ref, dtype=bool)
    for other in histories[1:]:
        found = np.full(n_ref, -1, dtype=np.int64)
        used = np.zeros(other.n_examples, dtype=bool)
        for i, example_id in enumerate(ref.example_ids):
            j = other.index_of(example_id)
            if j is not None:
                found[i] = j
                used[j] = True
                if ref.inputs[i] != other.inputs[j]:
                    differs_any[i] = True
        left_ref = np.flatnonzero(found < 0).tolist()
        if left_ref and not used.all():
            ours = _unique_texts(left_ref, ref.inputs)
            theirs = _unique_texts(np.flatnonzero(~used).tolist(), other.inputs)
            for text, i in ours.items():
                j = theirs.get(text)
                if j is not None:
                    found[i] = j
                    by_input_any[i] = True
        columns.append(found)
    index = np.stack(columns, axis=1)
    matched = (index >= 0).all(axis=1)
    index = index[matched]
    by_input = by_input_any[matched]
    matched_by = np.where(by_input, MATCH_INPUT, MATCH_ID)
    m = int(index.shape[0])
    return Matching(
        index=index,
        matched_by=matched_by,
        by_id=m - int(by_input.sum()),
        by_input=int(by_input.sum()),
        own=tuple(h.n_examples - m for h in histories),
        input_differs=int(differs_any[matched].sum()),
    )


# -- per run --------------------------------------------------------------------------------------
def x_axis_for(max_steps: Sequence[int | None]) -> str:
    """By fraction of max_steps when every run states one and they differ; otherwise by step."""
    known = [m for m in max_steps if m]
    if len(known) == len(max_steps) and len(set(known)) > 1:
        return X_FRACTION
    return X_STEP


def _to_x(steps: np.ndarray, max_steps: int | None, x_axis: str) -> np.ndarray:
    values = steps.astype(np.float64)
    if x_axis == X_FRACTION and max_steps:
        return values / float(max_steps)
    return values


def _column_means(history: RunHistory, name: str) -> np.ndarray:
    """Per snapshot, the mean of ``name`` over the examples present (NaN when none): from the rows, so a
    writer's wrong summary cannot skew the comparison."""
    out = np.full(history.n_steps, math.nan)
    for k, step in enumerate(history.steps):
        values: np.ndarray = getattr(history.columns[step], name)
        finite = values[~np.isnan(values)]
        if finite.size:
            out[k] = float(finite.mean())
    return out


def _tags_of(value: Any) -> str | None:
    if isinstance(value, bool | int | float | str) and len(str(value)) <= MAX_TAG_CHARS:
        return str(value)
    return None


def tag_accuracy(history: RunHistory, metadata: Sequence[dict[str, Any]] | None) -> dict[str, tuple[int, int]]:
    """"key=value" -> (right, evaluated) at the latest snapshot, for metadata keys with at most
    ``MAX_TAG_VALUES`` distinct short scalar values. ``metadata`` is aligned to the history's examples;
    empty without it."""
    latest = history.latest()
    if not metadata or latest is None:
        return {}
    values_by_key: dict[str, set[str]] = {}
    per_example: list[tuple[int, list[tuple[str, str]]]] = []
    for i, meta in enumerate(metadata):
        if not meta or not isinstance(meta, dict):
            continue
        pairs = []
        for key, value in meta.items():
            tag = _tags_of(value)
            if tag is not None:
                pairs.append((str(key), tag))
                values_by_key.setdefault(str(key), set()).add(tag)
        per_example.append((i, pairs))
    keep = {k for k, vals in values_by_key.items() if len(vals) <= MAX_TAG_VALUES}
    counts: dict[str, list[int]] = {}
    exact = latest.exact
    for i, pairs in per_example:
        value = float(exact[i]) if i < exact.shape[0] else math.nan
        if math.isnan(value):
            continue
        for key, tag in pairs:
            if key in keep:
                right_total = counts.setdefault(f"{key}={tag}", [0, 0])
                right_total[0] += value == 1.0
                right_total[1] += 1
    return {tag: (c[0], c[1]) for tag, c in sorted(counts.items())}


def _metadata_of(run: CompareRun) -> Sequence[dict[str, Any]] | None:
    """The run's metadata aligned to its examples: given, or held by the history (when it keeps it)."""
    history = run.history
    if run.metadata is not None:
        return [run.metadata.get(example_id, {}) for example_id in history.example_ids]
    held = getattr(history, "metadata", None)
    if isinstance(held, list) and len(held) == history.n_examples and any(held):
        return held
    return None


def read_latest_metadata(directory: str | os.PathLike[str]) -> dict[str, dict[str, Any]] | None:
    """example id -> metadata, from the newest readable snapshot of ``directory``; None when no example
    has any metadata (or nothing can be read)."""
    try:
        files = list_snapshot_files(Path(directory))
    except OSError:
        return None
    for f in reversed(files):
        snapshot = read_snapshot(f.path)
        if isinstance(snapshot, Snapshot):
            found = {row.example_id: dict(row.metadata) for row in snapshot.examples if row.metadata}
            return found or None
    return None


def run_names(paths: Sequence[str | os.PathLike[str]], names: Sequence[str | None]) -> list[str]:
    """A name per run: its run.json name; where names repeat (runs of one dataset), the directory's name;
    where those repeat too, "parent/directory"; then a number."""
    candidates = []
    for path, name in zip(paths, names, strict=True):
        absolute = Path(os.path.abspath(path))
        directory = absolute.name or str(path)
        parent = f"{absolute.parent.name}/{directory}" if absolute.parent.name else directory
        candidates.append([name or directory, directory, parent])
    chosen = [c[0] for c in candidates]
    for level in (1, 2):
        repeated = {name for name in chosen if chosen.count(name) > 1}
        chosen = [candidates[i][level] if name in repeated else name for i, name in enumerate(chosen)]
    repeated = {name for name in chosen if chosen.count(name) > 1}
    seen: dict[str, int] = {}
    for i, name in enumerate(chosen):
        if name in repeated:
            seen[name] = seen.get(name, 0) + 1
            chosen[i] = f"{name} #{seen[name]}"
    return chosen


# -- the comparison -------------------------------------------------------------------------------
def compare_runs(runs: Sequence[CompareRun]) -> Comparison:
    """Compare two or more runs; the first is A, the reference."""
    if len(runs) < 2:
        raise ValueError("a comparison needs at least two runs")
    dynamics = [run.dynamics if run.dynamics is not None else compute_dynamics(run.history) for run in runs]
    for run, dyn in zip(runs, dynamics, strict=True):
        if dyn.n_examples != run.history.n_examples:
            raise ValueError(f"{run.name}: dynamics of {dyn.n_examples} examples, history of {run.history.n_examples}")
    matching = match_examples([run.history for run in runs])
    x_axis = x_axis_for([run.max_steps for run in runs])
    index = matching.index
    sides: list[RunSide] = []
    status_cols, learned_cols, learned_x_cols, forget_cols, exact_cols = [], [], [], [], []
    outputs: list[list[str | None]] = []
    for r, (run, dyn) in enumerate(zip(runs, dynamics, strict=True)):
        history = run.history
        rows = index[:, r]
        learned = dyn.learned_step[rows]
        learned_x = np.where(learned == NONE, math.nan, _to_x(learned, run.max_steps, x_axis))
        status_cols.append(dyn.status[rows])
        learned_cols.append(learned)
        learned_x_cols.append(learned_x)
        forget_cols.append(dyn.forget_count[rows])
        latest = history.latest()
        if latest is None:
            exact_cols.append(np.full(rows.shape[0], math.nan))
            outputs.append([None] * rows.shape[0])
        else:
            exact = np.full(history.n_examples, math.nan)
            exact[: latest.exact.shape[0]] = latest.exact
            exact_cols.append(exact[rows])
            outputs.append([latest.output(int(i)) for i in rows])
        learned_all = dyn.learned_step[dyn.learned_step != NONE]
        quartiles: dict[int, float] = {}
        if learned_all.size:
            learned_all_x = _to_x(learned_all, run.max_steps, x_axis)
            quartiles = {q: float(np.percentile(learned_all_x, q)) for q in QUARTILES}
        steps = history.steps_array()
        sides.append(
            RunSide(
                name=run.name,
                path=run.path,
                n_examples=history.n_examples,
                own=matching.own[r],
                max_steps=run.max_steps,
                steps=steps,
                x=_to_x(steps, run.max_steps, x_axis),
                accuracy=np.asarray(dyn.accuracy, dtype=np.float64),
                avg_loss=_column_means(history, "loss"),
                avg_similarity=_column_means(history, "similarity"),
                counts_by_status=dyn.counts_by_status(),
                learned_quartiles=quartiles,
                tag_accuracy=tag_accuracy(history, _metadata_of(run)),
            )
        )
    ref = runs[0].history
    ref_rows = index[:, 0].tolist()
    m = index.shape[0]

    def stacked(cols: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.stack(cols, axis=1).astype(dtype) if m else np.empty((0, len(runs)), dtype=dtype)

    return Comparison(
        runs=tuple(sides),
        x_axis=x_axis,
        index=index,
        matched_by=matching.matched_by,
        example_ids=[ref.example_ids[i] for i in ref_rows],
        inputs=[ref.inputs[i] for i in ref_rows],
        expected=[ref.expected[i] for i in ref_rows],
        status=stacked(status_cols, object),
        learned_step=stacked(learned_cols, np.int64),
        learned_x=stacked(learned_x_cols, np.float64),
        forget_count=stacked(forget_cols, np.int64),
        exact_now=stacked(exact_cols, np.float64),
        outputs=tuple(outputs),
        run_example_ids=tuple([run.history.example_ids[i] for i in index[:, r].tolist()] for r, run in enumerate(runs)),
        by_id=matching.by_id,
        by_input=matching.by_input,
        input_differs=matching.input_differs,
    )


def comparison_data(cmp: Comparison, b: int = 1) -> dict[str, Any]:
    """The comparison as JSON-ready data (``evotui compare --json``), A against run ``b``."""

    def num(value: float) -> float | None:
        return None if math.isnan(value) else float(value)

    runs = []
    for side in cmp.runs:
        runs.append(
            {
                "name": side.name,
                "path": side.path,
                "examples": side.n_examples,
                "own_examples": side.own,
                "max_steps": side.max_steps,
                "latest_step": side.latest_step,
                "steps": [int(s) for s in side.steps],
                "accuracy_by_step": [
                    {"step": int(s), "accuracy": num(a)} for s, a in zip(side.steps, side.accuracy, strict=True)
                ],
                "counts_by_status": {name: side.counts_by_status.get(name, 0) for name in STATUSES},
                "learned_step_quartiles": {str(q): v for q, v in side.learned_quartiles.items()},
                "accuracy_by_tag": {
                    tag: {"right": right, "evaluated": total, "accuracy": right / total if total else None}
                    for tag, (right, total) in side.tag_accuracy.items()
                },
            }
        )
    delta = cmp.learned_difference(b)
    examples = [cmp.example_row(m, float(delta[m])) for m in range(cmp.n_matched)]
    return {
        "x_axis": cmp.x_axis,
        "reference": 0,
        "b": b,
        "runs": runs,
        "matching": {
            "matched": cmp.n_matched,
            "by_id": cmp.by_id,
            "by_input_text": cmp.by_input,
            "own": [side.own for side in cmp.runs],
            "id_matches_with_different_input": cmp.input_differs,
        },
        "quick_filters": cmp.quick_counts(b),
        "examples": examples,
    }


# -- labels shared by `evotui compare` and the compare screen ---------------------------------------


def run_letter(r: int) -> str:
    """A, B, C, ... for the runs in the order given (A is the reference)."""
    return chr(ord("A") + r) if r < 26 else f"#{r + 1}"


def learned_label(value: float, x_axis: str) -> str:
    """A learned step in x units: a step, or a fraction of max_steps; "—" when never learned."""
    if math.isnan(value):
        return "—"
    return f"{value:.0%}" if x_axis == X_FRACTION else f"{value:,.0f}"


def delta_label(value: float, x_axis: str) -> str:
    """B - A in x units, signed (negative: B learned sooner); "—" unless both learned."""
    if math.isnan(value):
        return "—"
    return f"{value * 100:+.0f}%" if x_axis == X_FRACTION else f"{value:+,.0f}"
