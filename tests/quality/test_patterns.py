"""Safe user regexes: RE2 syntax, errors with positions, linear time on hostile patterns."""

from __future__ import annotations

import pandas as pd
import pytest

from studio.data.frame import TEXT
from studio.errors import PatternError
from studio.quality.patterns import SYNTAX_HELP, compile_pattern, match_mask, replace_all


@pytest.mark.parametrize(
    "pattern,message",
    [
        ("(fever", "invalid pattern at position 0: missing )"),
        ("fever)", "invalid pattern at position 5: unexpected )"),
        ("fe**ver", "invalid pattern at position 3: bad repetition operator: **"),
        ("[z-a]", "invalid pattern at position 1: invalid character class range: z-a"),
        ("a{3,1}", "invalid pattern at position 2: invalid repetition size: {3,1}"),
        ("cough(?=ing)", "lookahead/lookbehind '(?=' at position 5 is not supported"),
        ("(?<!no )fever", "lookahead/lookbehind '(?<!' at position 0 is not supported"),
        (r"(a)\1", r"backreference '\\1' at position 3 is not supported"),
        ("(?P<x>a)(?P=x)", "named backreference '(?P=x)' at position 8 is not supported"),
        ("", "the pattern is empty"),
    ],
)
def test_invalid_patterns_name_the_position(pattern, message):
    with pytest.raises(PatternError) as info:
        compile_pattern(pattern)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "pattern,text,ignore_case,expected",
    [
        (r"\bfiebre\b", "Tengo fiebre alta", False, True),
        (r"\p{Lu}{3,}", "tengo FIEBRE", False, True),
        ("FIEBRE", "tengo fiebre", False, False),
        ("FIEBRE", "tengo fiebre", True, True),
        ("(?i)fiebre", "FIEBRE", False, True),
        (r"\\1", r"a literal \1 here", False, True),  # an escaped backslash is not a backreference
        ("^Answer:", "Question: x\nAnswer: y", False, False),
        ("(?m)^Answer:", "Question: x\nAnswer: y", False, True),
    ],
)
def test_supported_syntax(pattern, text, ignore_case, expected):
    compiled = compile_pattern(pattern, ignore_case=ignore_case)
    assert compiled.search(text) is expected
    assert match_mask(pd.Series([text], dtype=TEXT), compiled).tolist() == [expected]


def test_match_mask_over_frame_fields_treats_missing_as_no_match():
    frame = pd.DataFrame(
        {
            "user": pd.Series(["fever?", None, "cough"], dtype=TEXT),
            "assistant": pd.Series([None, "no fever", "rest"], dtype=TEXT),
        }
    )
    assert match_mask(frame, "fever", fields=["user"]).tolist() == [True, False, False]
    assert match_mask(frame, "fever", fields=["user", "assistant"]).tolist() == [True, True, False]
    with pytest.raises(PatternError, match="no column 'system'"):
        match_mask(frame, "fever", fields=["system"])


def test_match_mask_accepts_numpy_backed_strings():
    assert match_mask(pd.Series(["a1", None, 3], dtype=object), r"\d").tolist() == [True, False, True]


def test_replace_uses_re2_group_syntax():
    values = pd.Series(["call 555-1234", None], dtype=TEXT)
    out = replace_all(values, compile_pattern(r"(\d{3})-(\d{4})"), r"\2-\1")
    assert out.tolist()[0] == "call 1234-555" and out.isna().tolist() == [False, True]
    with pytest.raises(PatternError, match="invalid replacement"):
        replace_all(values, compile_pattern(r"(\d+)"), r"\2")


@pytest.mark.timeout(20)
def test_catastrophic_pattern_runs_in_linear_time():
    # (a+)+$ takes exponential time in a backtracking engine on this input; RE2 finishes in milliseconds.
    # The generous pytest timeout is the bound, not a timing assertion.
    hostile = pd.Series(["a" * 5_000 + "!"] * 2_000 + ["a" * 30], dtype=TEXT)
    mask = match_mask(hostile, "(a+)+$")
    assert mask.sum() == 1 and bool(mask.iloc[-1])
    assert compile_pattern("(x+x+)+y").search("x" * 50_000) is False


def test_syntax_help_mentions_what_is_missing():
    assert "backreferences" in SYNTAX_HELP and "lookahead" in SYNTAX_HELP
