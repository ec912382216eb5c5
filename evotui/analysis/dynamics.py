"""Training dynamics: which examples the model learned and when, which it forgot, which stay hard.

Pure numpy over the (examples x snapshots) matrices of a ``RunHistory``; no textual, no rich, so it is
usable from a notebook::

    from evotui.analysis.loader import load_run
    from evotui.analysis.dynamics import compute_dynamics
    history, manifest, errors = load_run("data/evolution_snapshots/mydata")
    dyn = compute_dynamics(history)
    dyn.counts_by_status(), dyn.regressions[:3], dyn.forgetting_steps(0)
    pandas.DataFrame(dyn.table())  # one row per example (pandas is not a dependency)

Definitions (DESIGN.md "Training dynamics"), over snapshots t_0 < t_1 < ... < t_K, with c_k the exact
match, p_k = exp(-loss_k) (the geometric-mean probability of the gold tokens) for one example:

* ``first_learned``: the first t_k with c_k = 1.
* ``learned_step``: the "iteration learned" of Baldock, Maennel & Neyshabur, "Deep Learning Through the
  Lens of Example Difficulty" (NeurIPS 2021): the first t_k after which c stays 1 up to the latest
  snapshot; none when the latest is wrong. Snapshots are sparse, so the true step lies in the interval
  (``learned_after``, ``learned_step``], where ``learned_after`` is the snapshot before it.
* forgetting events, Toneva et al., "An Empirical Study of Example Forgetting during Deep Neural Network
  Learning" (ICLR 2019): transitions c_{k-1} = 1 -> c_k = 0. With sparse snapshots the count is a lower
  bound (an example may be forgotten and relearned between two snapshots).
* status: ``known`` (right at step 0, never forgotten), ``learned`` (learned later, never forgotten),
  ``unstable`` (forgotten at least once, right now), ``forgotten`` (was right, wrong now), ``never``.
* data map, Swayamdipta et al., "Dataset Cartography: Mapping and Diagnosing Datasets with Training
  Dynamics" (EMNLP 2020), over the snapshots after step 0 (training has had a say): ``confidence`` =
  mean p_k, ``variability`` = population std of p_k, ``correctness`` = mean c_k.
* region, after Data-IQ (Seedat et al., "Data-IQ: Characterizing subgroups with heterogeneous outcomes
  in tabular data", NeurIPS 2022), suited to small probe sets: with aleatoric = mean p_k (1 - p_k),
  ``easy`` when confidence >= 0.75 and aleatoric <= its median over examples, ``hard`` when
  confidence <= 0.25 and aleatoric <= median, ``ambiguous`` otherwise; "" without any loss after step 0.
* regression: a snapshot where accuracy fell, or examples were forgotten, relative to the previous one.

Gaps. An example absent from a snapshot (a subset evaluated, a snapshot written by another writer) has
NaN there. Gaps are skipped: every transition is between an example's consecutive *present* values,
"latest" means its latest present value, "right at step 0" needs it to be present at step 0 (an example
first seen later and right there is ``learned``, with ``learned_after`` = -1: no earlier evaluation), and
means and stds run over present values only. Step 0 means the snapshot whose step is 0; a run whose
first snapshot is later has no ``known`` examples and its data map uses every snapshot.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

if TYPE_CHECKING:
    from evotui.analysis.history import RunHistory

# The vocabulary, declared once: everything else (quick filters, report, table styles) imports these.
Status = Literal["known", "learned", "unstable", "forgotten", "never"]
Region = Literal["easy", "ambiguous", "hard"]
STATUSES: tuple[Status, ...] = get_args(Status)
REGIONS: tuple[Region, ...] = get_args(Region)
EASY_CONFIDENCE = 0.75
HARD_CONFIDENCE = 0.25
NONE = -1  # "no step" in the int64 step arrays


@dataclass(frozen=True)
class Regression:
    """A snapshot where the run went backwards, relative to the snapshot before it."""

    step: int
    previous_step: int
    accuracy: float  # over the examples present at ``step``
    previous_accuracy: float
    forgotten_ids: list[str]  # right at their previous evaluation, wrong here

    @property
    def accuracy_change(self) -> float:
        return self.accuracy - self.previous_accuracy

    @property
    def n_forgotten(self) -> int:
        return len(self.forgotten_ids)


@dataclass(frozen=True)
class LearningSpeed:
    """When examples were learned, by snapshot: counts aligned to ``steps``."""

    steps: np.ndarray  # (K,) int64
    learned_at: np.ndarray  # (K,) examples whose learned_step is this step
    first_learned_at: np.ndarray  # (K,) examples whose first_learned is this step
    quantiles: dict[int, float]  # percentile -> learned_step, over examples with a learned_step

    @property
    def cumulative_learned(self) -> np.ndarray:
        """Examples learned (and still right) by each step, from the latest snapshot's point of view."""
        return np.cumsum(self.learned_at)


@dataclass
class RunDynamics:
    """Dynamics of one run. Per-example arrays are aligned to ``example_ids`` (the history's order)."""

    example_ids: list[str]
    steps: np.ndarray  # (K,) int64, ascending
    accuracy: np.ndarray  # (K,) mean exact match over the examples present, NaN for an empty snapshot
    n_present: np.ndarray  # (K,) examples present in each snapshot
    status: np.ndarray  # (N,) str: one of STATUSES (a Status)
    first_learned: np.ndarray  # (N,) int64 step, -1 none
    learned_step: np.ndarray  # (N,) int64 step, -1 none
    learned_after: np.ndarray  # (N,) int64 step, -1 none: learned in (learned_after, learned_step]
    forget_count: np.ndarray  # (N,) int64
    confidence: np.ndarray  # (N,) float64, NaN without a loss after step 0
    variability: np.ndarray  # (N,) float64
    correctness: np.ndarray  # (N,) float64, NaN without an evaluation after step 0
    aleatoric: np.ndarray  # (N,) float64 mean p(1-p)
    region: np.ndarray  # (N,) str: one of REGIONS (a Region) or ""
    regressions: list[Regression]
    learning_speed: LearningSpeed
    # Forgetting events as coordinates, sorted by example then step: example index, snapshot index.
    forget_example: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, np.int64))
    forget_snapshot: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, np.int64))
    _index: dict[str, int] = field(repr=False, default_factory=dict)

    @property
    def n_examples(self) -> int:
        return len(self.example_ids)

    def index_of(self, example_id: str) -> int | None:
        if not self._index and self.example_ids:
            self._index = {eid: i for i, eid in enumerate(self.example_ids)}
        return self._index.get(example_id)

    def forgetting_steps(self, index: int) -> np.ndarray:
        """The steps at which example ``index`` was seen wrong right after being seen right."""
        lo, hi = np.searchsorted(self.forget_example, [index, index + 1])
        return self.steps[self.forget_snapshot[lo:hi]]

    def counts_by_status(self) -> dict[str, int]:
        return {name: int(np.count_nonzero(self.status == name)) for name in STATUSES}

    def counts_by_region(self) -> dict[str, int]:
        counts = {name: int(np.count_nonzero(self.region == name)) for name in REGIONS}
        counts["unmapped"] = int(np.count_nonzero(self.region == ""))
        return counts

    def table(self) -> dict[str, np.ndarray]:
        """Per-example columns, for a notebook: ``pandas.DataFrame(dyn.table())``."""
        return {
            "example_id": np.asarray(self.example_ids, dtype=object),
            "status": self.status,
            "first_learned": self.first_learned,
            "learned_after": self.learned_after,
            "learned_step": self.learned_step,
            "forget_count": self.forget_count,
            "confidence": self.confidence,
            "variability": self.variability,
            "correctness": self.correctness,
            "aleatoric": self.aleatoric,
            "region": self.region,
        }

    def row(self, index: int) -> dict[str, object]:
        """The dynamics of one example as plain Python values (None for none / NaN): for export."""

        def step_or_none(value: np.int64) -> int | None:
            return None if value == NONE else int(value)

        def float_or_none(value: np.float64) -> float | None:
            return None if np.isnan(value) else float(value)

        return {
            "status": str(self.status[index]),
            "first_learned": step_or_none(self.first_learned[index]),
            "learned_after": step_or_none(self.learned_after[index]),  # learned in (learned_after, learned_step]
            "learned_step": step_or_none(self.learned_step[index]),
            "forget_count": int(self.forget_count[index]),
            "forgetting_steps": [int(s) for s in self.forgetting_steps(index)],
            "confidence": float_or_none(self.confidence[index]),
            "variability": float_or_none(self.variability[index]),
            "correctness": float_or_none(self.correctness[index]),
            "region": str(self.region[index]),
        }


Checkpoint = tuple[int, "DynamicsBuilder"]  # (snapshots appended, the builder then: never changed after)


def compute_dynamics(
    history: RunHistory, until_step: int | None = None, checkpoints: Sequence[Checkpoint] = ()
) -> RunDynamics:
    """Dynamics of a run, from its snapshots up to ``until_step`` (inclusive; None = all of them).

    ``until_step`` gives the run as it was at an earlier snapshot (step travel): statuses are then
    judged against that snapshot, not the latest. ``checkpoints`` (from a ``DynamicsBuilder`` fed the
    same history's columns, as the app's run service keeps them) start from the nearest one instead
    of from the first snapshot: step travel then costs a few snapshots, not the whole run.
    """
    k = len(history.steps) if until_step is None else bisect.bisect_right(history.steps, until_step)
    start = max((c for c in checkpoints if c[0] <= k), key=lambda c: c[0], default=None)
    builder = start[1].copy() if start is not None else DynamicsBuilder()
    for step in history.steps[len(builder.steps) : k]:
        column = history.columns[step]
        builder.append(step, column.exact, column.loss, history.example_ids)
    return builder.result(history.example_ids)


def dynamics_from_arrays(
    steps: np.ndarray,
    exact: np.ndarray,
    loss: np.ndarray,
    example_ids: list[str] | None = None,
) -> RunDynamics:
    """Dynamics from plain arrays: ``steps`` (K,) ascending, ``exact`` (N, K) of 1/0/NaN (NaN = absent),
    ``loss`` (N, K) NaN where absent or unknown. ``example_ids`` defaults to "0", "1", ...
    """
    steps = np.asarray(steps, dtype=np.int64)
    exact = np.asarray(exact, dtype=np.float64)
    loss = np.asarray(loss, dtype=np.float64)
    if exact.ndim != 2 or loss.shape != exact.shape or steps.shape != (exact.shape[1],):
        raise ValueError(f"shapes disagree: steps {steps.shape}, exact {exact.shape}, loss {loss.shape}")
    if steps.size > 1 and np.any(np.diff(steps) <= 0):
        raise ValueError("steps must be strictly increasing")
    n = exact.shape[0]
    ids = [str(i) for i in range(n)] if example_ids is None else list(example_ids)
    if len(ids) != n:
        raise ValueError(f"{len(ids)} example ids for {n} rows")
    builder = DynamicsBuilder(n)
    for k, step in enumerate(steps.tolist()):
        builder.append(step, exact[:, k], loss[:, k], ids)
    return builder.result(ids)


def _median_or_nan(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(np.median(finite)) if finite.size else float("nan")


def _grown(arr: np.ndarray, n: int, fill: object) -> np.ndarray:
    if arr.shape[0] >= n:
        return arr
    out = np.full(n, fill, dtype=arr.dtype)
    out[: arr.shape[0]] = arr
    return out


class DynamicsBuilder:
    """The dynamics of a run, brought up to date one snapshot at a time: O(examples) per snapshot.

    The one path every caller takes (``compute_dynamics``, ``dynamics_from_arrays``, the app's run
    service): snapshots are ``append``-ed in step order, each as its exact-match and loss columns
    (NaN = absent; a later column may be longer: examples first seen then). Per example it keeps what
    the definitions need from the past (the latest present value, the first right one, the start of
    the current right stretch, running sums for the data map), so a new snapshot never rescans the
    earlier ones. ``copy()`` is a checkpoint: replaying the columns after it gives the dynamics as of
    any later step without starting over (step travel).
    """

    _ARRAYS = (
        ("last_seen", np.int64, -1),  # latest present snapshot index, -1 none
        ("last_right", bool, False),  # right at that snapshot
        ("forget_count", np.int64, 0),
        ("first_k", np.int64, -1),  # first snapshot right
        ("stretch_k", np.int64, -1),  # first snapshot right after the latest wrong one
        ("stretch_before", np.int64, -1),  # the present snapshot before stretch_k
        ("right_at_zero", bool, False),
        ("p_sum", np.float64, 0.0),  # data map sums over the snapshots after step 0
        ("p2_sum", np.float64, 0.0),
        ("p_count", np.int64, 0),
        ("right_after", np.int64, 0),
        ("present_after", np.int64, 0),
    )

    def __init__(self, n_examples: int = 0) -> None:
        self.n = n_examples
        for name, dtype, fill in self._ARRAYS:
            setattr(self, name, np.full(n_examples, fill, dtype=dtype))
        self.steps: list[int] = []
        self.accuracy: list[float] = []
        self.n_present: list[int] = []
        self.forgets: list[np.ndarray] = []  # per snapshot: the examples forgotten there (ascending)
        # ``forgets`` of the first snapshots merged into (examples, snapshot indices) sorted by example
        # then snapshot, and how many snapshots that is (see ``_sorted_forgets``).
        self._forgets_sorted: tuple[np.ndarray, np.ndarray, int] = (np.empty(0, np.int64), np.empty(0, np.int64), 0)
        self.regressions: list[Regression] = []

    @property
    def latest_step(self) -> int | None:
        return self.steps[-1] if self.steps else None

    def copy(self) -> DynamicsBuilder:
        other = DynamicsBuilder.__new__(DynamicsBuilder)
        other.n = self.n
        for name, _, _ in self._ARRAYS:
            setattr(other, name, getattr(self, name).copy())
        other.steps = list(self.steps)
        other.accuracy = list(self.accuracy)
        other.n_present = list(self.n_present)
        other.forgets = list(self.forgets)  # the arrays themselves are never changed
        other._forgets_sorted = self._forgets_sorted
        other.regressions = list(self.regressions)
        return other

    def _grow(self, n: int) -> None:
        for name, _, fill in self._ARRAYS:
            setattr(self, name, _grown(getattr(self, name), n, fill))
        self.n = n

    def append(self, step: int, exact: np.ndarray, loss: np.ndarray, example_ids: list[str]) -> None:
        """Add the snapshot at ``step`` (after every step appended so far): its columns, aligned to
        ``example_ids`` (NaN = absent). O(examples)."""
        if self.steps and step <= self.steps[-1]:
            raise ValueError(f"step {step} is not after {self.steps[-1]}: steps are appended in order")
        m = exact.shape[0]
        if m > self.n:
            self._grow(m)
        n = self.n
        if m < n:
            exact, loss = _grown(exact, n, np.nan), _grown(loss, n, np.nan)
        k = len(self.steps)
        present = ~np.isnan(exact)
        right = exact == 1.0  # NaN compares False: a gap is never right
        wrong = present & ~right

        # Forgetting: wrong now, right at the example's previous *present* snapshot (gaps skipped).
        forgotten = wrong & self.last_right
        self.forget_count += forgotten
        who = np.flatnonzero(forgotten)
        self.forgets.append(who)
        # First right; the current stretch of right answers starts at the first right after a wrong.
        self.first_k[right & (self.first_k < 0)] = k
        self.stretch_k[wrong] = -1
        self.stretch_before[wrong] = -1
        starts = right & (self.stretch_k < 0)
        self.stretch_before[starts] = self.last_seen[starts]
        self.stretch_k[starts] = k
        self.last_seen[present] = k
        self.last_right[present] = right[present]
        if k == 0 and step == 0:
            self.right_at_zero = right.copy()
        # Data map over the snapshots after step 0 (steps are >= 0: "after step 0" is step > 0).
        if step > 0:
            p = np.exp(-loss)
            has_p = ~np.isnan(p)
            np.copyto(p, 0.0, where=~has_p)
            self.p_sum += p
            self.p2_sum += p * p
            self.p_count += has_p
            self.right_after += right
            self.present_after += present

        count = int(np.count_nonzero(present))
        accuracy = int(np.count_nonzero(right)) / count if count else float("nan")
        if k >= 1:
            previous = self.accuracy[-1]
            fell = accuracy < previous - 1e-12  # NaN compares False
            if fell or who.size:
                self.regressions.append(
                    Regression(
                        step=step,
                        previous_step=self.steps[-1],
                        accuracy=accuracy,
                        previous_accuracy=previous,
                        forgotten_ids=[example_ids[i] for i in who.tolist()],
                    )
                )
        self.steps.append(step)
        self.accuracy.append(accuracy)
        self.n_present.append(count)

    def _sorted_forgets(self) -> tuple[np.ndarray, np.ndarray]:
        """The forgetting events as (example, snapshot index) arrays, sorted by example then snapshot.

        Kept from one ``result`` to the next and merged with the snapshots appended since: the events
        of a run grow with it (160,000 at 10,000 x 500), and sorting them all again for every live view
        cost ~10 ms there. New events are at later snapshots than every kept one, so each goes right
        after the kept events of its example. The arrays are never changed (``copy`` shares them).
        """
        examples, snapshots, merged = self._forgets_sorted
        if merged < len(self.forgets):
            fresh = self.forgets[merged:]
            new_examples = np.concatenate(fresh).astype(np.int64)
            new_snapshots = np.repeat(np.arange(merged, len(self.forgets), dtype=np.int64), [w.size for w in fresh])
            order = np.lexsort((new_snapshots, new_examples))
            new_examples, new_snapshots = new_examples[order], new_snapshots[order]
            at = np.searchsorted(examples, new_examples, side="right")
            examples, snapshots = np.insert(examples, at, new_examples), np.insert(snapshots, at, new_snapshots)
            self._forgets_sorted = (examples, snapshots, len(self.forgets))
        return examples, snapshots

    def result(self, example_ids: list[str]) -> RunDynamics:
        """The dynamics as of the latest step appended, for ``example_ids`` (at least as many as seen)."""
        n = len(example_ids)
        if n > self.n:
            self._grow(n)
        k_count = len(self.steps)
        steps = np.asarray(self.steps, dtype=np.int64)
        ever_right = self.first_k >= 0
        right_now = (self.last_seen >= 0) & self.last_right
        learned_k = np.where(right_now, self.stretch_k, -1)
        learned_before = np.where(learned_k >= 0, self.stretch_before, -1)
        status_code = np.select(
            [~ever_right, (self.forget_count == 0) & self.right_at_zero, self.forget_count == 0, right_now],
            [4, 0, 1, 2],
            default=3,
        )
        status = np.asarray(STATUSES)[status_code]

        with np.errstate(invalid="ignore", divide="ignore"):
            confidence = self.p_sum / self.p_count
            mean_p2 = self.p2_sum / self.p_count
            variance = mean_p2 - confidence * confidence
            variance[variance < 1e-14] = 0.0  # rounding noise of a constant series, not variability
            variability = np.sqrt(variance)
            aleatoric = np.maximum(confidence - mean_p2, 0.0)
            correctness = self.right_after / self.present_after
        confidence[self.p_count == 0] = np.nan
        variability[self.p_count == 0] = np.nan
        aleatoric[self.p_count == 0] = np.nan
        median_aleatoric = _median_or_nan(aleatoric)
        mapped = ~np.isnan(confidence)
        low_aleatoric = aleatoric <= median_aleatoric
        region = np.select(
            [~mapped, (confidence >= EASY_CONFIDENCE) & low_aleatoric, (confidence <= HARD_CONFIDENCE) & low_aleatoric],
            ["", "easy", "hard"],
            default="ambiguous",
        )

        forget_example, forget_snapshot = self._sorted_forgets()

        has_learned = learned_k >= 0
        learned_step = _step_at(steps, learned_k)
        learned_at = np.bincount(learned_k[has_learned], minlength=k_count).astype(np.int64)
        first_learned_at = np.bincount(self.first_k[ever_right], minlength=k_count).astype(np.int64)
        quantiles: dict[int, float] = {}
        if has_learned.any():
            values = learned_step[has_learned]
            quantiles = {q: float(np.percentile(values, q)) for q in (10, 25, 50, 75, 90)}
        return RunDynamics(
            example_ids=list(example_ids),
            steps=steps,
            accuracy=np.asarray(self.accuracy, dtype=np.float64),
            n_present=np.asarray(self.n_present, dtype=np.int64),
            status=status,
            first_learned=_step_at(steps, self.first_k),
            learned_step=learned_step,
            learned_after=_step_at(steps, learned_before),
            forget_count=self.forget_count.copy(),
            confidence=confidence,
            variability=variability,
            correctness=correctness,
            aleatoric=aleatoric,
            region=region,
            regressions=list(self.regressions),
            learning_speed=LearningSpeed(steps, learned_at, first_learned_at, quantiles),
            forget_example=forget_example,
            forget_snapshot=forget_snapshot,
        )


def _step_at(steps: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The steps of snapshot indices ``k``, -1 where k is -1."""
    if steps.size == 0:
        return np.full(k.shape, NONE, dtype=np.int64)
    return np.where(k >= 0, steps[np.maximum(k, 0)], NONE).astype(np.int64)
