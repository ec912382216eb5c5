"""Statistical tests for the insights, on stdlib math and numpy (the analysis layer has no scipy).

Exact where the counts are small (binomial, Poisson, Fisher's hypergeometric), normal approximations
with continuity correction where they are large; Mann-Whitney U with the tie correction; Holm's step-
down correction for many tests at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _normal_upper(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def binomial_upper(k: int, n: int, p: float = 0.5) -> float:
    """P(X >= k) for X ~ Binomial(n, p): exact up to n = 400, normal with continuity correction above."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if n <= 400:
        logs = [
            math.lgamma(n + 1)
            - math.lgamma(j + 1)
            - math.lgamma(n - j + 1)
            + j * math.log(p)
            + (n - j) * math.log1p(-p)
            for j in range(k, n + 1)
        ]
        top = max(logs)
        return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))
    sd = math.sqrt(n * p * (1 - p))
    return _normal_upper((k - 0.5 - n * p) / sd)


def poisson_upper(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam)."""
    if k <= 0:
        return 1.0
    if lam <= 0:
        return 0.0
    if k > 200:
        return _normal_upper((k - 0.5 - lam) / math.sqrt(lam))
    term = math.exp(-lam)
    below = term
    for j in range(1, k):
        term *= lam / j
        below += term
    return max(0.0, 1.0 - below) if below < 0.999 else _poisson_tail_direct(k, lam)


def _poisson_tail_direct(k: int, lam: float) -> float:
    # Sum the tail itself when 1 - P(X < k) would lose all its digits.
    log_term = -lam + k * math.log(lam) - math.lgamma(k + 1)
    total, j = 0.0, k
    term = math.exp(log_term)
    while term > 1e-300 and j < k + 1000:
        total += term
        j += 1
        term *= lam / j
    return min(1.0, total)


class _LogFactorials:
    """log(i!) for i <= n, grown on demand (Fisher's exact test)."""

    def __init__(self) -> None:
        self.table = np.zeros(1)

    def upto(self, n: int) -> np.ndarray:
        if self.table.shape[0] <= n:
            self.table = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=np.float64)))))
        return self.table


_LOG_FACT = _LogFactorials()


def fisher_exact(a: int, b: int, c: int, d: int, alternative: str = "two-sided") -> float:
    """Fisher's exact test on [[a, b], [c, d]]; ``alternative`` "two-sided" or "greater" (a large)."""
    n = a + b + c + d
    row1, col1 = a + b, a + c
    lf = _LOG_FACT.upto(n)
    lo, hi = max(0, row1 + col1 - n), min(row1, col1)
    x = np.arange(lo, hi + 1)
    logp = (
        lf[row1]
        + lf[n - row1]
        + lf[col1]
        + lf[n - col1]
        - lf[n]
        - lf[x]
        - lf[row1 - x]
        - lf[col1 - x]
        - lf[n - row1 - col1 + x]
    )
    pmf = np.exp(logp)
    if alternative == "greater":
        return float(min(1.0, pmf[x >= a].sum()))
    observed = pmf[a - lo]
    return float(min(1.0, pmf[pmf <= observed * (1 + 1e-7)].sum()))


def average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    first = np.concatenate(([True], sorted_values[1:] != sorted_values[:-1]))
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.concatenate((starts[1:], [values.shape[0]]))
    mean_rank = (starts + ends + 1) / 2.0  # 1-based average of positions start..end-1
    ranks = np.empty(values.shape[0])
    ranks[order] = mean_rank[group]
    return ranks


def mann_whitney(ranks: np.ndarray, in_slice: np.ndarray, tie_term: float) -> float:
    """Two-sided p of the Mann-Whitney U test (normal approximation with tie correction), from the
    pooled average ranks and a mask of the first group."""
    n = ranks.shape[0]
    n1 = int(in_slice.sum())
    n2 = n - n1
    if n1 == 0 or n2 == 0:
        return 1.0
    u = float(ranks[in_slice].sum()) - n1 * (n1 + 1) / 2.0
    mean = n1 * n2 / 2.0
    var = n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))
    if var <= 0:
        return 1.0
    z = (abs(u - mean) - 0.5) / math.sqrt(var)
    return min(1.0, 2.0 * _normal_upper(max(z, 0.0)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down), in the order given."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted
