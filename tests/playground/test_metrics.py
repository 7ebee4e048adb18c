"""Answer metrics, aggregates, disagreements and win rates, table-driven."""

import math

import pandas as pd
import pytest

from studio.errors import PatternError
from studio.playground.metrics import (
    METRIC_KEYS,
    TOOL_METRIC_KEYS,
    aggregate,
    contains,
    disagreements,
    exact_match,
    normalise,
    regex_match,
    score_rows,
    side_by_side,
    similarity,
    wilson_interval,
    win_rate,
)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("  Hello   World \n", "hello world"),
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),  # case-folding, not just lower()
        ("a\tb\r\nc", "a b c"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalise(text, expected):
    assert normalise(text) == expected


@pytest.mark.parametrize(
    "answer,reference,expected",
    [
        ("Paris", "Paris", True),
        ("  paris ", "Paris", True),
        ("Paris.", "Paris", False),
        ("The answer is Paris", "Paris", False),
        ("", "", True),
        ("Paris", None, None),
        (None, "Paris", None),
    ],
)
def test_exact_match(answer, reference, expected):
    assert exact_match(answer, reference) is expected


@pytest.mark.parametrize(
    "answer,needle,expected",
    [
        ("The capital is Paris.", "paris", True),
        ("The capital is   PARIS", "is paris", True),
        ("Lyon", "Paris", False),
        ("anything", "", None),
        ("anything", "   ", None),
        (None, "Paris", None),
    ],
)
def test_contains(answer, needle, expected):
    assert contains(answer, needle) is expected


@pytest.mark.parametrize(
    "answer,pattern,expected",
    [
        ("Order #12345 shipped", r"#\d{5}\b", True),
        ("Order #1234 shipped", r"#\d{5}\b", False),
        ("YES", "(?i)^yes$", True),
        ("answer", "", None),
        (None, "x", None),
    ],
)
def test_regex_match(answer, pattern, expected):
    assert regex_match(answer, pattern) is expected


def test_regex_rejects_backtracking_constructs():
    with pytest.raises(PatternError, match="backreference"):
        regex_match("aa", r"(a)\1")


@pytest.mark.parametrize(
    "answer,reference,expected",
    [
        ("Paris", "paris", 1.0),
        ("abc", "xyz", 0.0),
        ("kitten", "sitting", pytest.approx(0.615, abs=0.001)),  # rapidfuzz ratio: 1 - InDel distance / total length
        ("Hello  world", "hello world", 1.0),
        ("x", None, None),
    ],
)
def test_similarity(answer, reference, expected):
    assert similarity(answer, reference) == expected


def _results():
    return pd.DataFrame(
        {
            "row_index": [0, 0, 1, 1, 2, 2],
            "target": ["base", "ft"] * 3,
            "prompt": ["p0", "p0", "p1", "p1", "p2", "p2"],
            "reference": ["Paris", "Paris", "42", "42", None, None],
            "answer": ["Paris", " paris ", "The answer is 42", "41", "same", None],
            "error": [None, None, None, None, None, "HTTP 500: boom"],
            "tokens_in": [3, 3, 4, 4, 5, None],
            "tokens_out": [1, 1, 4, 1, 1, None],
            "latency_s": [0.1, 0.2, 0.3, 0.4, 0.5, None],
            "cost": [0.001, 0.002, 0.003, 0.004, 0.005, None],
        }
    )


def test_score_rows_adds_one_column_per_metric_and_skips_failed_rows():
    scored = score_rows(_results(), pattern=r"\d+", substring=None)
    assert list(scored.columns[-len(METRIC_KEYS) - len(TOOL_METRIC_KEYS) :]) == [*METRIC_KEYS, *TOOL_METRIC_KEYS]
    assert scored["exact_match"].tolist()[:4] == [True, True, False, False]
    assert scored["contains"].tolist()[:4] == [True, True, True, False]
    assert scored["regex"].tolist()[:5] == [False, False, True, True, False]
    assert scored["length"].tolist()[:4] == [5, 7, 16, 2]
    assert scored.iloc[5][list(METRIC_KEYS)].isna().all()  # the failed row
    assert pd.isna(scored.iloc[4]["exact_match"])  # no reference


def test_contains_uses_the_given_substring_instead_of_the_reference():
    scored = score_rows(_results(), substring="answer")
    assert scored["contains"].tolist()[:5] == [False, False, True, False, False]


def test_aggregate_per_target():
    summary = aggregate(score_rows(_results()), ["base", "ft"]).set_index("target")
    assert summary.loc["base", "rows"] == 3 and summary.loc["base", "errors"] == 0
    assert summary.loc["ft", "errors"] == 1
    assert summary.loc["base", "exact_match"] == pytest.approx(0.5)
    assert summary.loc["ft", "exact_match"] == pytest.approx(0.5)
    assert summary.loc["base", "latency_p50"] == pytest.approx(0.3)
    assert summary.loc["base", "latency_p95"] == pytest.approx(0.48)
    assert summary.loc["base", "cost"] == pytest.approx(0.009)
    assert summary.loc["ft", "cost"] == pytest.approx(0.006)


def test_disagreements_compare_normalised_answers_and_count_failures():
    assert disagreements(_results()) == [1, 2]


def test_side_by_side_has_one_row_per_prompt_and_a_column_per_target():
    table = side_by_side(score_rows(_results()), ["base", "ft"])
    assert list(table.columns) == [
        "row_index",
        "prompt",
        "reference",
        "base",
        "base · similarity",
        "ft",
        "ft · similarity",
    ]
    assert table["ft"].tolist() == [" paris ", "41", "⚠ HTTP 500: boom"]


@pytest.mark.parametrize(
    "successes,n,low,high",
    [
        (0, 0, 0.0, 1.0),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (0, 10, 0.0, 0.2775),
        (81, 100, 0.7222, 0.8749),
    ],
)
def test_wilson_interval(successes, n, low, high):
    assert wilson_interval(successes, n) == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))


def test_win_rate_counts_ties_half_and_leaves_both_bad_out():
    rate = win_rate(["ft", "ft", "base", "tie", "both_bad", "ft"], "ft", "base")
    assert (rate.wins, rate.losses, rate.ties, rate.both_bad, rate.votes) == (3, 1, 1, 1, 6)
    assert rate.rate == pytest.approx(3.5 / 5)
    assert rate.low < rate.rate < rate.high
    assert win_rate([], "ft", "base").rate is None
    assert math.isclose(win_rate(["both_bad"], "a", "b").low, 0.0)
