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

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from evotui.analysis.history import RunHistory

STATUSES: tuple[str, ...] = ("known", "learned", "unstable", "forgotten", "never")
REGIONS: tuple[str, ...] = ("easy", "ambiguous", "hard")
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
    status: np.ndarray  # (N,) str: one of STATUSES
    first_learned: np.ndarray  # (N,) int64 step, -1 none
    learned_step: np.ndarray  # (N,) int64 step, -1 none
    learned_after: np.ndarray  # (N,) int64 step, -1 none: learned in (learned_after, learned_step]
    forget_count: np.ndarray  # (N,) int64
    confidence: np.ndarray  # (N,) float64, NaN without a loss after step 0
    variability: np.ndarray  # (N,) float64
    correctness: np.ndarray  # (N,) float64, NaN without an evaluation after step 0
    aleatoric: np.ndarray  # (N,) float64 mean p(1-p)
    region: np.ndarray  # (N,) str: one of REGIONS or ""
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


def compute_dynamics(history: RunHistory, until_step: int | None = None, keep_matrices: bool = True) -> RunDynamics:
    """Dynamics of a run, from its snapshots up to ``until_step`` (inclusive; None = all of them).

    ``until_step`` gives the run as it was at an earlier snapshot (step travel): statuses are then
    judged against that snapshot, not the latest. ``keep_matrices=False``: the (N, K) matrices built
    for this are not cached in ``history``.
    """
    steps = history.steps_array()
    exact = history.matrix("exact", cache=keep_matrices)
    loss = history.matrix("loss", cache=keep_matrices)
    if until_step is not None:
        k = int(np.searchsorted(steps, until_step, side="right"))
        steps, exact, loss = steps[:k], exact[:, :k], loss[:, :k]
    return dynamics_from_arrays(steps, exact, loss, history.example_ids)


def _first_true(mask: np.ndarray) -> np.ndarray:
    """Per row, the column of the first True, -1 when none."""
    if mask.shape[1] == 0:
        return np.full(mask.shape[0], -1, dtype=np.int64)
    k = np.argmax(mask, axis=1)
    return np.where(mask[np.arange(mask.shape[0]), k], k, -1).astype(np.int64)


def _last_true(mask: np.ndarray) -> np.ndarray:
    """Per row, the column of the last True, -1 when none."""
    first_from_end = _first_true(mask[:, ::-1])
    return np.where(first_from_end >= 0, mask.shape[1] - 1 - first_from_end, -1).astype(np.int64)


def _step_at(steps: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The steps of snapshot indices ``k``, -1 where k is -1."""
    if steps.size == 0:
        return np.full(k.shape, NONE, dtype=np.int64)
    return np.where(k >= 0, steps[np.maximum(k, 0)], NONE).astype(np.int64)


def _median_or_nan(values: np.ndarray) -> float:
    finite = values[~np.isnan(values)]
    return float(np.median(finite)) if finite.size else float("nan")


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
    n, k_count = exact.shape
    ids = [str(i) for i in range(n)] if example_ids is None else list(example_ids)
    if len(ids) != n:
        raise ValueError(f"{len(ids)} example ids for {n} rows")

    present = ~np.isnan(exact)
    right = exact == 1.0  # NaN compares False: a gap is never right
    wrong = present & ~right
    # int32 snapshot indices: half the memory traffic of int64 on (N, K) arrays, and K < 2**31.
    cols = np.arange(k_count, dtype=np.int32)
    rows = np.arange(n)

    # Skip gaps: last_seen[i, k] is the snapshot index of example i's latest *present* value at or
    # before k (-1 when none); a transition at k compares with last_seen[i, k - 1].
    last_seen = np.full((n, k_count), -1, dtype=np.int32)
    forgets = np.zeros((n, k_count), dtype=bool)
    if k_count:
        last_seen = np.maximum.accumulate(np.where(present, cols, np.int32(-1)), axis=1)
        before = last_seen[:, :-1]
        prev_right = np.take_along_axis(right, np.maximum(before, 0), axis=1) & (before >= 0)
        np.logical_and(wrong[:, 1:], prev_right, out=forgets[:, 1:])
    forget_count = forgets.sum(axis=1, dtype=np.int64)
    forget_example, forget_snapshot = np.nonzero(forgets)  # row-major: sorted by example, then step

    first_k = _first_true(right)
    ever_right = first_k >= 0
    first_learned = _step_at(steps, first_k)

    latest_k = _last_true(present)
    right_now = np.zeros(n, dtype=bool)
    if k_count:
        right_now = (latest_k >= 0) & right[rows, np.maximum(latest_k, 0)]
    # learned_step: the first right value after the last wrong one, when the latest is right.
    last_wrong = _last_true(wrong)
    learned_k = np.where(right_now, _first_true(right & (cols[None, :] > last_wrong[:, None])), -1)
    learned_step = _step_at(steps, learned_k)
    before_k = np.full(n, -1, dtype=np.int64)
    if k_count:
        before_k = np.where(learned_k >= 1, last_seen[rows, np.maximum(learned_k - 1, 0)], -1)
    learned_after = _step_at(steps, before_k)

    # Status codes index STATUSES.
    right_at_zero = np.zeros(n, dtype=bool)
    if k_count and steps[0] == 0:
        right_at_zero = right[:, 0]
    status_code = np.select(
        [~ever_right, (forget_count == 0) & right_at_zero, forget_count == 0, right_now],
        [4, 0, 1, 2],
        default=3,
    )
    status = np.asarray(STATUSES)[status_code]

    # Data map over the snapshots after step 0 (or all of them when the run has no step-0 snapshot).
    # Steps ascend, so "after step 0" is a suffix of the columns: a view, not a copy.
    first_after = int(np.searchsorted(steps, 0, side="right"))
    p = np.exp(-loss[:, first_after:])
    p_present = ~np.isnan(p)
    p_count = p_present.sum(axis=1)
    np.copyto(p, 0.0, where=~p_present)
    # One pass for sum p and sum p^2 (einsum: no (N, K) temporary): variance = E[p^2] - E[p]^2, and
    # Data-IQ's aleatoric mean p(1 - p) = E[p] - E[p^2].
    p_sum = p.sum(axis=1)
    p2_sum = np.einsum("ij,ij->i", p, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = p_sum / p_count
        mean_p2 = p2_sum / p_count
        variance = mean_p2 - confidence * confidence
        variance[variance < 1e-14] = 0.0  # rounding noise of a constant series, not variability
        variability = np.sqrt(variance)
        aleatoric = np.maximum(confidence - mean_p2, 0.0)
        correctness = right[:, first_after:].sum(axis=1) / present[:, first_after:].sum(axis=1)
    median_aleatoric = _median_or_nan(aleatoric)
    mapped = ~np.isnan(confidence)
    low_aleatoric = aleatoric <= median_aleatoric
    region = np.select(
        [~mapped, (confidence >= EASY_CONFIDENCE) & low_aleatoric, (confidence <= HARD_CONFIDENCE) & low_aleatoric],
        ["", "easy", "hard"],
        default="ambiguous",
    )

    # Per snapshot: accuracy over the examples present, and regressions against the previous snapshot.
    n_present = present.sum(axis=0).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = right.sum(axis=0) / n_present
    # Forgetting events grouped by snapshot (a stable sort keeps examples in order within one).
    by_snapshot = np.argsort(forget_snapshot, kind="stable")
    bounds = np.searchsorted(forget_snapshot[by_snapshot], np.arange(k_count + 1))
    regressions: list[Regression] = []
    for k in range(1, k_count):
        fell = accuracy[k] < accuracy[k - 1] - 1e-12
        who = forget_example[by_snapshot[bounds[k] : bounds[k + 1]]]
        if not fell and who.size == 0:
            continue
        regressions.append(
            Regression(
                step=int(steps[k]),
                previous_step=int(steps[k - 1]),
                accuracy=float(accuracy[k]),
                previous_accuracy=float(accuracy[k - 1]),
                forgotten_ids=[ids[i] for i in who],
            )
        )

    has_learned = learned_k >= 0
    learned_at = np.bincount(learned_k[has_learned], minlength=k_count).astype(np.int64)
    first_learned_at = np.bincount(first_k[ever_right], minlength=k_count).astype(np.int64)
    quantiles: dict[int, float] = {}
    if has_learned.any():
        values = learned_step[has_learned]
        quantiles = {q: float(np.percentile(values, q)) for q in (10, 25, 50, 75, 90)}

    return RunDynamics(
        example_ids=ids,
        steps=steps,
        accuracy=accuracy,
        n_present=n_present,
        status=status,
        first_learned=first_learned,
        learned_step=learned_step,
        learned_after=learned_after,
        forget_count=forget_count,
        confidence=confidence,
        variability=variability,
        correctness=correctness,
        aleatoric=aleatoric,
        region=region,
        regressions=regressions,
        learning_speed=LearningSpeed(steps, learned_at, first_learned_at, quantiles),
        forget_example=forget_example.astype(np.int64),
        forget_snapshot=forget_snapshot.astype(np.int64),
    )
