"""Insights: what a run's history says about its learning, as typed records. numpy only, no textual.

Each ``Insight`` has a ``kind``, a ``severity``, the ``step`` it is about, a one-line ``message`` and the
``example_ids`` that are its evidence (what the viewer filters its table to). The kinds, each defined
with its threshold and its reason in the docstring of the function that finds it:

==================  ===================================================================  ==========
kind                finds                                                                severity
==================  ===================================================================  ==========
``regression``      a snapshot where accuracy fell beyond the noise, or where examples   warning,
                    that had been learned were forgotten together (``_regressions``)     critical
``output_collapse`` one output given for many inputs (``_output_states``)                info..crit
``prompt_echo``     outputs that repeat their input                                      info/warn
``empty_output``    empty (or blank) outputs                                             info/warn
``truncated``       outputs cut at max_new_tokens                                        info/warn
``slice``           a metadata value or length bucket whose accuracy or learned step     info
                    differs from the rest beyond chance (``_slices``)
``plateau``         nothing learned or forgotten for the last snapshots (``_plateau``)   info
``never_learned``   the examples never right, and what they share (``_never_learned``)   info
==================  ===================================================================  ==========

No alarm on a healthy run: every test has a noise model (binomial for answers that flip, a rate for
forgetting, exact tests with a multiple-testing correction for slices), and an output pathology the
model starts with (a base model echoing or rambling to the token limit at step 0) is only noted while
training is young; it is a warning once it began during training or outlived that.

Identity. ``Insight.key`` says which insight a record is across updates: the viewer notifies once per
(key, severity). Events (a regression) are keyed by their step; episodes (an output pathology) by the
step they began, found by searching back through the snapshots; properties of the data (a slice,
never-learned) by what they are about, with ``step`` the latest snapshot they were judged on.

Cost. ``InsightEngine`` keeps what it computed per snapshot (keyed by the snapshot's column object, so a
rewritten file is recomputed) and each update only adds the new snapshots' work: O(examples) per new
snapshot plus the slice tests. A first pass over 10,000 examples x 500 snapshots is O(N K) in numpy
(see bench/insights.py). It needs the run's ``RunDynamics`` (computed by the caller, once).
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np

from evotui.analysis.stats import average_ranks, binomial_upper, fisher_exact, holm, mann_whitney, poisson_upper

if TYPE_CHECKING:
    from evotui.analysis.dynamics import RunDynamics
    from evotui.analysis.history import RunHistory, StepColumn
    from tracker.schema import RunManifest


class Kind(str, Enum):
    """What an insight is about (its ``value`` is what JSON and the alerts file hold)."""

    REGRESSION = "regression"
    OUTPUT_COLLAPSE = "output_collapse"
    PROMPT_ECHO = "prompt_echo"
    EMPTY_OUTPUT = "empty_output"
    TRUNCATED = "truncated"
    SLICE = "slice"
    PLATEAU = "plateau"
    NEVER_LEARNED = "never_learned"

    def __str__(self) -> str:
        return self.value


class Severity(str, Enum):
    """How much it needs a person: ``info`` (a finding), ``warning`` (look now), ``critical`` (stop and look)."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def __str__(self) -> str:
        return self.value


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}

# -- thresholds (each one's reason is in the docstring of the function that uses it) --------------------
REGRESSION_ALPHA = 1e-3
REGRESSION_MIN_DROP = 0.02
REGRESSION_CRITICAL_DROP = 0.20
STABLE_SNAPSHOTS = 3
BURST_MIN = 3
BURST_MIN_SHARE = 0.05
BURST_MIN_STABLE = 10
BURST_PRIOR_WEIGHT = 50.0
COLLAPSE_SHARE = 0.30
COLLAPSE_EXCESS = 0.20
COLLAPSE_CRITICAL_SHARE = 0.80
OUTPUT_STATE_SHARE = 0.10
OUTPUT_STATE_MIN = 3
MIN_EXAMPLES_FOR_SHARES = 10
YOUNG_SNAPSHOTS = 10
YOUNG_FRACTION = 0.1
SLICE_ALPHA = 0.01
SLICE_MIN = 5
SLICE_MIN_GAP = 0.10
SLICE_MAX_VALUES = 30
SLICE_NUMERIC_BUCKETS = 4
SLICE_MAX_REPORTED = 5
PLATEAU_SNAPSHOTS = 5
NEVER_MIN_SNAPSHOTS = 3
# metadata keys the tracker writes per row and per step: not a property of the example
PER_STEP_METADATA = frozenset({"finish"})


@dataclass(frozen=True)
class Insight:
    """One thing the run says. ``example_ids`` are the evidence; ``data`` holds the figures behind the
    message (counts, rates, the p-value) for scripts."""

    kind: Kind
    severity: Severity
    step: int
    message: str
    example_ids: tuple[str, ...]
    key: str
    p_value: float | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``report --json`` and the alerts file)."""
        return {
            "kind": self.kind.value,
            "severity": self.severity.value,
            "step": self.step,
            "message": self.message,
            "example_ids": list(self.example_ids),
            "key": self.key,
            "p_value": _json_safe(self.p_value),
            "data": {k: _json_safe(v) for k, v in self.data.items()},
        }


def _json_safe(value: Any) -> Any:
    """NaN and infinities as None (JSON has neither), numpy scalars as Python numbers."""
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# -- formatting --------------------------------------------------------------------------------------
def _pct(x: float) -> str:
    return f"{x * 100:.0f}%" if abs(x * 100 - round(x * 100)) < 0.05 or x >= 0.1 else f"{x * 100:.1f}%"


def _p(p: float) -> str:
    return f"p={p:.1g}" if p < 0.001 else f"p={p:.3f}"


def _short(text: str, limit: int = 30) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- per-snapshot statistics -------------------------------------------------------------------------
def _padded(values: np.ndarray, n: int, fill: float = np.nan) -> np.ndarray:
    if values.shape[0] >= n:
        return values[:n]
    out = np.full(n, fill, dtype=values.dtype)
    out[: values.shape[0]] = values
    return out


@dataclass(frozen=True)
class _Transition:
    """From one snapshot to the next, over the examples evaluated at both."""

    forgot: np.ndarray  # indices right before, wrong now
    learned: int  # wrong before, right now
    paired: int  # evaluated at both
    right_before: int  # right before, evaluated now
    accuracy: float  # at this snapshot, over the examples present
    previous_accuracy: float
    stable_exposed: int  # right at the STABLE_SNAPSHOTS snapshots before, evaluated now
    stable_forgot: np.ndarray  # indices of those wrong now


def _transition(columns: Sequence[StepColumn]) -> _Transition:
    """``columns``: up to STABLE_SNAPSHOTS + 1 consecutive snapshots, the current one last."""
    current = columns[-1]
    n = current.exact.shape[0]
    cur = current.exact
    prev = _padded(columns[-2].exact, n)
    forgot = np.flatnonzero((prev == 1.0) & (cur == 0.0))
    learned = int(np.count_nonzero((prev == 0.0) & (cur == 1.0)))
    paired = int(np.count_nonzero(~np.isnan(prev) & ~np.isnan(cur)))
    right_before = int(np.count_nonzero((prev == 1.0) & ~np.isnan(cur)))
    present_now = int(np.count_nonzero(~np.isnan(cur)))
    present_before = int(np.count_nonzero(~np.isnan(prev)))
    accuracy = float(np.count_nonzero(cur == 1.0) / present_now) if present_now else math.nan
    previous_accuracy = float(np.count_nonzero(prev == 1.0) / present_before) if present_before else math.nan
    stable_forgot = np.empty(0, dtype=np.int64)
    stable_exposed = 0
    if len(columns) > STABLE_SNAPSHOTS:
        stable = np.ones(n, dtype=bool)
        for col in columns[-1 - STABLE_SNAPSHOTS : -1]:
            stable &= _padded(col.exact, n) == 1.0
        stable &= ~np.isnan(cur)
        stable_exposed = int(np.count_nonzero(stable))
        stable_forgot = np.flatnonzero(stable & (cur == 0.0))
    return _Transition(
        forgot, learned, paired, right_before, accuracy, previous_accuracy, stable_exposed, stable_forgot
    )


class _ColumnMemo:
    """Values computed from snapshot columns, kept while the columns they came from are the same objects."""

    def __init__(self) -> None:
        # The columns themselves are held (not their ids): a freed column's id may be reused.
        self._values: dict[tuple[str, int], tuple[tuple[object, ...], Any]] = {}

    def get(self, tag: str, step: int, columns: Sequence[object], compute: Callable[[], Any]) -> Any:
        held = self._values.get((tag, step))
        # ``map(operator.is_)``: this runs for every snapshot of the run on every update.
        if held is not None and len(held[0]) == len(columns) and all(map(operator.is_, held[0], columns)):
            return held[1]
        value = compute()
        self._values[(tag, step)] = (tuple(columns), value)
        return value

    def peek(self, tag: str, step: int, columns: Sequence[object]) -> Any:
        """The value held for these columns, or None (never computes)."""
        held = self._values.get((tag, step))
        if held is not None and len(held[0]) == len(columns) and all(map(operator.is_, held[0], columns)):
            return held[1]
        return None

    def keep_only(self, steps: set[int]) -> None:
        for key in [k for k in self._values if k[1] not in steps]:
            del self._values[key]


def _episode_start(last: int, holds: Callable[[int], bool]) -> int:
    """The first snapshot index of the stretch ending at ``last`` where ``holds`` is true (it holds at
    ``last``). Galloping back (last-1, last-2, last-4, ...) then bisecting: O(log K) checks, exact
    when the condition changed once in the bracket found."""
    good, distance = last, 1
    bad = -1
    while True:
        j = last - distance
        if j <= 0:
            if holds(0):
                return 0
            bad = 0
            break
        if not holds(j):
            bad = j
            break
        good = j
        distance *= 2
    while good - bad > 1:
        mid = (good + bad) // 2
        if holds(mid):
            good = mid
        else:
            bad = mid
    return good


# -- slices ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Slice:
    """A set of examples sharing something: a metadata value or a length bucket."""

    label: str  # "tags=hard", "input 40-80 chars"
    mask: np.ndarray  # (N,) bool


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _flatten(prefix: str, value: object, out: list[tuple[str, object]]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            if isinstance(v, (str, int, float, bool)) or v is None:
                out.append((prefix, v))
    elif isinstance(value, (str, int, float, bool)) or value is None:
        out.append((prefix, value))


def _value_label(value: object) -> str:
    if isinstance(value, str):
        return _short(value, 40)
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "null"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _length_buckets(lengths: np.ndarray, what: str) -> list[Slice]:
    """Quartile buckets of a length (fewer when the lengths take few values)."""
    distinct = np.unique(lengths)
    if distinct.shape[0] < 2:
        return []
    if distinct.shape[0] <= SLICE_NUMERIC_BUCKETS:
        return [Slice(f"{what} {v} char{'s' if v != 1 else ''}", lengths == v) for v in distinct.tolist()]
    edges = np.unique(np.quantile(lengths, [0.25, 0.5, 0.75], method="lower"))
    buckets: list[Slice] = []
    lo = int(distinct[0])
    for edge in [*edges.tolist(), int(distinct[-1])]:
        mask = (lengths >= lo) & (lengths <= edge)
        if mask.any():
            buckets.append(Slice(f"{what} {lo}-{edge} chars" if lo != edge else f"{what} {lo} chars", mask))
        lo = int(edge) + 1
        if lo > distinct[-1]:
            break
    return buckets


def slice_candidates(
    metadata: Sequence[Mapping[str, Any]], inputs: Sequence[str], expected: Sequence[str]
) -> list[Slice]:
    """Every slice worth a test: each value of each metadata key (lists: each element; nested dicts:
    ``key.sub``; numbers with many values: quartile buckets; a key with more than SLICE_MAX_VALUES
    distinct text values is an id, not a group, and is skipped), input-length and expected-output-
    length buckets. Slices with fewer than SLICE_MIN examples inside or outside are left out."""
    n = len(inputs)
    candidates: list[Slice] = []
    by_key: dict[str, dict[object, list[int]]] = {}
    for i, meta in enumerate(metadata):
        if not meta:
            continue
        pairs: list[tuple[str, object]] = []
        for key, value in meta.items():
            if key not in PER_STEP_METADATA:
                _flatten(str(key), value, pairs)
        for key, value in pairs:
            by_key.setdefault(key, {}).setdefault(value, []).append(i)
    for key in sorted(by_key):
        groups = by_key[key]
        numeric = all(_is_number(v) for v in groups)
        if numeric and len(groups) > SLICE_NUMERIC_BUCKETS * 2:
            values = np.full(n, np.nan)
            for v, members in groups.items():
                values[members] = float(v)  # type: ignore[arg-type]
            known = values[~np.isnan(values)]
            edges = np.unique(np.quantile(known, [0.25, 0.5, 0.75]))
            lo = float(known.min())
            for edge in [*edges.tolist(), float(known.max())]:
                mask = (values >= lo) & (values <= edge) if lo == known.min() else (values > lo) & (values <= edge)
                if mask.any():
                    candidates.append(Slice(f"{key} in [{lo:g}, {edge:g}]", mask))
                lo = edge
            continue
        if len(groups) > SLICE_MAX_VALUES:
            continue
        for value in sorted(groups, key=lambda v: (str(type(v)), str(v))):
            mask = np.zeros(n, dtype=bool)
            mask[groups[value]] = True
            candidates.append(Slice(f"{key}={_value_label(value)}", mask))
    candidates += _length_buckets(np.fromiter(map(len, inputs), dtype=np.int64, count=n), "input")
    candidates += _length_buckets(np.fromiter(map(len, expected), dtype=np.int64, count=n), "expected output")
    kept: list[Slice] = []
    seen: set[bytes] = set()
    for s in candidates:
        inside = int(s.mask.sum())
        signature = s.mask.tobytes()
        if inside < SLICE_MIN or n - inside < SLICE_MIN or signature in seen:
            continue
        seen.add(signature)
        kept.append(s)
    return kept


# -- the engine --------------------------------------------------------------------------------------
class InsightEngine:
    """Insights of one run, updated as snapshots arrive. One per run, used from one thread (the run
    service's): ``update`` after each change of the history returns every current insight."""

    def __init__(self) -> None:
        self._memo = _ColumnMemo()
        self._slices: list[Slice] = []
        self._slice_source: tuple[list[Any], list[str], list[str]] | None = None
        self._prompts: tuple[tuple[int, int, int], list[str]] | None = None  # (texts key, stripped inputs)

    def update(
        self, history: RunHistory, dynamics: RunDynamics, manifest: RunManifest | None = None
    ) -> tuple[Insight, ...]:
        """Every insight of ``history`` as it is now, newest first (then by severity)."""
        steps = list(history.steps)
        self._memo.keep_only(set(steps))
        if not steps or not history.n_examples:
            return ()
        columns = [history.columns[s] for s in steps]
        found: list[Insight] = []
        transitions = self._transitions(steps, columns)
        found += _regressions(history, steps, columns, transitions)
        found += _plateau(history, steps, transitions)
        found += _output_states(history, steps, columns, transitions, manifest, self._memo, self._stripped_inputs)
        slices = self._slice_list(history)
        found += _slices(history, dynamics, slices)
        found += _never_learned(history, dynamics, slices)
        found.sort(key=lambda x: (-x.step, -x.severity.rank, x.kind.value, x.key))
        return tuple(found)

    def _transitions(self, steps: list[int], columns: list[StepColumn]) -> list[_Transition | None]:
        out: list[_Transition | None] = [None]
        for k in range(1, len(steps)):
            window = columns[max(0, k - STABLE_SNAPSHOTS) : k + 1]
            out.append(self._memo.get("transition", steps[k], window, lambda w=window: _transition(w)))
        return out

    def _stripped_inputs(self, history: RunHistory) -> list[str]:
        """The inputs, stripped (the echo test's prompts): once per change of the texts, not per update."""
        key = (history.lineage, history.texts_version, history.n_examples)
        if self._prompts is None or self._prompts[0] != key:
            self._prompts = (key, [text.strip() for text in history.inputs])
        return self._prompts[1]

    def _slice_list(self, history: RunHistory) -> list[Slice]:
        source = (history.metadata, history.inputs, history.expected)
        held = self._slice_source
        if held is None or held[0] != source[0] or held[1] != source[1] or held[2] != source[2]:
            self._slices = slice_candidates(*source)
            self._slice_source = (list(source[0]), list(source[1]), list(source[2]))
        return self._slices


def find_insights(
    history: RunHistory, dynamics: RunDynamics | None = None, manifest: RunManifest | None = None
) -> list[Insight]:
    """Every insight of a run, newest first: a one-off ``InsightEngine().update``."""
    if dynamics is None:
        from evotui.analysis.dynamics import compute_dynamics

        dynamics = compute_dynamics(history)
    return list(InsightEngine().update(history, dynamics, manifest))


# -- regression ------------------------------------------------------------------------------------
def _schedule_note(history: RunHistory, steps: list[int], k: int) -> tuple[str, dict[str, Any]]:
    """The learning rate and epoch at snapshot k, and whether the schedule changed just before it."""
    col, prev = history.columns[steps[k]], history.columns[steps[k - 1]]
    parts: list[str] = []
    data: dict[str, Any] = {"learning_rate": col.learning_rate, "epoch": col.epoch}
    if col.learning_rate is not None:
        parts.append(f"lr {col.learning_rate:.1e}")
    if col.epoch is not None:
        parts.append(f"epoch {col.epoch:.2f}")
    lr, lr_prev = col.learning_rate, prev.learning_rate
    changed = False
    if lr is not None and lr_prev is not None and lr_prev > 0:
        ratio = lr / lr_prev
        flat_before = False
        if k >= 2:
            older = history.columns[steps[k - 2]].learning_rate
            flat_before = older is not None and older > 0 and abs(lr_prev / older - 1) <= 0.01
        # A rise (warm restart, end of a decay) or a jump after a flat stretch (a step schedule).
        if ratio >= 1.25 or (flat_before and abs(ratio - 1) > 0.10):
            changed = True
            parts.append(f"right after the learning rate changed {lr_prev:.1e} -> {lr:.1e}")
    if col.epoch is not None and prev.epoch is not None and math.floor(col.epoch) > math.floor(prev.epoch):
        parts.append(f"a new epoch began (epoch {math.floor(col.epoch)})")
    data["schedule_changed"] = changed
    return (" · " + " · ".join(parts)) if parts else "", data


def _regressions(
    history: RunHistory, steps: list[int], columns: list[StepColumn], transitions: list[_Transition | None]
) -> list[Insight]:
    """``regression``: a snapshot that went backwards beyond the noise of the snapshot before it.

    Two tests, on the examples evaluated at both snapshots; either one makes a regression:

    * accuracy fell: of the m examples whose answer flipped, b went right -> wrong and c wrong -> right.
      With no real change each flip is a coin toss (McNemar's exact test): p = P(Binomial(m, 1/2) >= b).
      A regression when p < REGRESSION_ALPHA (0.001) and the net fall (b - c)/n is at least
      REGRESSION_MIN_DROP (2 points). Why: constant-rate training flips answers both ways all the time
      (the toy run forgets something at nearly every snapshot), so a fall alone is noise; 0.001 keeps a
      run of 1,000 snapshots with no real change to about one false alarm, and 2 points keeps a 10,000-
      example run from alarming on a real but negligible dip. The message gives the noise band
      (3.09 sigma of the net change under no change, sqrt(m)/n per sigma).
    * learned examples forgotten together: of the examples right at the STABLE_SNAPSHOTS (3) snapshots
      before, f are wrong now. The run's own rate of such forgetting so far gives the expected count,
      shrunk towards the run's rate of forgetting any right answer so far (a prior worth
      BURST_PRIOR_WEIGHT = 50 exposures: early in training answers flip often, and three snapshots in a
      row right is not yet "learned" then). A regression when P(Poisson(expected) >= f) <
      REGRESSION_ALPHA, f >= 3, f is at least 5% of the stable examples and there are at least
      BURST_MIN_STABLE (10) of them (a burst that matters, not one example of three).

    Severity: warning; critical when accuracy fell by REGRESSION_CRITICAL_DROP (20 points) or more, or
    half the stable examples were forgotten. The step's learning rate and epoch are given when the
    snapshot has them, and a learning-rate change or a new epoch right before the fall is said.
    """
    out: list[Insight] = []
    ids = history.example_ids
    seen_forgot = 0.0
    seen_exposed = 0.0
    all_forgot = 0.0
    all_right_before = 0.0
    for k in range(1, len(steps)):
        t = transitions[k]
        if t is None:
            continue
        b, c = int(t.forgot.shape[0]), t.learned
        reasons: list[str] = []
        p_values: list[float] = []
        severity = Severity.WARNING
        data: dict[str, Any] = {
            "previous_step": steps[k - 1],
            "accuracy": t.accuracy,
            "previous_accuracy": t.previous_accuracy,
            "forgotten": b,
            "learned": c,
        }
        drop = (b - c) / t.paired if t.paired else 0.0
        if b > c and drop >= REGRESSION_MIN_DROP:
            p = binomial_upper(b, b + c)
            if p < REGRESSION_ALPHA:
                band = 3.09 * math.sqrt(b + c) / t.paired
                reasons.append(
                    f"accuracy {_pct(t.previous_accuracy)} -> {_pct(t.accuracy)} "
                    f"(-{drop * 100:.1f} pts, noise ±{band * 100:.1f}; {b} forgotten, {c} learned, {_p(p)})"
                )
                p_values.append(p)
                data["noise_band"] = band
                if drop >= REGRESSION_CRITICAL_DROP:
                    severity = Severity.CRITICAL
        f, e = int(t.stable_forgot.shape[0]), t.stable_exposed
        prior = (all_forgot + 1.0) / (all_right_before + 2.0)
        all_forgot += b
        all_right_before += t.right_before
        if e:
            rate = (seen_forgot + prior * BURST_PRIOR_WEIGHT) / (seen_exposed + BURST_PRIOR_WEIGHT)
            expected = rate * e
            if f >= BURST_MIN and e >= BURST_MIN_STABLE and f >= BURST_MIN_SHARE * e:
                p = poisson_upper(f, expected)
                if p < REGRESSION_ALPHA:
                    reasons.append(
                        f"{f} of {e} learned examples forgotten at once (~{expected:.1f} expected "
                        f"at this run's rate, {_p(p)})"
                    )
                    p_values.append(p)
                    data["stable_forgotten"] = f
                    data["stable"] = e
                    if f >= 0.5 * e:
                        severity = Severity.CRITICAL
            seen_forgot += f
            seen_exposed += e
        if not reasons:
            continue
        note, schedule = _schedule_note(history, steps, k)
        data.update(schedule)
        out.append(
            Insight(
                kind=Kind.REGRESSION,
                severity=severity,
                step=steps[k],
                message=f"step {steps[k]:,}: " + "; ".join(reasons) + note,
                example_ids=tuple(ids[i] for i in t.forgot.tolist()),
                key=f"regression@{steps[k]}",
                p_value=min(p_values),
                data=data,
            )
        )
    return out


# -- plateau ---------------------------------------------------------------------------------------
def _plateau(history: RunHistory, steps: list[int], transitions: list[_Transition | None]) -> list[Insight]:
    """``plateau``: not one example learned or forgotten over the last PLATEAU_SNAPSHOTS (5) snapshot-to-
    snapshot transitions while some examples are still wrong.

    Why 5: one or two quiet snapshots happen in a learning run (sparse snapshots late in a schedule);
    five in a row means the steps between them changed no answer, so more of the same training is
    unlikely to. Not reported when every example is right (that is done, not stuck). Severity info: a
    plateau at the end of a decayed schedule is expected (the message gives the learning rate against
    its peak), one in the middle of a run is for a person to judge. ``step`` is where the plateau began.
    """
    if len(steps) <= PLATEAU_SNAPSHOTS:
        return []
    k = len(steps) - 1
    while k >= 1 and transitions[k] is not None and (transitions[k].forgot.shape[0] + transitions[k].learned) == 0:
        k -= 1
    flat_from = k  # the snapshot the quiet stretch starts at
    quiet = len(steps) - 1 - flat_from
    latest = transitions[-1]
    if quiet < PLATEAU_SNAPSHOTS or latest is None or not (latest.accuracy < 1.0):
        return []
    lr_note = ""
    lrs = [history.columns[s].learning_rate for s in steps]
    known = [x for x in lrs if x is not None]
    if known and lrs[-1] is not None and max(known) > 0:
        lr_note = f" · learning rate {lrs[-1]:.1e}, {lrs[-1] / max(known):.0%} of its peak"
    wrong = np.flatnonzero(history.columns[steps[-1]].exact == 0.0)
    return [
        Insight(
            kind=Kind.PLATEAU,
            severity=Severity.INFO,
            step=steps[flat_from],
            message=(
                f"no example learned or forgotten over the last {quiet} snapshots "
                f"(steps {steps[flat_from]:,}-{steps[-1]:,}): accuracy stays {_pct(latest.accuracy)}{lr_note}"
            ),
            example_ids=tuple(history.example_ids[i] for i in wrong.tolist()),
            key=f"plateau@{steps[flat_from]}",
            data={"snapshots": quiet, "until_step": steps[-1], "accuracy": latest.accuracy},
        )
    ]


# -- output pathologies ----------------------------------------------------------------------------
def _blank_mask(col: StepColumn) -> np.ndarray:
    # Cheap count first (C loops): most snapshots have no blank output, and then no mask is built.
    outputs = col.outputs
    if not outputs.count("") and not any(map(str.isspace, filter(None, outputs))):
        return np.zeros(len(outputs), dtype=bool)
    return np.fromiter((o is not None and not o.strip() for o in outputs), dtype=bool, count=len(outputs))


def _echo_mask(col: StepColumn, prompts: Sequence[str], expected: Sequence[str]) -> np.ndarray:
    """``prompts``: the inputs, stripped. One comprehension over zip: this runs on every new snapshot."""
    n = len(col.outputs)
    return np.fromiter(
        (
            o is not None and len(p) >= 4 and p in o and p not in e
            for p, o, e in zip(prompts[:n], col.outputs, expected[:n], strict=False)
        ),
        dtype=bool,
        count=min(n, len(prompts)),
    )


def _output_states(
    history: RunHistory,
    steps: list[int],
    columns: list[StepColumn],
    transitions: list[_Transition | None],
    manifest: RunManifest | None,
    memo: _ColumnMemo,
    stripped_inputs: Callable[[RunHistory], list[str]] | None = None,
) -> list[Insight]:
    """``output_collapse``, ``prompt_echo``, ``empty_output``, ``truncated``: the latest snapshot's outputs
    have a pathology, and since when.

    * ``output_collapse``: the most common output covers at least COLLAPSE_SHARE (30%) of the examples
      evaluated and at least COLLAPSE_EXCESS (20 points) more than the share of examples that expect
      exactly that output (a yes/no task may rightly answer "yes" half the time). Why: a model that
      answers many different inputs with one string has stopped reading them (mode collapse, a
      learning rate too high, a label imbalance learned). Critical at COLLAPSE_CRITICAL_SHARE (80%).
    * ``prompt_echo``: the output contains the whole input (4 characters or more, stripped) while the
      expected output does not: the model continues or repeats its prompt (prompt tokens in the loss,
      a chat template not applied).
    * ``empty_output``: the output is empty or blank (EOS first: a loss mask or template problem).
    * ``truncated``: generation stopped at max_new_tokens (the tracker's ``metadata["finish"] ==
      "length"``): the model does not stop, or the limit is too low for the expected outputs.

    The last three need OUTPUT_STATE_SHARE (10%) of the examples evaluated and at least
    OUTPUT_STATE_MIN (3) of them: a few long or odd answers are not a pathology. All four need at least
    MIN_EXAMPLES_FOR_SHARES (10) examples evaluated. ``step`` is where the current stretch began
    (searched back through the snapshots).

    Severity. A base model often echoes or rambles to the limit, and early in training a small model
    answers many inputs with a few common answers (the toy run: "2" for all 100 sums at step 25, "17" for
    35% of 60 sums at step 175 of 400): not alarms. So while the run is young (fewer than YOUNG_SNAPSHOTS
    (10) snapshots after the first, or under YOUNG_FRACTION (10%) of max_steps when run.json gives it) a
    pathology is info; after that it is a warning (critical for a collapse onto one output for 80%).
    """
    last = len(steps) - 1
    latest = columns[last]
    present = latest.n_present
    if present < MIN_EXAMPLES_FOR_SHARES:
        return []
    ids, inputs, expected = history.example_ids, history.inputs, history.expected
    out: list[Insight] = []
    max_steps = manifest.max_steps if manifest is not None else None
    young = last < YOUNG_SNAPSHOTS or (
        max_steps is not None and max_steps > 0 and steps[last] < YOUNG_FRACTION * max_steps
    )

    def grade(start: int, severe: bool = False) -> tuple[Severity, str]:
        alarm = Severity.CRITICAL if severe else Severity.WARNING
        since = f"since step {steps[start]:,}" if start else f"since the first snapshot (step {steps[0]:,})"
        if young:
            return Severity.INFO, since + ": early in training, before the model has learned much"
        return alarm, since + ", and training has not cleared it"

    # collapse (counted by Counter's C loop: a generator skipping the Nones cost ~4x more)
    counts = Counter(latest.outputs)
    counts.pop(None, None)
    if counts:
        top, top_count = counts.most_common(1)[0]
        expected_count = expected.count(top)

        def collapsed(k: int, s: str = top) -> bool:
            col = columns[k]

            def share() -> tuple[int, int]:
                return col.outputs.count(s), col.n_present

            count, n_present = memo.get(f"collapse:{s}", steps[k], [col], share)
            return (
                n_present >= MIN_EXAMPLES_FOR_SHARES
                and count >= COLLAPSE_SHARE * n_present
                and (count - expected_count) >= COLLAPSE_EXCESS * n_present
            )

        if top.strip() and collapsed(last):
            start = _episode_start(last, collapsed)
            severity, since = grade(start, severe=top_count >= COLLAPSE_CRITICAL_SHARE * present)
            who = [i for i, o in enumerate(latest.outputs) if o == top]
            out.append(
                Insight(
                    kind=Kind.OUTPUT_COLLAPSE,
                    severity=severity,
                    step=steps[start],
                    message=(
                        f"{top_count} of {present} inputs ({_pct(top_count / present)}) get the same output "
                        f'"{_short(top)}" ({expected_count} expect it), {since}'
                    ),
                    example_ids=tuple(ids[i] for i in who),
                    key=f"output_collapse@{steps[start]}:{_short(top, 60)}",
                    data={"output": top, "count": top_count, "expected_count": expected_count, "began": steps[start]},
                )
            )

    def state(kind: Kind, what: str, mask_of: Callable[[int], Any]) -> None:
        def mask(k: int) -> np.ndarray | None:
            value = memo.get(kind.value, steps[k], [columns[k]], lambda: mask_of(k))
            return value[1] if isinstance(value, tuple) else value  # (texts version, mask) for the echo

        def holds(k: int) -> bool:
            m = mask(k)
            if m is None:
                return False
            count = int(np.count_nonzero(m))
            n_present = columns[k].n_present
            return (
                n_present >= MIN_EXAMPLES_FOR_SHARES
                and count >= OUTPUT_STATE_MIN
                and count >= OUTPUT_STATE_SHARE * n_present
            )

        if not holds(last):
            return
        m = mask(last)
        assert m is not None
        who = np.flatnonzero(m)
        start = _episode_start(last, holds)
        severity, since = grade(start)
        out.append(
            Insight(
                kind=kind,
                severity=severity,
                step=steps[start],
                message=f"{who.shape[0]} of {present} outputs ({_pct(who.shape[0] / present)}) {what}, {since}",
                example_ids=tuple(ids[i] for i in who.tolist()),
                key=f"{kind.value}@{steps[start]}",
                data={"count": int(who.shape[0]), "began": steps[start]},
            )
        )

    prompts: list[str] = []
    texts_version = getattr(history, "texts_version", None)

    def echo_mask(k: int) -> tuple[object, np.ndarray]:
        """(texts version, mask). A live snapshot shares the output objects that did not change with the
        one before (``RunHistory.add``): only the changed ones are checked again, the rest copied."""
        col = columns[k]
        n = len(col.outputs)
        if not prompts:
            prompts.extend(stripped_inputs(history) if stripped_inputs is not None else (t.strip() for t in inputs))
        before = memo.peek(Kind.PROMPT_ECHO.value, steps[k - 1], [columns[k - 1]]) if k else None
        if before is not None and texts_version is not None and before[0] == texts_version and before[1].shape[0] <= n:
            previous = columns[k - 1].outputs
            mask = _padded(before[1], n, False).copy()
            common = min(len(previous), n)
            differs = np.fromiter(map(operator.is_not, previous, col.outputs), dtype=bool, count=common)
            changed = [*np.flatnonzero(differs).tolist(), *range(len(previous), n)]
            for j in changed:
                o = col.outputs[j]
                p = prompts[j] if j < len(prompts) else ""
                mask[j] = o is not None and len(p) >= 4 and p in o and p not in expected[j]
            return texts_version, mask
        mask = _echo_mask(col, prompts, expected)
        return texts_version, mask if mask.shape[0] == n else _padded(mask, n, False)

    state(Kind.PROMPT_ECHO, "repeat their input", echo_mask)
    state(Kind.EMPTY_OUTPUT, "are empty", lambda k: _blank_mask(columns[k]))
    state(Kind.TRUNCATED, "stop at max_new_tokens", lambda k: columns[k].hit_limit)
    return out


# -- slices ----------------------------------------------------------------------------------------
def _right_now(dynamics: RunDynamics) -> np.ndarray:
    return np.isin(dynamics.status, ("known", "learned", "unstable"))


def _slices(history: RunHistory, dynamics: RunDynamics, slices: list[Slice]) -> list[Insight]:
    """``slice``: a group of examples whose accuracy now, or whose learned step, differs from the rest
    beyond chance.

    Groups: each value of each metadata key, input-length and expected-output-length buckets
    (``slice_candidates``). Tests: accuracy now (right at its latest evaluation) in the group against the
    rest, Fisher's exact test (exact for small groups); learned step of the examples right now, Mann-
    Whitney U (ranks: robust to the log-spaced steps). All p-values of one update are Holm-corrected
    together (the number of tests is in the message's data); a slice is reported when its corrected p <
    SLICE_ALPHA (0.01) and the effect is large enough to act on: accuracy SLICE_MIN_GAP (10 points)
    apart, or median learned steps at different snapshots. A group and its complement (e.g. 1- and
    2-digit answers) say the same thing: the weaker group is kept. At most SLICE_MAX_REPORTED (5), the
    smallest p first. Severity info: a slice is a finding about the data, not an alarm.
    """
    n = dynamics.n_examples
    if not slices or n != len(history.example_ids) or dynamics.steps.shape[0] < 2:
        return []
    right = _right_now(dynamics)
    total_right = int(right.sum())
    learned = dynamics.learned_step >= 0
    learned_steps = dynamics.learned_step[learned].astype(np.float64)
    ranks = average_ranks(learned_steps) if learned_steps.size else np.empty(0)
    tie_term = 0.0
    if learned_steps.size:
        _, tie_counts = np.unique(learned_steps, return_counts=True)
        tie_term = float(np.sum(tie_counts.astype(np.float64) ** 3 - tie_counts))
    tests: list[tuple[Slice, str, float, dict[str, Any]]] = []
    for s in slices:
        inside = int(s.mask.sum())
        a = int(np.count_nonzero(right & s.mask))
        c = total_right - a
        rest = n - inside
        acc_in, acc_out = a / inside, c / rest
        if abs(acc_in - acc_out) >= SLICE_MIN_GAP:
            p = fisher_exact(a, inside - a, c, rest - c)
            tests.append((s, "accuracy", p, {"accuracy": acc_in, "rest_accuracy": acc_out, "n": inside}))
        else:
            tests.append((s, "accuracy", 1.0, {}))
        in_learned = s.mask[learned]
        n1 = int(in_learned.sum())
        if n1 >= SLICE_MIN and learned_steps.size - n1 >= SLICE_MIN:
            # Medians only for what passes the test (below): they are the costly part of a live update.
            p = mann_whitney(ranks, in_learned, tie_term)
            tests.append((s, "learned_step", p, {"n": n1, "in_learned": in_learned}))
    if not tests:
        return []
    adjusted = holm([t[2] for t in tests])
    latest = int(dynamics.steps[-1])
    found: list[tuple[float, Insight, np.ndarray]] = []
    for (s, measure, p, figures), p_adj in zip(tests, adjusted, strict=True):
        if p_adj >= SLICE_ALPHA:
            continue
        if measure == "learned_step":
            in_learned = figures.pop("in_learned")
            figures["median_learned"] = float(np.median(learned_steps[in_learned]))
            figures["rest_median_learned"] = float(np.median(learned_steps[~in_learned]))
            if figures["median_learned"] == figures["rest_median_learned"]:
                continue  # the same snapshot: nothing to act on
        if measure == "accuracy":
            worse = figures["accuracy"] < figures["rest_accuracy"]
            text = (
                f"{s.label}: {_pct(figures['accuracy'])} right vs {_pct(figures['rest_accuracy'])} "
                f"for the rest (n={figures['n']}, {_p(p_adj)} corrected over {len(tests)} tests)"
            )
        else:
            worse = figures["median_learned"] > figures["rest_median_learned"]
            text = (
                f"{s.label}: learned at median step {figures['median_learned']:,.0f} vs "
                f"{figures['rest_median_learned']:,.0f} for the rest (n={figures['n']} learned, "
                f"{_p(p_adj)} corrected over {len(tests)} tests)"
            )
        insight = Insight(
            kind=Kind.SLICE,
            severity=Severity.INFO,
            step=latest,
            message=text,
            example_ids=(),  # filled in below, for the slices kept only (a slice may hold most examples)
            key=f"slice:{s.label}:{measure}",
            p_value=p_adj,
            data={"slice": s.label, "measure": measure, "p_raw": p, "tests": len(tests), "worse": worse, **figures},
        )
        found.append((p_adj, insight, s.mask))
    found.sort(key=lambda x: (x[0], not x[1].data["worse"], x[1].key))
    kept: list[Insight] = []
    masks: list[tuple[str, np.ndarray]] = []
    for _, insight, mask in found:
        measure = insight.data["measure"]
        if any(m == measure and np.array_equal(mask, ~other) for m, other in masks):
            continue  # the complement of one already kept says the same
        if not insight.data["worse"] and any(np.array_equal(mask, ~o) for _, o in masks):
            continue
        masks.append((measure, mask))
        ids = history.example_ids
        kept.append(replace(insight, example_ids=tuple(ids[i] for i in np.flatnonzero(mask).tolist())))
        if len(kept) >= SLICE_MAX_REPORTED:
            break
    return kept


# -- never learned ---------------------------------------------------------------------------------
def _never_learned(history: RunHistory, dynamics: RunDynamics, slices: list[Slice]) -> list[Insight]:
    """``never_learned``: the examples never right at any snapshot, and what they have in common.

    Reported once the run has NEVER_MIN_SNAPSHOTS (3) snapshots after step 0 (before that "never" only
    means "not yet") and at least one example is never right. What they share: every slice of
    ``slice_candidates`` tested for being over-represented among them (one-sided Fisher exact, Holm-
    corrected over the slices, kept below SLICE_ALPHA), the two strongest named. Severity info: a
    share of hard examples is normal; the insight says which.
    """
    never = dynamics.status == "never"
    count = int(never.sum())
    n = dynamics.n_examples
    after_zero = int(np.count_nonzero(dynamics.steps > 0))
    if not count or after_zero < NEVER_MIN_SNAPSHOTS or n != len(history.example_ids):
        return []
    shares: list[tuple[Slice, float, int, int]] = []
    if count < n:
        for s in slices:
            a = int(np.count_nonzero(never & s.mask))
            inside = int(s.mask.sum())
            if a * n <= count * inside:  # not over-represented
                shares.append((s, 1.0, a, inside - a))
                continue
            p = fisher_exact(a, count - a, inside - a, (n - count) - (inside - a), alternative="greater")
            shares.append((s, p, a, inside - a))
    adjusted = holm([x[1] for x in shares]) if shares else []
    common = sorted(
        (
            (p_adj, s, a, others)
            for (s, _, a, others), p_adj in zip(shares, adjusted, strict=True)
            if p_adj < SLICE_ALPHA
        ),
        key=lambda x: x[0],
    )[:2]
    if common:
        what = "; ".join(
            f"{s.label} ({a} of them vs {others} of {n - count} others, {_p(p_adj)})" for p_adj, s, a, others in common
        )
        shared = f": mostly {what}"
    elif shares:
        shared = f": no slice of the {len(shares)} tried sets them apart"
    else:
        shared = ""
    return [
        Insight(
            kind=Kind.NEVER_LEARNED,
            severity=Severity.INFO,
            step=int(dynamics.steps[-1]),
            message=f"{count} of {n} examples ({_pct(count / n)}) never right at any snapshot{shared}",
            example_ids=tuple(history.example_ids[i] for i in np.flatnonzero(never).tolist()),
            key="never_learned",
            p_value=common[0][0] if common else None,
            data={"count": count, "shared": [s.label for _, s, _, _ in common]},
        )
    ]


def severity_at_least(insight: Insight, level: Severity | str) -> bool:
    return insight.severity.rank >= Severity(level).rank
