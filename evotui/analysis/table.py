"""The example table's rows: a plain function of (history, dynamics, query). No textual here.

``table_rows`` filters and sorts with numpy over all examples and returns only an ordering (global
example indices) plus the per-example columns at the chosen step; the widget turns just the visible
rows into text. Lower-cased search text is built once per change of the texts (and once per step for
the outputs) and cached, so a filter keystroke on 10,000 examples is a pass of ``in`` over cached strings,
and so is a new snapshot while a filter is set.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from evotui.analysis.dynamics import REGIONS, STATUSES, Region, Status
from evotui.analysis.history import RunHistory

# Quick filters: "all", "wrong" (now), and one per status and per data-map region.
QuickFilter = Literal["all", "wrong", Status, Region]
QUICK_FILTER_NAMES: tuple[QuickFilter, ...] = get_args(QuickFilter)
QUICK_FILTERS: tuple[tuple[QuickFilter, str], ...] = (
    ("all", "all"),
    ("wrong", "wrong now"),
    ("forgotten", "forgotten"),
    ("never", "never right"),
    # One per status and per data-map region (``f`` cycles through all; the bar shows the first four
    # and the current one).
    ("known", "known"),
    ("learned", "learned"),
    ("unstable", "unstable"),
    ("easy", "easy"),
    ("ambiguous", "ambiguous"),
    ("hard", "hard"),
)
MAIN_QUICK_FILTERS = 4
STATUS_FILTERS: tuple[Status, ...] = STATUSES
REGION_FILTERS: tuple[Region, ...] = REGIONS
STATUS_ORDER: dict[str, int] = {**{status: i for i, status in enumerate(STATUSES)}, "": len(STATUSES)}


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int  # cells; 0 = shares the remaining room with the other text columns
    numeric: bool = False


# The sorted column widens to hold its title and arrow ("learned▲"): see ExampleTable._layout_columns.
COLUMNS: tuple[Column, ...] = (
    Column("id", "id", 9),
    Column("status", "status", 9),
    Column("learned", "learned", 7, numeric=True),
    Column("forgets", "forgets", 7, numeric=True),
    Column("loss", "loss", 5, numeric=True),
    Column("sim", "sim", 4, numeric=True),
    Column("exact", "✓", 1),
    Column("input", "input", 0),
    Column("expected", "expected", 0),
    Column("output", "output", 0),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)


@dataclass
class TableQuery:
    text: str = ""
    quick: QuickFilter = "all"
    sort: str = "id"
    reverse: bool = False
    step: int | None = None  # None: the latest snapshot
    only: tuple[int, ...] | None = None  # just these examples (an insight's evidence); None: no such filter
    only_label: str = ""  # what ``only`` is, for the filter bar


@dataclass
class ExampleColumns:
    """Per-example values at one step, aligned to ``history.example_ids``."""

    step: int | None
    loss: np.ndarray
    similarity: np.ndarray
    exact: np.ndarray
    outputs: Sequence[str | None]
    status: np.ndarray  # str, "" without dynamics
    learned_step: np.ndarray  # int64, -1 none
    learned_after: np.ndarray  # int64, -1 none
    forget_count: np.ndarray  # int64, -1 unknown
    region: np.ndarray | None = None  # str: easy | ambiguous | hard | "" (None without dynamics)


@dataclass
class OrderedRows:
    """Rows in display order, as the example table reads them (this run's, or a comparison's)."""

    order: np.ndarray  # int64 row indices, in display order
    total: int

    def __len__(self) -> int:
        return int(self.order.shape[0])

    def position_of(self, index: int | None) -> int | None:
        if index is None:
            return None
        hits = np.flatnonzero(self.order == index)
        return int(hits[0]) if hits.size else None


@dataclass
class TableRows(OrderedRows):
    """``order``: global example indices."""

    columns: ExampleColumns
    query: TableQuery = field(default_factory=TableQuery)


def _padded(arr: np.ndarray, n: int, fill: float) -> np.ndarray:
    if arr.shape[0] >= n:
        return arr[:n]
    out = np.full(n, fill, dtype=arr.dtype if arr.dtype != np.int64 else np.int64)
    out[: arr.shape[0]] = arr
    return out


def example_columns(history: RunHistory, dynamics: Any | None, step: int | None) -> ExampleColumns:
    n = history.n_examples
    if step is None or step not in history.columns:
        step = history.latest_step
    if step is None:
        empty = np.full(n, np.nan)
        return ExampleColumns(
            None, empty, empty, empty, [None] * n, np.full(n, "", dtype=object), *(np.full(n, -1),) * 3
        )
    col = history.columns[step]
    # The column's own list when it covers every example (no copy: it is never changed, and the search
    # text cache knows it by identity).
    outputs = col.outputs if len(col.outputs) == n else col.outputs + (None,) * (n - len(col.outputs))
    if dynamics is not None and len(dynamics.status) == n:
        status = np.asarray(dynamics.status)  # str; no object copy (10,000 of them on every update)
        learned_step = np.asarray(dynamics.learned_step, dtype=np.int64)
        learned_after = np.asarray(dynamics.learned_after, dtype=np.int64)
        forgets = np.asarray(dynamics.forget_count, dtype=np.int64)
    else:
        status = np.full(n, "", dtype=object)
        learned_step = learned_after = forgets = np.full(n, -1, dtype=np.int64)
    region = None
    if dynamics is not None and len(getattr(dynamics, "region", ())) == n:
        region = np.asarray(dynamics.region)
    return ExampleColumns(
        step=step,
        loss=_padded(col.loss, n, np.nan),
        similarity=_padded(col.similarity, n, np.nan),
        exact=_padded(col.exact, n, np.nan),
        outputs=outputs,
        status=status,
        learned_step=learned_step,
        learned_after=learned_after,
        forget_count=forgets,
        region=region,
    )


# Lower-cased search text, in two parts cached apart: "id\0input\0expected" per example (changes only with
# the texts: keyed by the run's lineage and texts_version, so it survives the frozen copy of every new
# view), and the outputs of one step (keyed by that step's outputs list, never changed once made).
# A handful of entries: a few runs open at once, a few steps visited.
_text_cache: dict[tuple[int, int, int], list[str]] = {}
_output_cache: dict[int, tuple[Sequence[str | None], list[str]]] = {}
_CACHED = 4


_cache_lock = threading.Lock()  # the run service warms these caches from its thread


def _remember(cache: dict, key: object, value: object) -> None:  # type: ignore[type-arg]
    with _cache_lock:
        cache[key] = value
        while len(cache) > _CACHED:
            del cache[next(iter(cache))]


def search_texts(history: RunHistory, columns: ExampleColumns) -> tuple[list[str], list[str]]:
    """(lower-cased "id\0input\0expected" per example, lower-cased output at the columns' step)."""
    return _texts(history), _outputs(columns.outputs)


def _texts(history: RunHistory) -> list[str]:
    key = (history.lineage, history.texts_version, history.n_examples)
    texts = _text_cache.get(key)
    if texts is None:
        texts = [
            f"{eid}\0{inp}\0{exp}".lower()
            for eid, inp, exp in zip(history.example_ids, history.inputs, history.expected, strict=False)
        ]
        _remember(_text_cache, key, texts)
    return texts


def _outputs(outputs: Sequence[str | None]) -> list[str]:
    cached = _output_cache.get(id(outputs))
    if cached is not None and cached[0] is outputs:
        return cached[1]
    lowered = [(out or "").lower() for out in outputs]
    _remember(_output_cache, id(outputs), (outputs, lowered))
    return lowered


# Text matches, cached like the texts: a filter set while snapshots arrive rescans only the new outputs.
_text_match_cache: dict[tuple[str, tuple[int, int, int]], np.ndarray] = {}
_output_match_cache: dict[tuple[str, int], tuple[Sequence[str | None], np.ndarray]] = {}


def text_mask(history: RunHistory, columns: ExampleColumns, needle: str) -> np.ndarray:
    """Examples whose id, input, expected text or output (at the columns' step) contains ``needle``
    (lower-cased)."""
    n = history.n_examples
    key = (needle, (history.lineage, history.texts_version, n))
    in_texts = _text_match_cache.get(key)
    if in_texts is None:
        in_texts = np.fromiter((needle in t for t in _texts(history)), dtype=bool, count=n)
        _remember(_text_match_cache, key, in_texts)
    cached = _output_match_cache.get((needle, id(columns.outputs)))
    if cached is not None and cached[0] is columns.outputs:
        in_outputs = cached[1]
    else:
        in_outputs = np.fromiter((needle in o for o in _outputs(columns.outputs)), dtype=bool, count=n)
        _remember(_output_match_cache, (needle, id(columns.outputs)), (columns.outputs, in_outputs))
    return in_texts | in_outputs


def warm_search(history: RunHistory) -> None:
    """Build the search text of ``history``'s newest step ahead (the run service does, in its thread),
    so a filter set while snapshots arrive costs the UI thread a scan, not lower-casing 10,000 strings."""
    latest = history.latest()
    if latest is not None and len(latest.outputs) == history.n_examples:
        _texts(history)
        _outputs(latest.outputs)


def quick_mask(quick: QuickFilter, columns: ExampleColumns, history: RunHistory) -> np.ndarray | None:
    """Boolean mask of a quick filter, None for "all"."""
    if quick == "all":
        return None
    if quick == "wrong":
        return columns.exact == 0.0
    if quick in REGION_FILTERS:
        if columns.region is None:  # no dynamics yet: no example has a region
            return np.zeros(history.n_examples, dtype=bool)
        return columns.region == quick
    has_status = bool(columns.status.shape[0]) and columns.status[0] != ""
    if has_status and quick in STATUS_FILTERS:
        return columns.status == quick
    if quick in ("known", "learned", "unstable"):
        return np.zeros(history.n_examples, dtype=bool)
    # Without the dynamics analysis: derive from the exact-match matrix (same definitions, cruder).
    exact = history.matrix("exact")
    ever_right = np.nanmax(np.where(np.isnan(exact), 0.0, exact), axis=1) == 1.0 if exact.size else None
    if ever_right is None:
        return np.zeros(history.n_examples, dtype=bool)
    if quick == "forgotten":
        return ever_right & (columns.exact == 0.0)
    if quick == "never":
        return ~ever_right
    raise ValueError(f"unknown quick filter {quick!r}")


_DIGITS = re.compile(r"(\d+)")
_id_rank_cache: dict[int, tuple[int, np.ndarray]] = {}  # lineage -> (examples ranked, ranks)


def natural_key(text: str) -> tuple[str | int, ...]:
    """Sort key that puts "ex_9" before "ex_10": digit runs compare as numbers.

    ``split`` alternates text and digits, so the types at each position always match.
    """
    return tuple(int(part) if i % 2 else part.casefold() for i, part in enumerate(_DIGITS.split(text)))


def id_ranks(history: RunHistory) -> np.ndarray:
    """Each example's rank when the ids are sorted naturally (cached: ids only ever get appended)."""
    ids = history.example_ids
    cached = _id_rank_cache.get(history.lineage)
    if cached is not None and cached[0] == len(ids):
        return cached[1]
    order = sorted(range(len(ids)), key=lambda i: natural_key(ids[i]))
    ranks = np.empty(len(ids), dtype=np.int64)
    ranks[np.asarray(order, dtype=np.int64)] = np.arange(len(ids), dtype=np.int64)
    _remember(_id_rank_cache, history.lineage, (len(ids), ranks))
    return ranks


def sort_keys(key: str, history: RunHistory, columns: ExampleColumns) -> np.ndarray | list[str]:
    """Values to sort on; NaN (and "none") sort last."""
    if key == "id":
        return id_ranks(history)
    if key == "status":
        return np.array([STATUS_ORDER.get(s, 5) for s in columns.status], dtype=np.float64)
    if key == "learned":
        return np.where(columns.learned_step < 0, np.nan, columns.learned_step.astype(np.float64))
    if key == "forgets":
        return np.where(columns.forget_count < 0, np.nan, columns.forget_count.astype(np.float64))
    if key == "loss":
        return columns.loss
    if key == "sim":
        return columns.similarity
    if key == "exact":
        return columns.exact
    if key == "input":
        return history.inputs
    if key == "expected":
        return history.expected
    if key == "output":
        return [o or "" for o in columns.outputs]
    raise ValueError(f"unknown sort column {key!r}")


def _sort(indices: np.ndarray, keys: np.ndarray | list[str], reverse: bool) -> np.ndarray:
    if isinstance(keys, list):
        subset = [keys[i] for i in indices.tolist()]
        order = sorted(range(len(subset)), key=subset.__getitem__, reverse=reverse)
        return indices[np.asarray(order, dtype=np.int64)] if order else indices
    values = keys[indices].astype(np.float64)
    nan = np.isnan(values)
    # Stable sort with NaN always last, whatever the direction; ties keep id order.
    filled = np.where(nan, 0.0, -values if reverse else values)
    order = np.lexsort((indices, filled, nan))
    return indices[order]


def table_rows(history: RunHistory, dynamics: Any | None, query: TableQuery) -> TableRows:
    """Filter and sort every example of ``history`` at ``query.step``: the rows the table shows."""
    columns = example_columns(history, dynamics, query.step)
    n = history.n_examples
    mask = quick_mask(query.quick, columns, history)
    needle = query.text.strip().lower()
    if needle:
        matches = text_mask(history, columns, needle)
        mask = matches if mask is None else mask & matches
    if query.only is not None:
        chosen = np.zeros(n, dtype=bool)
        chosen[[i for i in query.only if i < n]] = True
        mask = chosen if mask is None else mask & chosen
    indices = np.arange(n, dtype=np.int64) if mask is None else np.flatnonzero(mask).astype(np.int64)
    # Always sorted by a column, the one the header's arrow marks: the default is id (natural order,
    # "ex_9" before "ex_10"), not an unmarked file order.
    indices = _sort(indices, sort_keys(query.sort, history, columns), query.reverse)
    return TableRows(order=indices, total=n, columns=columns, query=query)
