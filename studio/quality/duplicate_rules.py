"""Duplicate rules: ``exact_duplicate``, ``normalized_duplicate``, ``near_duplicate`` and ``duplicate_prompt``
(same question, different answer). The grouping itself is
:mod:`studio.quality.duplicates` and :mod:`studio.quality.near_duplicates`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from studio.quality import duplicates, near_duplicates
from studio.quality.columns import (
    RuleResult,
    flagged_text,
    ids_text,
    rule_result,
)
from studio.quality.messages import say_column


def check_exact(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    """``exact_duplicate``: every turn equals an earlier example; ``group`` is the first one's id."""
    return exact_result(frame, duplicates.exact_groups(frame))


def exact_result(frame: pd.DataFrame, groups: pd.Series) -> RuleResult:
    """``exact_duplicate``'s findings from every row's group (the id of its group's first row)."""
    mask = duplicates.repeats_earlier(frame, groups).to_numpy()
    reason = flagged_text(frame, mask, say_column("exact", id=ids_text(frame, groups)))
    return rule_result(frame, mask, reason, "all", groups)


def check_normalized(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    """``normalized_duplicate``: equal to an earlier example ignoring case, spacing, accents."""
    return normalized_result(frame, duplicates.normalized_groups(frame))


def normalized_result(frame: pd.DataFrame, groups: pd.Series) -> RuleResult:
    """``normalized_duplicate``'s findings from every row's group (the id of its group's first row)."""
    mask = duplicates.repeats_earlier(frame, groups).to_numpy()
    reason = flagged_text(frame, mask, say_column("normalized", id=ids_text(frame, groups)))
    return rule_result(frame, mask, reason, "all", groups)


def check_near(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    """``near_duplicate``: every member of a cluster at least ``threshold`` similar on ``fields``."""
    threshold = params["threshold"]
    found = near_duplicates.near_duplicates(
        frame, threshold=threshold, fields=tuple(params["fields"]), max_bucket=params["max_bucket"]
    )
    clusters = found.clusters
    mask = duplicates.duplicated_mask(clusters).to_numpy()
    sizes = clusters.map(clusters.value_counts()).astype("string")
    reason = flagged_text(
        frame, mask, say_column("near", cluster=ids_text(frame, clusters), size=sizes, threshold=f"{threshold:g}")
    )
    result = rule_result(frame, mask, reason, ",".join(params["fields"]), clusters)
    return replace(result, note=found.note) if found.note else result


def check_duplicate_prompt(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    """The prompt — the whole conversation before the last assistant turn — repeats an earlier example's, and
    the answer differs."""
    keys = duplicates.part_keys(frame)
    first = duplicates.prompt_groups(frame)
    return prompt_result(frame, first, duplicates.digest_codes(keys["answer"]), keys["user_blank"])


def prompt_result(
    frame: pd.DataFrame, first: pd.Series, answer_codes: np.ndarray, user_blank: np.ndarray
) -> RuleResult:
    """``duplicate_prompt``'s findings from every row's prompt group (``first``: the id of its first row), a code
    per folded answer and whether the user turn is blank."""
    prompt_codes = pd.factorize(first.to_numpy())[0]
    repeated_prompt = pd.Series(prompt_codes).duplicated().to_numpy()
    repeated_pair = pd.DataFrame({"u": prompt_codes, "a": answer_codes}).duplicated().to_numpy()
    mask = repeated_prompt & ~repeated_pair & ~user_blank
    reason = flagged_text(frame, mask, say_column("duplicate_prompt", id=ids_text(frame, first)))
    return rule_result(frame, mask, reason, "user", first.where(pd.Series(mask, index=frame.index)))
