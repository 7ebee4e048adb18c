"""Data-quality rules: one registry, each rule a vectorised check giving a mask and a human reason per row.

``analyze(frame)`` runs them and returns every finding at once (pandera's lazy validation): an ``issues``
table ``[id, rule, field, message, cluster_id]``, a ``flags`` frame with one boolean column per rule (indexed
like the input, for filtering a grid), and ``counts``. The input frame is never modified.

Rules read the canonical text columns (``system``/``user``/``assistant``: first system, last user, last
assistant turn). Checks work on whole pyarrow columns; Python only touches the few rows a regex already
picked out (tool-call look-ups, Luhn and DNI checksums).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from studio.quality import duplicates

from studio.quality import patterns
from studio.data.frame import TEXT, TEXT_FIELDS
from studio.errors import PatternError
from studio.quality.patterns import arrow_strings, compile_pattern

ALL_TEXT = TEXT_FIELDS
BLOCKLIST_DIR = Path(__file__).with_name("blocklist")
# Words that cannot end a finished sentence. Lower case only, so "vitamin A" or "Plan B" are not connectors.
CONNECTORS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "en": tuple(
            "and or but nor so yet the a an of to with without for from in on at by as than because which "
            "that who whose whom if when while although though unless until into onto about like such is are "
            "was were be your their its my our this these".split()
        ),
        "es": tuple(
            "y e o u ni pero sino aunque porque pues que cual cuando donde como si de del al a en con sin "
            "para por sobre entre hasta desde hacia según la el lo los las un una unos unas su sus tu mi es "
            "son muy más menos".split()
        ),
    }
)
# Spanish gerunds ("causando", "produciendo", "incluyendo") leave a clause hanging.
_GERUND = r"\p{L}{2,}(?:ando|iendo|yendo)"

Reason = pd.Series
Check = Callable[[pd.DataFrame, Mapping[str, Any]], "RuleResult"]


@dataclass(frozen=True)
class RuleResult:
    """What one rule found: ``mask`` (bool) and ``reason`` (string, NA where not flagged), indexed like the
    frame.

    ``field`` names the text field a finding is about (one per row, or one for all); ``group`` carries the
    duplicate group / near-duplicate cluster id per row for the duplicate rules. Unpacks as ``mask, reason``.
    """

    mask: pd.Series
    reason: pd.Series
    field: pd.Series | str
    group: pd.Series | None = None

    def __iter__(self) -> Iterator[pd.Series]:
        yield self.mask
        yield self.reason


@dataclass(frozen=True)
class Rule:
    """A registered rule: stable ``key``, fields it reads, default ``params``, EN/ES descriptions, check."""

    key: str
    fields: tuple[str, ...]
    description_en: str
    description_es: str
    check: Check
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def description(self, lang: str = "en") -> str:
        return self.description_es if lang == "es" else self.description_en

    def resolve(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults updated with ``overrides``; unknown names and wrong types raise ``ValueError``."""
        resolved = dict(self.params)
        for name, value in (overrides or {}).items():
            if name not in self.params:
                allowed = ", ".join(self.params) or "none"
                raise ValueError(f"rule {self.key!r} has no parameter {name!r} (parameters: {allowed})")
            resolved[name] = _coerce(self.key, name, self.params[name], value)
        return resolved

    def run(self, frame: pd.DataFrame, **params: Any) -> RuleResult:
        """Run the check on ``frame`` with defaults updated by ``params``."""
        return self.check(frame, self.resolve(params))


class RuleRegistry(Sequence[Rule]):
    """The rules in display order; also indexable by key (``RULES["empty"]``)."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules = tuple(rules)
        self._by_key = {rule.key: rule for rule in self._rules}

    def __getitem__(self, item):  # type: ignore[override]
        if isinstance(item, str):
            try:
                return self._by_key[item]
            except KeyError:
                raise KeyError(f"unknown rule {item!r}; rules are {', '.join(self._by_key)}") from None
        return self._rules[item]

    def __len__(self) -> int:
        return len(self._rules)

    def __contains__(self, item: object) -> bool:
        return item in self._by_key if isinstance(item, str) else item in self._rules

    def keys(self) -> tuple[str, ...]:
        return tuple(self._by_key)


@dataclass(frozen=True)
class Analysis:
    """Every finding of :func:`analyze`.

    - ``issues``: one row per (example, rule) finding: ``id``, ``rule``, ``field``, ``message``,
      ``cluster_id`` (the duplicate group for ``exact_duplicate``, ``normalized_duplicate`` and
      ``duplicate_prompt``, the cluster for ``near_duplicate``: the id of the group's first example).
    - ``flags``: indexed like the input; one bool column per rule that ran, ``cluster_id`` (Int64, the
      near-duplicate cluster of every row, NA when near_duplicate did not run), and ``exact_group`` /
      ``normalized_group`` (Int64, every row's duplicate group) when those rules ran.
    - ``counts``: flagged rows per rule; for the duplicate rules, rows that repeat an earlier row.
    """

    issues: pd.DataFrame
    flags: pd.DataFrame
    counts: Mapping[str, int]
    rules: tuple[str, ...]


def analyze(
    frame: pd.DataFrame,
    *,
    rules: Sequence[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> Analysis:
    """Run ``rules`` (default: all, ``regex`` only when given a pattern) over ``frame``; never mutates it."""
    params = dict(params or {})
    for key in params:
        if key not in RULES:
            raise ValueError(
                f"parameters given for unknown rule {key!r}; rules are {', '.join(RULES.keys())}"
            )
    if rules is None:
        keys = [k for k in RULES.keys() if k != "regex" or params.get("regex", {}).get("pattern")]
    else:
        keys = list(dict.fromkeys(rules))
        unknown = [k for k in keys if k not in RULES]
        if unknown:
            raise ValueError(f"unknown rule {unknown[0]!r}; rules are {', '.join(RULES.keys())}")
    resolved = {key: RULES[key].resolve(params.get(key)) for key in keys}

    ids = frame["id"].to_numpy()
    flags = pd.DataFrame(index=frame.index)
    issues = []
    counts: dict[str, int] = {}
    with duplicates.fold_cache():
        for key in keys:
            result = RULES[key].check(frame, resolved[key])
            mask = result.mask.to_numpy(dtype=bool)
            flags[key] = mask
            counts[key] = int(mask.sum())
            if key == "near_duplicate":
                flags["cluster_id"] = result.group
            elif key in ("exact_duplicate", "normalized_duplicate"):
                flags[key.replace("duplicate", "group")] = result.group
            positions = np.flatnonzero(mask)
            field_values = (
                result.field.to_numpy()[positions] if isinstance(result.field, pd.Series) else result.field
            )
            group = (
                result.group.to_numpy()[positions]
                if result.group is not None
                else pd.array([pd.NA] * len(positions), dtype="Int64")
            )
            issues.append(
                pd.DataFrame(
                    {
                        "id": ids[positions],
                        "rule": key,
                        "field": field_values,
                        "message": result.reason.to_numpy()[positions],
                        "cluster_id": pd.array(group, dtype="Int64"),
                    }
                )
            )
    if "cluster_id" not in flags:
        flags["cluster_id"] = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    table = pd.concat(issues, ignore_index=True) if issues else pd.DataFrame(columns=_ISSUE_COLUMNS)
    table = table.astype({"id": "int64", "rule": TEXT, "field": TEXT, "message": TEXT, "cluster_id": "Int64"})
    return Analysis(issues=table[list(_ISSUE_COLUMNS)], flags=flags, counts=counts, rules=tuple(keys))


_ISSUE_COLUMNS = ("id", "rule", "field", "message", "cluster_id")


# -- column helpers ------------------------------------------------------------------------------------------


def _text(frame: pd.DataFrame, name: str) -> pa.ChunkedArray:
    if name not in frame.columns:
        return pa.chunked_array([pa.nulls(len(frame), type=pa.large_string())])
    return arrow_strings(frame[name])


def _np(array: pa.ChunkedArray | pa.Array, fill: Any = False) -> np.ndarray:
    return pc.fill_null(array, fill).to_numpy(zero_copy_only=False)


_FEW_ROWS = 64
"""Up to this many rows (a re-check after a cell edit) a compiled RE2 pattern is faster than pyarrow's kernel,
which compiles the pattern again on every call (~3 ms for the long rule patterns)."""


def _matches(text: pa.ChunkedArray, regex: str) -> np.ndarray:
    if len(text) <= _FEW_ROWS:
        compiled = patterns._re2(regex)
        return np.array([v is not None and compiled.search(v) is not None for v in text.to_pylist()], dtype=bool)
    return _np(pc.match_substring_regex(text, regex)).astype(bool)


def _blank(text: pa.ChunkedArray) -> np.ndarray:
    return _np(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0), True).astype(bool)


def _reasons(frame: pd.DataFrame, values: np.ndarray | None = None) -> pd.Series:
    data = values if values is not None else [pd.NA] * len(frame)
    return pd.Series(pd.array(data, dtype=TEXT), index=frame.index)


def _where(frame: pd.DataFrame, mask: np.ndarray, text: pd.Series | str) -> pd.Series:
    """``text`` on flagged rows, NA elsewhere."""
    base = text if isinstance(text, pd.Series) else pd.Series(text, index=frame.index, dtype=TEXT)
    return base.astype(TEXT).where(pd.Series(mask, index=frame.index))


def _ids_text(frame: pd.DataFrame, group: pd.Series) -> pd.Series:
    return group.astype("string").astype(TEXT)


def _result(frame: pd.DataFrame, mask: np.ndarray, reason: pd.Series, field: pd.Series | str, group=None):
    return RuleResult(
        mask=pd.Series(mask, index=frame.index, dtype=bool), reason=reason, field=field, group=group
    )


def _escape(word: str) -> str:
    escaped = re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", word.strip())
    return re.sub(r"\s+", r"\\s+", escaped)


# -- empty / too_short / truncated ---------------------------------------------------------------------------


def _check_empty(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    user, answer = _text(frame, "user"), _text(frame, "assistant")
    user_missing = _np(pc.is_null(user)).astype(bool)
    answer_missing = _np(pc.is_null(answer)).astype(bool)
    user_blank, answer_blank = _blank(user), _blank(answer)
    answer_blank &= ~_tool_call_answers(frame, answer_blank)
    mask = user_blank | answer_blank
    reason = np.full(len(frame), None, dtype=object)
    field = np.full(len(frame), "user", dtype=object)
    reason[user_blank] = np.where(user_missing[user_blank], "no user turn", "the user turn is blank")
    only_answer = answer_blank & ~user_blank
    field[only_answer] = "assistant"
    reason[only_answer] = np.where(answer_missing[only_answer], "no assistant turn", "the answer is blank")
    both = answer_blank & user_blank
    reason[both] = "the user turn and the answer are both missing or blank"
    return _result(frame, mask, _reasons(frame, reason), pd.Series(field, index=frame.index))


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


def _check_too_short(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    minimum = params["min_chars"]
    stripped = pc.utf8_trim_whitespace(_text(frame, "assistant"))
    lengths = _np(pc.utf8_length(stripped), 0).astype(np.int64)
    mask = (lengths > 0) & (lengths < minimum)
    text = pd.Series(lengths, index=frame.index).astype(str)
    reason = _where(frame, mask, "the answer has " + text + f" characters (minimum {minimum})")
    return _result(frame, mask, reason, "assistant")


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
    alternatives = "|".join(_escape(w) for w in words)
    gerund = f"|{_GERUND}" if "es" in languages else ""
    return rf"(?:^|[^\p{{L}}\p{{N}}])(?:{alternatives}{gerund})$"


def _check_truncated(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    languages = tuple(params["languages"])
    unknown = [lang for lang in languages if lang not in CONNECTORS]
    if unknown:
        raise ValueError(f"rule 'truncated': no connector list for language {unknown[0]!r}")
    text = pc.utf8_rtrim_whitespace(_text(frame, "assistant"))
    lengths = _np(pc.utf8_length(text), 0).astype(np.int64)
    ellipsis = _matches(text, _ELLIPSIS)
    connector = _matches(text, _connector_regex(languages)) & ~ellipsis
    finished = np.zeros(len(frame), dtype=bool)
    for regex in _FINISHED:
        finished |= _matches(text, regex)
    mid_sentence = (lengths >= params["min_chars"]) & ~finished & ~ellipsis & ~connector
    mask = ellipsis | connector | mid_sentence
    reason = np.full(len(frame), None, dtype=object)
    reason[ellipsis] = "the answer ends with an ellipsis"
    reason[mid_sentence] = "the answer ends mid-sentence (no final punctuation)"
    if connector.any():
        positions = np.flatnonzero(connector)
        tails = text.take(pa.array(positions))
        words = pc.struct_field(pc.extract_regex(tails, r"(?P<w>\p{L}+)$"), [0]).to_pylist()
        reason[positions] = [f"the answer ends with the connector word {w!r}" for w in words]
    return _result(frame, mask, _reasons(frame, reason), "assistant")


# -- duplicates ----------------------------------------------------------------------------------------------


def _check_exact(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    groups = duplicates.exact_groups(frame)
    mask = duplicates.repeats_earlier(frame, groups).to_numpy()
    reason = _where(frame, mask, "exact copy of example " + _ids_text(frame, groups))
    return _result(frame, mask, reason, "all", groups)


def _check_normalized(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    groups = duplicates.normalized_groups(frame)
    mask = duplicates.repeats_earlier(frame, groups).to_numpy()
    reason = _where(
        frame,
        mask,
        "same as example " + _ids_text(frame, groups) + " ignoring case, spacing, punctuation, accents",
    )
    return _result(frame, mask, reason, "all", groups)


def _check_near(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    threshold = params["threshold"]
    clusters = duplicates.near_duplicate_clusters(frame, threshold=threshold, fields=tuple(params["fields"]))
    mask = duplicates.duplicated_mask(clusters).to_numpy()
    sizes = clusters.map(clusters.value_counts()).astype("string")
    reason = _where(
        frame,
        mask,
        "in near-duplicate cluster "
        + _ids_text(frame, clusters)
        + " ("
        + sizes
        + f" examples, similarity ≥ {threshold:g})",
    )
    return _result(frame, mask, reason, ",".join(params["fields"]), clusters)


def _check_duplicate_prompt(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    user_codes = duplicates.fold_codes(frame, "user")
    answer_codes = duplicates.fold_codes(frame, "assistant")
    user_blank = _blank(_text(frame, "user"))
    repeated_prompt = pd.Series(user_codes).duplicated().to_numpy()
    repeated_pair = pd.DataFrame({"u": user_codes, "a": answer_codes}).duplicated().to_numpy()
    mask = repeated_prompt & ~repeated_pair & ~user_blank
    first = duplicates.first_ids(frame, user_codes)
    reason = _where(
        frame, mask, "same question as example " + _ids_text(frame, first) + " with a different answer"
    )
    return _result(frame, mask, reason, "user", first.where(pd.Series(mask, index=frame.index)))


# -- pattern families: placeholder, pii, blocklist -----------------------------------------------------------


@dataclass(frozen=True)
class _Finder:
    label: str
    regex: str  # RE2, with the reported text in group ``m``
    validate: Callable[[str], bool] | None = None  # applied to each Python-``re`` match of ``python`` below
    python: str | None = None


def _scan(
    frame: pd.DataFrame, fields: Sequence[str], finders: Sequence[_Finder]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask, reason, field) for the first finder that matches in the first field, in order."""
    n = len(frame)
    mask = np.zeros(n, dtype=bool)
    reason = np.full(n, None, dtype=object)
    where = np.full(n, None, dtype=object)
    prefilter = "|".join(f"(?:{f.regex})" for f in finders)
    for name in fields:
        text = _text(frame, name)
        pending = np.flatnonzero(_matches(text, prefilter) & ~mask)
        for finder in finders:
            if not len(pending):
                break
            subset = text.take(pa.array(pending))
            hit = _matches(subset, finder.regex)
            if not hit.any():
                continue
            positions = pending[hit]
            found = pc.struct_field(
                pc.extract_regex(subset.filter(pa.array(hit)), finder.regex), [0]
            ).to_pylist()
            if finder.validate is not None:
                checked = [_validated(s, finder) for s in subset.filter(pa.array(hit)).to_pylist()]
                keep = np.array([c is not None for c in checked], dtype=bool)
                positions, found = positions[keep], [c for c in checked if c is not None]
            mask[positions] = True
            where[positions] = name
            reason[positions] = [f"{finder.label} {snippet.strip()!r} in {name}" for snippet in found]
            pending = np.setdiff1d(pending, positions, assume_unique=True)
    return mask, reason, where


def _validated(text: str, finder: _Finder) -> str | None:
    for match in re.finditer(finder.python or "", text):
        candidate = match.group("m")
        if finder.validate and finder.validate(candidate):
            return candidate
    return None


def _pattern_result(frame: pd.DataFrame, fields: Sequence[str], finders: Sequence[_Finder]) -> RuleResult:
    mask, reason, where = _scan(frame, fields, finders)
    return _result(frame, mask, _reasons(frame, reason), pd.Series(where, index=frame.index, dtype=object))


_PLACEHOLDERS = (
    _Finder("template variable", r"(?P<m>\{\{[^{}\n]{0,60}\}\}|\{%[^%\n]{0,60}%\}|\$\{[A-Za-z_]\w*\})"),
    _Finder(
        "placeholder",
        r"(?i)(?P<m><\s*(?:link|url|name|nombre|enlace|e-?mail|correo|phone|tel[eé]fono|date|fecha|company|"
        r"empresa|product|producto|address|direcci[oó]n|placeholder|insert[^<>\n]{0,40}|"
        r"insertar[^<>\n]{0,40}|"
        r"your[ _][^<>\n]{0,40}|tu[ _][^<>\n]{0,40})\s*>)",
    ),
    _Finder(
        "placeholder",
        r"(?i)(?P<m>\[\s*(?:insert|insertar|inserte|your|tu|su|name|nombre|link|enlace|url|placeholder|todo|"
        r"tbd|citation needed|cita requerida)\b[^\]\n]{0,40}\])",
    ),
    _Finder(
        "prompt label",
        r"(?:^|\n)[ \t]*(?P<m>(?:Question|Answer|Pregunta|Respuesta|Q|A|P|R|User|Assistant|Usuario|Asistente|"
        r"Human|Humano|AI|IA)[ \t]*:)",
    ),
    _Finder("filler text", r"(?i)(?P<m>lorem ipsum)"),
)


def _check_placeholder(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    return _pattern_result(frame, params["fields"], _PLACEHOLDERS)


def _luhn(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return total % 10 == 0


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def _dni(candidate: str) -> bool:
    compact = re.sub(r"[\s-]", "", candidate).upper()
    prefix = {"X": "0", "Y": "1", "Z": "2"}.get(compact[0], compact[0])
    number = prefix + compact[1:-1]
    return number.isdigit() and _DNI_LETTERS[int(number) % 23] == compact[-1]


_PII = (
    _Finder("e-mail address", r"(?P<m>[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})"),
    _Finder(
        "URL with a personal token",
        r"(?i)(?P<m>https?://[^\s]*[?&#;](?:token|access_token|auth|api_?key|key|session|session_?id|sid|"
        r"password|passwd|pwd|secret|sig|signature|user_?id)=[^\s&]+)",
    ),
    _Finder(
        "card number",
        r"(?:^|[^\d])(?P<m>(?:\d[ \-]?){12,18}\d)(?:$|[^\d])",
        _luhn,
        r"(?:^|(?<=[^\d]))(?P<m>(?:\d[ \-]?){12,18}\d)(?=$|[^\d])",
    ),
    _Finder(
        "ID number (DNI/NIE)",
        r"(?:^|[^\p{L}\d])(?P<m>(?:\d{8}|[XYZxyz][ \-]?\d{7})[ \-]?[A-Za-z])(?:$|[^\p{L}\d])",
        _dni,
        r"(?:^|(?<=[^\w]))(?P<m>(?:\d{8}|[XYZxyz][ \-]?\d{7})[ \-]?[A-Za-z])(?=$|[^\w])",
    ),
    _Finder(
        "phone number",
        r"(?:^|[^\w+])(?P<m>\+\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}(?:[ .\-]?\d{2,4}){1,4})"
        r"(?:$|[^\d])",
    ),
    _Finder(
        "phone number",
        r"(?:^|[^\w.,/])(?P<m>[6789]\d{2}(?:[ .\-]\d{3}[ .\-]\d{3}|[ .\-]\d{2}[ .\-]\d{2}[ .\-]\d{2})|"
        # unseparated: mobiles only, and not a round quantity ending in 000
        r"[67]\d{5}(?:[1-9]\d\d|\d[1-9]\d|\d\d[1-9]))"
        r"(?:$|[^\w.,/])",
    ),
    _Finder(
        "phone number", r"(?:^|[^\w.,/])(?P<m>(?:\(\d{3}\)[ ]?|\d{3}[ .\-])\d{3}[ .\-]\d{4})(?:$|[^\w.,/])"
    ),
)


def _check_pii(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    return _pattern_result(frame, params["fields"], _PII)


@cache
def blocklist_words(lang: str) -> tuple[str, ...]:
    """Words and phrases in ``studio/quality/blocklist/<lang>.txt`` (one per line, ``#`` comments)."""
    path = BLOCKLIST_DIR / f"{lang}.txt"
    if not path.exists():
        raise ValueError(f"no blocklist for language {lang!r} (expected {path})")
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(w for w in (line.split("#", 1)[0].strip() for line in lines) if w)


def _check_blocklist(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    words = {w.lower() for lang in params["languages"] for w in blocklist_words(lang)}
    words |= {w.strip().lower() for w in params["extra_words"] if w.strip()}
    if not words:
        return _result(frame, np.zeros(len(frame), dtype=bool), _reasons(frame), "all")
    alternatives = "|".join(_escape(w) for w in sorted(words, key=len, reverse=True))
    finder = _Finder(
        "blocklisted word", rf"(?i)(?:^|[^\p{{L}}\p{{N}}_])(?P<m>{alternatives})(?:$|[^\p{{L}}\p{{N}}_])"
    )
    return _pattern_result(frame, params["fields"], (finder,))


# -- uppercase / regex ---------------------------------------------------------------------------------------


def _check_uppercase(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    n = len(frame)
    ratio = params["ratio"]
    mask = np.zeros(n, dtype=bool)
    reason = np.full(n, None, dtype=object)
    where = np.full(n, None, dtype=object)
    for name in params["fields"]:
        text = _text(frame, name)
        # Counting capitals is cheap (few matches); counting every letter is not, so count letters only where
        # the capitals could exceed `ratio` of them. Texts under a fifth letters (codes, numbers) are not
        # judged.
        upper = _np(pc.count_substring_regex(text, r"\p{Lu}"), 0).astype(np.int64)
        length = _np(pc.utf8_length(text), 0).astype(np.int64)
        candidates = (upper > ratio * np.maximum(params["min_letters"], length / _MIN_LETTER_SHARE)) & ~mask
        if not candidates.any():
            continue
        positions = np.flatnonzero(candidates)
        letters = _np(pc.count_substring_regex(text.take(pa.array(positions)), r"\p{L}"), 0).astype(np.int64)
        share = upper[positions] / np.maximum(letters, 1)
        hit = (
            (letters >= params["min_letters"])
            & (letters * _MIN_LETTER_SHARE >= length[positions])
            & (share > ratio)
        )
        flagged = positions[hit]
        mask[flagged] = True
        where[flagged] = name
        reason[flagged] = [f"{round(s * 100)}% of the letters in {name} are upper case" for s in share[hit]]
    return _result(frame, mask, _reasons(frame, reason), pd.Series(where, index=frame.index, dtype=object))


_MIN_LETTER_SHARE = 5  # judge a text only when at least 1 in 5 of its characters is a letter


def _check_regex(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
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
    reason[mask] = [f"matches /{pattern}/ in {w}" for w in where[mask]]
    return _result(frame, mask, _reasons(frame, reason), pd.Series(where, index=frame.index, dtype=object))


# -- parameters ----------------------------------------------------------------------------------------------


def _coerce(rule: str, name: str, default: Any, value: Any) -> Any:
    where = f"rule {rule!r} parameter {name!r}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{where} must be a whole number ≥ 0, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise ValueError(f"{where} must be a number in (0, 1], got {value!r}")
        return float(value)
    if isinstance(default, tuple):
        if (
            isinstance(value, str)
            or not isinstance(value, Sequence)
            or not all(isinstance(v, str) for v in value)
        ):
            raise ValueError(f"{where} must be a list of strings, got {value!r}")
        return tuple(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ValueError(f"{where} must be text, got {value!r}")
        return value
    return value


def _params(**values: Any) -> Mapping[str, Any]:
    return MappingProxyType(values)


RULES = RuleRegistry(
    (
        Rule(
            "empty",
            ("user", "assistant"),
            "A required turn (user or assistant) is missing or blank; an answer made only of tool calls is "
            "fine.",
            "Falta un turno obligatorio (usuario o asistente) o está vacío; una respuesta solo con llamadas "
            "a herramientas es válida.",
            _check_empty,
        ),
        Rule(
            "too_short",
            ("assistant",),
            "The answer has fewer than min_chars characters.",
            "La respuesta tiene menos de min_chars caracteres.",
            _check_too_short,
            _params(min_chars=50),
        ),
        Rule(
            "truncated",
            ("assistant",),
            "The answer looks cut off: it ends with an ellipsis, with a connector word (and, or, y, de…) or "
            "a gerund, or mid-sentence without final punctuation (URLs, lists, code, CJK and emoji endings "
            "are fine).",
            "La respuesta parece cortada: acaba en puntos suspensivos, en una palabra de enlace (y, o, de, "
            "and…) o un gerundio, o a mitad de frase sin puntuación final (URL, listas, código, CJK y emoji "
            "no cuentan).",
            _check_truncated,
            _params(min_chars=30, languages=("en", "es")),
        ),
        Rule(
            "exact_duplicate",
            ALL_TEXT,
            "The example (every turn) is identical to an earlier one.",
            "El ejemplo (todos los turnos) es idéntico a uno anterior.",
            _check_exact,
        ),
        Rule(
            "normalized_duplicate",
            ALL_TEXT,
            "The example equals an earlier one once case, spacing, punctuation and accents are ignored "
            "(exact copies included).",
            "El ejemplo es igual a uno anterior si se ignoran mayúsculas, espacios, puntuación y tildes "
            "(incluye las copias exactas).",
            _check_normalized,
        ),
        Rule(
            "near_duplicate",
            ("user", "assistant"),
            "The example belongs to a cluster of examples at least `threshold` similar (MinHash LSH, "
            "confirmed with rapidfuzz); every member of the cluster is flagged.",
            "El ejemplo pertenece a un grupo de ejemplos con similitud de al menos `threshold` (MinHash LSH "
            "confirmado con rapidfuzz); se marcan todos los miembros del grupo.",
            _check_near,
            _params(threshold=0.8, fields=("user", "assistant")),
        ),
        Rule(
            "duplicate_prompt",
            ("user", "assistant"),
            "The question repeats an earlier one but the answer differs (conflicting answers).",
            "La pregunta repite una anterior pero la respuesta es distinta (respuestas contradictorias).",
            _check_duplicate_prompt,
        ),
        Rule(
            "placeholder",
            ALL_TEXT,
            "A template leaked into the text: {{name}}, <link>, [INSERT …], Question:/Answer: labels, "
            "lorem ipsum.",
            "Restos de plantilla en el texto: {{nombre}}, <enlace>, [INSERTAR …], etiquetas "
            "Pregunta:/Respuesta:, lorem ipsum.",
            _check_placeholder,
            _params(fields=ALL_TEXT),
        ),
        Rule(
            "pii",
            ALL_TEXT,
            "Personal data: e-mail addresses, phone numbers, URLs with tokens, card numbers (Luhn-checked), "
            "Spanish DNI/NIE (letter-checked).",
            "Datos personales: correos, teléfonos, URL con tokens, números de tarjeta (con Luhn), DNI/NIE "
            "(con letra válida).",
            _check_pii,
            _params(fields=ALL_TEXT),
        ),
        Rule(
            "blocklist",
            ALL_TEXT,
            "Abusive or inappropriate words from the editable English/Spanish lists.",
            "Palabras ofensivas o inapropiadas de las listas editables en inglés y español.",
            _check_blocklist,
            _params(fields=ALL_TEXT, languages=("en", "es"), extra_words=()),
        ),
        Rule(
            "uppercase",
            ALL_TEXT,
            "More than a third of the letters are upper case (only with at least min_letters letters).",
            "Más de un tercio de las letras están en mayúsculas (solo con al menos min_letters letras).",
            _check_uppercase,
            _params(fields=ALL_TEXT, ratio=1 / 3, min_letters=12),
        ),
        Rule(
            "regex",
            ALL_TEXT,
            "Your regular expression (RE2 syntax) matches in the chosen fields.",
            "Tu expresión regular (sintaxis RE2) coincide en los campos elegidos.",
            _check_regex,
            _params(pattern="", fields=ALL_TEXT, ignore_case=False),
        ),
    )
)

GRID_RULES: tuple[str, ...] = tuple(k for k in RULES.keys() if k not in ("near_duplicate", "regex"))
"""The rules whose flags are stored with each version: near-duplicates are computed on demand (the Dataset page's
duplicates filter), and ``regex`` is the page's live filter."""


@cache
def _code_digest() -> str:
    """A digest of the code and word lists the flags come from, so flags stored by older code are not reused."""
    studio = Path(__file__).parents[1]
    digest = hashlib.sha256()
    # Every module of the quality and data packages: a change anywhere in them may change a flag.
    for path in (*sorted((studio / "quality").glob("*.py")), *sorted((studio / "data").glob("*.py")),
                 *sorted(BLOCKLIST_DIR.glob("*"))):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def flags_signatures(ops: Sequence[Mapping[str, Any]] = ()) -> list[str]:
    """The flags signature of a version after each prefix of the edits ``ops`` (``len(ops) + 1`` of them): a
    digest of the rules' code, their default parameters and the edits. Equal signatures on one version mean
    equal flags."""
    defaults = {key: RULES[key].resolve() for key in GRID_RULES}
    current = hashlib.sha256(
        json.dumps({"code": _code_digest(), "rules": defaults}, sort_keys=True, default=str).encode()
    ).hexdigest()
    out = [current]
    for op in ops:
        current = hashlib.sha256((current + json.dumps(op, sort_keys=True, default=str)).encode()).hexdigest()
        out.append(current)
    return out


def flags_signature(ops: Sequence[Mapping[str, Any]] = ()) -> str:
    """The flags signature of a version with the edits ``ops`` (see :func:`flags_signatures`)."""
    return flags_signatures(ops)[-1]


def grid_flags(frame: pd.DataFrame) -> pd.DataFrame:
    """Flags of :data:`GRID_RULES` for every row of ``frame`` (a row per example, a column per rule plus groups)."""
    return analyze(frame, rules=GRID_RULES).flags
