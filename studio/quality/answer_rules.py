"""Answer rules: ``empty`` (a required turn missing or blank), ``too_short`` and ``truncated`` (the answer looks
cut off: an ellipsis, a trailing connector word or Spanish gerund, or no final punctuation)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from studio.quality.columns import (
    RuleResult,
    blank,
    escape_word,
    flagged_text,
    matches,
    reasons,
    rule_result,
    text_column,
    to_numpy,
    where_labels,
)
from studio.quality.messages import say, say_column

# Words that cannot end a finished sentence. Lower case only, so "vitamin A" or "Plan B" are not connectors.
_CONNECTORS_EN = (
    "and or but nor so yet the a an of to with without for from in on at by as than because which "
    "that who whose whom if when while although though unless until into onto about like such is are "
    "was were be your their its my our this these"
)
_CONNECTORS_ES = (
    "y e o u ni pero sino aunque porque pues que cual cuando donde como si de del al a en con sin "
    "para por sobre entre hasta desde hacia según la el lo los las un una unos unas su sus tu mi es "
    "son muy más menos"
)
CONNECTORS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "en": tuple(_CONNECTORS_EN.split()),
        "es": tuple(_CONNECTORS_ES.split()),
    }
)
# Spanish gerunds ("causando", "produciendo", "incluyendo") leave a clause hanging.
_GERUND = r"\p{L}{2,}(?:ando|iendo|yendo)"


def check_empty(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    """``empty``: no or blank user turn or answer; an answer made only of tool calls is not empty."""
    user, answer = text_column(frame, "user"), text_column(frame, "assistant")
    user_missing = to_numpy(pc.is_null(user)).astype(bool)
    answer_missing = to_numpy(pc.is_null(answer)).astype(bool)
    user_blank, answer_blank = blank(user), blank(answer)
    answer_blank &= ~_tool_call_answers(frame, answer_blank)
    mask = user_blank | answer_blank
    reason = np.full(len(frame), None, dtype=object)
    field = np.full(len(frame), "user", dtype=object)
    reason[user_blank] = np.where(user_missing[user_blank], say("no_user"), say("user_blank"))
    only_answer = answer_blank & ~user_blank
    field[only_answer] = "assistant"
    reason[only_answer] = np.where(answer_missing[only_answer], say("no_answer"), say("answer_blank"))
    both = answer_blank & user_blank
    reason[both] = say("both_blank")
    return rule_result(frame, mask, reasons(frame, reason), pd.Series(field, index=frame.index))


def _tool_call_answers(frame: pd.DataFrame, candidates: np.ndarray) -> np.ndarray:
    """Among ``candidates``, rows whose last assistant message has ``tool_calls`` (not an empty answer)."""
    out = np.zeros(len(frame), dtype=bool)
    if "messages" not in frame.columns:
        return out
    for position in np.flatnonzero(candidates):
        messages = frame["messages"].iat[position]
        if not isinstance(messages, list | tuple):
            continue
        answers = [m for m in messages if isinstance(m, Mapping) and m.get("role") == "assistant"]
        out[position] = bool(answers and answers[-1].get("tool_calls"))
    return out


def check_too_short(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    """``too_short``: a non-blank answer under ``min_chars`` characters (after trimming)."""
    minimum = params["min_chars"]
    stripped = pc.utf8_trim_whitespace(text_column(frame, "assistant"))
    lengths = to_numpy(pc.utf8_length(stripped), 0).astype(np.int64)
    mask = (lengths > 0) & (lengths < minimum)
    text = pd.Series(lengths, index=frame.index).astype(str)
    reason = flagged_text(frame, mask, say_column("too_short", chars=text, minimum=minimum))
    return rule_result(frame, mask, reason, "assistant")


_ELLIPSIS = r"(?:…|\.\.\.+)[\"'”’»)\]]*$"
_FINISHED = (
    # terminal punctuation, possibly followed by closing quotes/brackets or markdown emphasis
    r"[.!?。！？‼⁉؟।][\"'”’»)\]}*_]*$",
    r"(?:https?://|www\.)[^\s]+$",  # a URL
    r"(?:^|\n)[ \t]*(?:[-*•+]|\d{1,3}[.)]|[a-zA-Z][.)])[ \t]+[^\n]*$",  # the last line is a list item
    r"\|$",  # a table row
    r"```[^\n`]*$|`$",  # a code block or inline code
    r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]$",  # CJK text needs no Latin full stop
    r"[\p{So}\x{FE0F}\x{200D}\x{1F3FB}-\x{1F3FF}]$",  # emoji and other symbols
)


def _connector_regex(languages: Sequence[str]) -> str:
    words = sorted({w for lang in languages for w in CONNECTORS.get(lang, ())}, key=len, reverse=True)
    alternatives = "|".join(escape_word(w) for w in words)
    gerund = f"|{_GERUND}" if "es" in languages else ""
    return rf"(?:^|[^\p{{L}}\p{{N}}])(?:{alternatives}{gerund})$"


def check_truncated(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    """``truncated``: the answer ends with an ellipsis, a connector word of ``languages``, or mid-sentence."""
    languages = tuple(params["languages"])
    unknown = [lang for lang in languages if lang not in CONNECTORS]
    if unknown:
        raise ValueError(f"rule 'truncated': no connector list for language {unknown[0]!r}")
    text = pc.utf8_rtrim_whitespace(text_column(frame, "assistant"))
    lengths = to_numpy(pc.utf8_length(text), 0).astype(np.int64)
    ellipsis = matches(text, _ELLIPSIS)
    connector = matches(text, _connector_regex(languages)) & ~ellipsis
    finished = matches(text, "|".join(f"(?:{regex})" for regex in _FINISHED))  # one pass for every ending
    mid_sentence = (lengths >= params["min_chars"]) & ~finished & ~ellipsis & ~connector
    mask = ellipsis | connector | mid_sentence
    reason = np.full(len(frame), None, dtype=object)
    reason[ellipsis] = say("ellipsis")
    reason[mid_sentence] = say("mid_sentence")
    if connector.any():
        positions = np.flatnonzero(connector)
        tails = text.take(pa.array(positions))
        words = pc.struct_field(pc.extract_regex(tails, r"(?P<w>\p{L}+)$"), [0]).to_pylist()
        reason[positions] = [say("connector", word=w) for w in words]
    return rule_result(frame, mask, reasons(frame, reason), "assistant")


# -- duplicates ----------------------------------------------------------------------------------------------


def check_empty_turns(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    """``empty`` over whole conversations: the last user or assistant turn missing or blank (as
    :func:`check_empty`), or any earlier trained assistant turn blank without a tool call."""
    from studio.quality.turn_scope import answer_turns

    last = check_empty(frame, params)
    mask = last.mask.to_numpy(dtype=bool).copy()
    reason = last.reason.to_numpy(dtype=object).copy()
    field = (
        last.field.to_numpy(dtype=object).copy()
        if isinstance(last.field, pd.Series)
        else np.full(len(frame), last.field, dtype=object)
    )
    turn = _last_turns(frame, field, mask)
    turns = answer_turns(frame)
    if len(turns):
        blank_turn = blank(text_column(turns, "assistant")) & ~turns["has_tool_calls"].to_numpy(dtype=bool)
        hit = np.flatnonzero(blank_turn & ~mask[turns["example"].to_numpy()])
        hit = hit[~pd.Series(turns["example"].to_numpy()[hit]).duplicated().to_numpy()]
        labels = where_labels(turns, "assistant", hit)
        examples = turns["example"].to_numpy()[hit]
        turn[examples] = turns["turn"].to_numpy()[hit]
        for example, where in zip(examples, labels, strict=True):
            mask[example] = True
            field[example] = "assistant"
            reason[example] = say("in_turn", at=where, finding=say("answer_blank"))
    return rule_result(frame, mask, reasons(frame, reason), pd.Series(field, index=frame.index), turn=turn)


def _last_turns(frame: pd.DataFrame, field: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per row, the index of the last turn of role ``field`` where ``mask`` (the blank turn the finding is about),
    -1 where none (not flagged, or the turn is missing)."""
    out = np.full(len(frame), -1, dtype=np.int64)
    for position in np.flatnonzero(mask):
        messages = frame["messages"].iat[position]
        role = field[position]
        for index, message in enumerate(messages if isinstance(messages, list) else []):
            if isinstance(message, Mapping) and message.get("role") == role:
                out[position] = index
    return out
