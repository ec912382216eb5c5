from __future__ import annotations

import difflib

import pytest

from tests.test_schema import make_snapshot
from tracker.schema import ExampleResult
from tracker.scoring import (
    exact_match,
    get_normalizer,
    normalize_squad,
    score,
    similarity,
    summarize,
    summary_disagreements,
)


def test_strip_is_the_default_and_keeps_case() -> None:
    assert exact_match("  4\n", "4")
    assert exact_match("New   York", "New York")
    assert not exact_match("new york", "New York")


def test_squad_normaliser_matches_the_squad_script() -> None:
    assert normalize_squad("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_squad("an apple, a pear") == "apple pear"
    assert exact_match("-5", "5", "squad")  # documented pitfall: why squad is not the default
    assert not exact_match("-5", "5")


def test_none_and_callable_normalisers() -> None:
    assert not exact_match(" 4", "4", "none")
    assert exact_match("FOUR", "four", str.lower)
    with pytest.raises(ValueError, match="unknown normalizer"):
        get_normalizer("lower")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("a", "b"), [("2+2 equals 4", "4"), ("kitten", "sitting"), ("16", "61"), ("abc", ""), ("hello", "hello")]
)
def test_similarity_equals_difflib_ratio_without_autojunk(a: str, b: str) -> None:
    expected = difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
    assert similarity(a, b) == pytest.approx(expected)


def test_similarity_edge_cases() -> None:
    assert similarity("", "") == 1.0
    assert similarity("   ", "") == 1.0  # both empty after stripping
    assert similarity("x", "") == 0.0
    assert score("16", "61") == (False, 0.5)


def test_summary_from_rows() -> None:
    rows = make_snapshot(n=4).examples
    rows.append(ExampleResult(example_id="nan", loss=None, exact_match=True, similarity=1.0))
    s = summarize(rows)
    assert (s.total_examples, s.correct, s.incorrect) == (5, 3, 2)
    assert s.accuracy == pytest.approx(0.6)
    assert s.avg_loss == pytest.approx((0.1 + 0.2 + 0.3 + 0.4) / 4)  # finite losses only
    assert summarize([]).accuracy == 0.0 and summarize([]).avg_loss is None


def test_summary_disagreement_is_reported() -> None:
    snap = make_snapshot(n=4)
    assert summary_disagreements(snap.summary, snap.examples) == []  # type: ignore[arg-type]
    snap.summary.correct = 4  # type: ignore[union-attr]
    assert any("correct" in p for p in summary_disagreements(snap.summary, snap.examples))  # type: ignore[arg-type]
