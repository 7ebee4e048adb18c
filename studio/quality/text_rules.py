"""Text rules: ``uppercase`` (shouting) and ``regex`` (the user's RE2 pattern, the Dataset page's live filter)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from studio.errors import PatternError
from studio.quality.columns import (
    RuleResult,
    reasons,
    rule_result,
    text_column,
    to_numpy,
    where_labels,
)
from studio.quality.messages import say
from studio.quality.patterns import compile_pattern


def check_uppercase(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    """``uppercase``: more than ``ratio`` of the letters are capitals, with ``min_letters`` or more."""
    n = len(frame)
    ratio = params["ratio"]
    mask = np.zeros(n, dtype=bool)
    reason = np.full(n, None, dtype=object)
    where = np.full(n, None, dtype=object)
    for name in params["fields"]:
        text = text_column(frame, name)
        # Counting capitals is cheap (few matches); counting every letter is not, so count letters only where
        # the capitals could exceed `ratio` of them. Texts under a fifth letters (codes, numbers) are not
        # judged.
        upper = to_numpy(pc.count_substring_regex(text, r"\p{Lu}"), 0).astype(np.int64)
        length = to_numpy(pc.utf8_length(text), 0).astype(np.int64)
        candidates = (upper > ratio * np.maximum(params["min_letters"], length / _MIN_LETTER_SHARE)) & ~mask
        if not candidates.any():
            continue
        positions = np.flatnonzero(candidates)
        letters = to_numpy(pc.count_substring_regex(text.take(pa.array(positions)), r"\p{L}"), 0).astype(np.int64)
        share = upper[positions] / np.maximum(letters, 1)
        hit = (letters >= params["min_letters"]) & (letters * _MIN_LETTER_SHARE >= length[positions]) & (share > ratio)
        flagged = positions[hit]
        mask[flagged] = True
        where[flagged] = name
        labels = where_labels(frame, name, flagged)
        reason[flagged] = [
            say("uppercase", percent=round(s * 100), where=label) for s, label in zip(share[hit], labels, strict=True)
        ]
    return rule_result(frame, mask, reasons(frame, reason), pd.Series(where, index=frame.index, dtype=object))


_MIN_LETTER_SHARE = 5  # judge a text only when at least 1 in 5 of its characters is a letter


def check_regex(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    """``regex``: the RE2 ``pattern`` matches in one of ``fields`` (:class:`PatternError` if empty)."""
    pattern = params["pattern"]
    if not pattern:
        raise PatternError("rule 'regex' needs a pattern")
    safe = compile_pattern(pattern, ignore_case=params["ignore_case"])
    n = len(frame)
    mask = np.zeros(n, dtype=bool)
    where = np.full(n, None, dtype=object)
    for name in params["fields"]:
        hit = safe.mask(frame[name]).to_numpy() & ~mask if name in frame.columns else np.zeros(n, dtype=bool)
        mask |= hit
        where[hit] = name
    reason = np.full(n, None, dtype=object)
    positions = np.flatnonzero(mask)
    labels = np.empty(len(positions), dtype=object)
    for name in set(where[mask]):
        mine = where[mask] == name
        labels[mine] = where_labels(frame, name, positions[mine])
    reason[mask] = [say("regex", pattern=pattern, where=label) for label in labels]
    return rule_result(frame, mask, reasons(frame, reason), pd.Series(where, index=frame.index, dtype=object))


# -- parameters ----------------------------------------------------------------------------------------------
