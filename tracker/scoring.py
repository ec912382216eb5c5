"""Scoring a model output against the expected output, and summarising a snapshot.

exact_match is equality after a normaliser; similarity is the normalised Indel similarity of the two
normalised strings (rapidfuzz; equal to difflib's 2M/T ratio without autojunk), 1.0 for two empty
strings. Imports no torch.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable, Iterable
from typing import Literal, Union

from tracker.schema import ExampleResult, Summary

NormalizerName = Literal["strip", "squad", "none"]
Normalizer = Union[NormalizerName, Callable[[str], str]]  # noqa: UP007 (py3.10 runtime alias)


def normalize_strip(text: str) -> str:
    """Trim and collapse runs of whitespace; case and punctuation kept (the default)."""
    return " ".join(text.split())


_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_squad(text: str) -> str:
    """The SQuAD v1.1 evaluation script's normaliser: lower, drop punctuation and articles, collapse.

    Beware: it turns "-5" into "5", which is wrong for arithmetic; hence not the default.
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def normalize_none(text: str) -> str:
    return text


_NORMALIZERS: dict[str, Callable[[str], str]] = {
    "strip": normalize_strip,
    "squad": normalize_squad,
    "none": normalize_none,
}


def get_normalizer(normalizer: Normalizer = "strip") -> Callable[[str], str]:
    if callable(normalizer):
        return normalizer
    try:
        return _NORMALIZERS[normalizer]
    except KeyError:
        raise ValueError(
            f"unknown normalizer {normalizer!r}: use one of {sorted(_NORMALIZERS)} or a callable"
        ) from None


def _indel_similarity(a: str, b: str) -> float:
    # rapidfuzz is imported on the first score, not with this module: the viewer imports it to check stored
    # summaries (``summary_disagreements``) on a cold start's critical path, where rapidfuzz was ~7 ms.
    from rapidfuzz.distance import Indel

    return float(Indel.normalized_similarity(a, b))


def similarity(prediction: str, expected: str, normalizer: Normalizer = "strip") -> float:
    norm = get_normalizer(normalizer)
    a, b = norm(prediction), norm(expected)
    if not a and not b:
        return 1.0
    return _indel_similarity(a, b)


def exact_match(prediction: str, expected: str, normalizer: Normalizer = "strip") -> bool:
    norm = get_normalizer(normalizer)
    return norm(prediction) == norm(expected)


def score(prediction: str, expected: str, normalizer: Normalizer = "strip") -> tuple[bool, float]:
    """(exact_match, similarity), normalising each string once."""
    norm = get_normalizer(normalizer)
    a, b = norm(prediction), norm(expected)
    if not a and not b:
        return True, 1.0
    return a == b, _indel_similarity(a, b)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def summarize(rows: Iterable[ExampleResult]) -> Summary:
    """The Summary of a snapshot's rows. avg_loss is over finite losses only (None when there are none)."""
    total = correct = 0
    loss_sum = 0.0
    loss_n = 0
    sim_sum = 0.0
    for row in rows:
        total += 1
        correct += bool(row.exact_match)
        sim_sum += row.similarity
        if _finite(row.loss):
            loss_sum += row.loss  # type: ignore[operator]
            loss_n += 1
    return Summary(
        avg_loss=loss_sum / loss_n if loss_n else None,
        accuracy=correct / total if total else 0.0,
        total_examples=total,
        correct=correct,
        incorrect=total - correct,
        avg_similarity=sim_sum / total if total else None,
    )


def summary_disagreements(summary: Summary, rows: list[ExampleResult]) -> list[str]:
    """What a file's stored summary says that its rows do not (empty when they agree)."""
    computed = summarize(rows)
    problems: list[str] = []
    if summary.total_examples != computed.total_examples:
        problems.append(f"summary says {summary.total_examples} examples, rows have {computed.total_examples}")
    if summary.correct != computed.correct:
        problems.append(f"summary says {summary.correct} correct, rows have {computed.correct}")
    if abs(summary.accuracy - computed.accuracy) > 1e-6:
        problems.append(f"summary accuracy {summary.accuracy:.4f}, rows give {computed.accuracy:.4f}")
    return problems
