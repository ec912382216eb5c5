"""The example table's rows: a plain function of (history, dynamics, query). No textual here.

``table_rows`` filters and sorts with numpy over all examples and returns only an ordering (global
example indices) plus the per-example columns at the chosen step; the widget turns just the visible
rows into text. Lower-cased search text is built once per (history version, step) and cached, so a
filter keystroke on 10,000 examples is a pass of ``in`` over cached strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evotui.analysis.history import RunHistory

QUICK_FILTERS: tuple[tuple[str, str], ...] = (
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
STATUS_FILTERS = ("known", "learned", "unstable", "forgotten", "never")
REGION_FILTERS = ("easy", "ambiguous", "hard")
STATUS_ORDER = {"known": 0, "learned": 1, "unstable": 2, "forgotten": 3, "never": 4, "": 5}


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    width: int  # cells; 0 = shares the remaining room with the other text columns
    numeric: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("id", "id", 9),
    Column("status", "status", 9),
    Column("learned", "learned", 7, numeric=True),
    Column("forgets", "forgot", 6, numeric=True),
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
    quick: str = "all"
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
    outputs: list[str | None]
    status: np.ndarray  # str, "" without dynamics
    learned_step: np.ndarray  # int64, -1 none
    learned_after: np.ndarray  # int64, -1 none
    forget_count: np.ndarray  # int64, -1 unknown
    region: np.ndarray | None = None  # str: easy | ambiguous | hard | "" (None without dynamics)


@dataclass
class TableRows:
    order: np.ndarray  # int64 global example indices, in display order
    total: int
    columns: ExampleColumns
    query: TableQuery = field(default_factory=TableQuery)

    def __len__(self) -> int:
        return int(self.order.shape[0])

    def position_of(self, index: int | None) -> int | None:
        if index is None:
            return None
        hits = np.flatnonzero(self.order == index)
        return int(hits[0]) if hits.size else None


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
    outputs = col.outputs + [None] * (n - len(col.outputs))
    if dynamics is not None and len(dynamics.status) == n:
        status = np.asarray(dynamics.status, dtype=object)
        learned_step = np.asarray(dynamics.learned_step, dtype=np.int64)
        learned_after = np.asarray(dynamics.learned_after, dtype=np.int64)
        forgets = np.asarray(dynamics.forget_count, dtype=np.int64)
    else:
        status = np.full(n, "", dtype=object)
        learned_step = learned_after = forgets = np.full(n, -1, dtype=np.int64)
    region = None
    if dynamics is not None and len(getattr(dynamics, "region", ())) == n:
        region = np.asarray(dynamics.region, dtype=object)
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


# Search text per example, cached by (history object, version, step): built once per snapshot, not per key.
_search_cache: dict[int, tuple[int, int | None, list[str]]] = {}


def search_text(history: RunHistory, columns: ExampleColumns) -> list[str]:
    cached = _search_cache.get(id(history))
    if cached is not None and cached[0] == history.version and cached[1] == columns.step:
        return cached[2]
    texts = [
        f"{eid}\0{inp}\0{exp}\0{out or ''}".lower()
        for eid, inp, exp, out in zip(
            history.example_ids, history.inputs, history.expected, columns.outputs, strict=False
        )
    ]
    _search_cache.clear()  # one run at a time: do not keep old runs' strings alive
    _search_cache[id(history)] = (history.version, columns.step, texts)
    return texts


def quick_mask(quick: str, columns: ExampleColumns, history: RunHistory) -> np.ndarray | None:
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
_id_rank_cache: dict[int, tuple[int, np.ndarray]] = {}


def natural_key(text: str) -> tuple[str | int, ...]:
    """Sort key that puts "ex_9" before "ex_10": digit runs compare as numbers.

    ``split`` alternates text and digits, so the types at each position always match.
    """
    return tuple(int(part) if i % 2 else part.casefold() for i, part in enumerate(_DIGITS.split(text)))


def id_ranks(history: RunHistory) -> np.ndarray:
    """Each example's rank when the ids are sorted naturally (cached: ids only ever get appended)."""
    ids = history.example_ids
    cached = _id_rank_cache.get(id(history))
    if cached is not None and cached[0] == len(ids):
        return cached[1]
    order = sorted(range(len(ids)), key=lambda i: natural_key(ids[i]))
    ranks = np.empty(len(ids), dtype=np.int64)
    ranks[np.asarray(order, dtype=np.int64)] = np.arange(len(ids), dtype=np.int64)
    _id_rank_cache.clear()  # one run at a time
    _id_rank_cache[id(history)] = (len(ids), ranks)
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
        texts = search_text(history, columns)
        text_mask = np.fromiter((needle in t for t in texts), dtype=bool, count=n)
        mask = text_mask if mask is None else mask & text_mask
    if query.only is not None:
        chosen = np.zeros(n, dtype=bool)
        chosen[[i for i in query.only if i < n]] = True
        mask = chosen if mask is None else mask & chosen
    indices = np.arange(n, dtype=np.int64) if mask is None else np.flatnonzero(mask).astype(np.int64)
    # The default (sort "id", not reversed) is file order: the order the examples first appeared in,
    # which is usually the dataset's. Reversed, "id" really sorts by id (natural order, descending),
    # as the header's "id▼" says.
    if query.sort != "id" or query.reverse:
        indices = _sort(indices, sort_keys(query.sort, history, columns), query.reverse)
    return TableRows(order=indices, total=n, columns=columns, query=query)
