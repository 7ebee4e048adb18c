"""Pattern rules: ``placeholder`` (template leftovers), ``pii`` (e-mails, phones, tokens in URLs, Luhn-checked
card numbers, letter-checked DNI/NIE) and ``blocklist`` (the editable word lists in ``studio/quality/blocklist/``).

Each family is a list of finders run as one RE2 prefilter over whole columns; a finder's validator (Luhn, DNI
letter) runs in Python only on the rows its regex matched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from studio.quality.columns import (
    RuleResult,
    escape_word,
    matches,
    reasons,
    rule_result,
    text_column,
    where_labels,
)
from studio.quality.messages import say

BLOCKLIST_DIR = Path(__file__).with_name("blocklist")


@dataclass(frozen=True)
class _Finder:
    label: str  # what it finds: a ``what_<label>`` message (studio/quality/messages.py)
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
        text = text_column(frame, name)
        pending = np.flatnonzero(matches(text, prefilter) & ~mask)
        for finder in finders:
            if not len(pending):
                break
            subset = text.take(pa.array(pending))
            hit = matches(subset, finder.regex)
            if not hit.any():
                continue
            positions = pending[hit]
            found = pc.struct_field(pc.extract_regex(subset.filter(pa.array(hit)), finder.regex), [0]).to_pylist()
            if finder.validate is not None:
                checked = [_validated(s, finder) for s in subset.filter(pa.array(hit)).to_pylist()]
                keep = np.array([c is not None for c in checked], dtype=bool)
                positions, found = positions[keep], [c for c in checked if c is not None]
            mask[positions] = True
            where[positions] = name
            labels = where_labels(frame, name, positions)
            reason[positions] = [
                say("found", what=say(f"what_{finder.label}"), snippet=repr(snippet.strip()), where=label)
                for snippet, label in zip(found, labels, strict=True)
            ]
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
    return rule_result(frame, mask, reasons(frame, reason), pd.Series(where, index=frame.index, dtype=object))


_PLACEHOLDERS = (
    _Finder("template_variable", r"(?P<m>\{\{[^{}\n]{0,60}\}\}|\{%[^%\n]{0,60}%\}|\$\{[A-Za-z_]\w*\})"),
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
        "prompt_label",
        r"(?:^|\n)[ \t]*(?P<m>(?:Question|Answer|Pregunta|Respuesta|Q|A|P|R|User|Assistant|Usuario|Asistente|"
        r"Human|Humano|AI|IA)[ \t]*:)",
    ),
    _Finder("filler_text", r"(?i)(?P<m>lorem ipsum)"),
)


def check_placeholder(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    """``placeholder``: template leftovers ({{name}}, <link>, [INSERT …], labels, lorem ipsum)."""
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
    _Finder("email", r"(?P<m>[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})"),
    _Finder(
        "token_url",
        r"(?i)(?P<m>https?://[^\s]*[?&#;](?:token|access_token|auth|api_?key|key|session|session_?id|sid|"
        r"password|passwd|pwd|secret|sig|signature|user_?id)=[^\s&]+)",
    ),
    _Finder(
        "card",
        r"(?:^|[^\d])(?P<m>(?:\d[ \-]?){12,18}\d)(?:$|[^\d])",
        _luhn,
        r"(?:^|(?<=[^\d]))(?P<m>(?:\d[ \-]?){12,18}\d)(?=$|[^\d])",
    ),
    _Finder(
        "dni",
        r"(?:^|[^\p{L}\d])(?P<m>(?:\d{8}|[XYZxyz][ \-]?\d{7})[ \-]?[A-Za-z])(?:$|[^\p{L}\d])",
        _dni,
        r"(?:^|(?<=[^\w]))(?P<m>(?:\d{8}|[XYZxyz][ \-]?\d{7})[ \-]?[A-Za-z])(?=$|[^\w])",
    ),
    _Finder(
        "phone",
        r"(?:^|[^\w+])(?P<m>\+\d{1,3}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}(?:[ .\-]?\d{2,4}){1,4})"
        r"(?:$|[^\d])",
    ),
    _Finder(
        "phone",
        r"(?:^|[^\w.,/])(?P<m>[6789]\d{2}(?:[ .\-]\d{3}[ .\-]\d{3}|[ .\-]\d{2}[ .\-]\d{2}[ .\-]\d{2})|"
        # unseparated: mobiles only, and not a round quantity ending in 000
        r"[67]\d{5}(?:[1-9]\d\d|\d[1-9]\d|\d\d[1-9]))"
        r"(?:$|[^\w.,/])",
    ),
    _Finder("phone", r"(?:^|[^\w.,/])(?P<m>(?:\(\d{3}\)[ ]?|\d{3}[ .\-])\d{3}[ .\-]\d{4})(?:$|[^\w.,/])"),
)


def check_pii(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    """``pii``: e-mails, URLs with tokens, Luhn-valid cards, letter-valid DNI/NIE, phone numbers."""
    return _pattern_result(frame, params["fields"], _PII)


@cache
def blocklist_words(lang: str) -> tuple[str, ...]:
    """Words and phrases in ``studio/quality/blocklist/<lang>.txt`` (one per line, ``#`` comments)."""
    path = BLOCKLIST_DIR / f"{lang}.txt"
    if not path.exists():
        raise ValueError(f"no blocklist for language {lang!r} (expected {path})")
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple(w for w in (line.split("#", 1)[0].strip() for line in lines) if w)


def check_blocklist(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
    """``blocklist``: a word of the ``languages`` lists or ``extra_words``, as a whole word."""
    words = {w.lower() for lang in params["languages"] for w in blocklist_words(lang)}
    words |= {w.strip().lower() for w in params["extra_words"] if w.strip()}
    if not words:
        return rule_result(frame, np.zeros(len(frame), dtype=bool), reasons(frame), "all")
    alternatives = "|".join(escape_word(w) for w in sorted(words, key=len, reverse=True))
    finder = _Finder("blocklisted", rf"(?i)(?:^|[^\p{{L}}\p{{N}}_])(?P<m>{alternatives})(?:$|[^\p{{L}}\p{{N}}_])")
    return _pattern_result(frame, params["fields"], (finder,))


# -- uppercase / regex ---------------------------------------------------------------------------------------
