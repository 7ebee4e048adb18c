"""Data-quality rules: one registry, each rule a vectorised check giving a mask and a human reason per row.

``analyze(frame)`` runs them and returns every finding at once (pandera's lazy validation): an ``issues``
table ``[id, rule, field, message, cluster_id]``, a ``flags`` frame with one boolean column per rule (indexed
like the input, for filtering a grid), and ``counts``. The input frame is never modified.

Rules read the canonical text columns (``system``/``user``/``assistant``: first system, last user, last
assistant turn). The checks live by family: :mod:`~studio.quality.answer_rules`,
:mod:`~studio.quality.duplicate_rules`, :mod:`~studio.quality.pattern_rules`, :mod:`~studio.quality.text_rules`
(shared helpers in :mod:`~studio.quality.columns`); this module holds the registry, their parameters and
:func:`analyze`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, SupportsIndex, overload

import numpy as np
import pandas as pd

from studio.data.frame import TEXT
from studio.quality import duplicates, near_duplicates
from studio.quality.answer_rules import check_empty_turns, check_too_short, check_truncated
from studio.quality.columns import Check, RuleResult
from studio.quality.duplicate_rules import check_duplicate_prompt, check_exact, check_near, check_normalized
from studio.quality.pattern_rules import BLOCKLIST_DIR, check_blocklist, check_pii, check_placeholder
from studio.quality.text_rules import check_regex, check_uppercase
from studio.quality.turn_scope import TEXT_FIELDS_ALL, over_turns, turn_cache

ALL_TEXT = TEXT_FIELDS_ALL  # every turn of every role, tool results and tool-call arguments


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


class RuleRegistry:
    """The rules in display order (iterating gives :class:`Rule` objects, ``RULES[0]`` the first one); also
    indexable by key (``RULES["empty"]``, ``KeyError`` naming the known keys), and ``"empty" in RULES`` asks about
    a key.

    Not a ``Sequence[Rule]`` on purpose: membership takes keys as well as rules, which a typed ``Sequence[Rule]``
    would call a non-overlapping container check."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._rules = tuple(rules)
        self._by_key = {rule.key: rule for rule in self._rules}

    @overload
    def __getitem__(self, item: str | SupportsIndex) -> Rule: ...

    @overload
    def __getitem__(self, item: slice) -> tuple[Rule, ...]: ...

    def __getitem__(self, item: str | SupportsIndex | slice) -> Rule | tuple[Rule, ...]:
        if isinstance(item, str):
            try:
                return self._by_key[item]
            except KeyError:
                raise KeyError(f"unknown rule {item!r}; rules are {', '.join(self._by_key)}") from None
        return self._rules[item]

    def __len__(self) -> int:
        return len(self._rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules)

    def __contains__(self, item: object) -> bool:
        return item in self._by_key if isinstance(item, str) else item in self._rules

    def keys(self) -> tuple[str, ...]:
        """The rule keys in display order."""
        return tuple(self._by_key)


@dataclass(frozen=True)
class Analysis:
    """Every finding of :func:`analyze`.

    - ``issues``: one row per (example, rule) finding: ``id``, ``turn`` (Int32: the index in ``messages`` of
      the turn the finding is in, the first flagged one; NA for rules about the whole example: duplicates),
      ``role`` (the role of that turn; NA with ``turn``), ``rule``, ``field`` (what the rule read: a role, or
      ``tool_calls`` for a call's arguments), ``message``, ``cluster_id`` (the duplicate group for
      ``exact_duplicate``, ``normalized_duplicate`` and ``duplicate_prompt``, the cluster for ``near_duplicate``:
      the id of the group's first example).
    - ``flags``: indexed like the input; one bool column per rule that ran, ``cluster_id`` (Int64, the
      near-duplicate cluster of every row, NA when near_duplicate did not run), and ``exact_group`` /
      ``normalized_group`` (Int64, every row's duplicate group) when those rules ran.
    - ``counts``: flagged rows per rule; for the duplicate rules, rows that repeat an earlier row.
    - ``notes``: per rule, what the user should know about how it ran (a cap hit, with a count); usually empty.
    """

    issues: pd.DataFrame
    flags: pd.DataFrame
    counts: Mapping[str, int]
    rules: tuple[str, ...]
    notes: Mapping[str, str] = field(default_factory=dict)


def analyze(
    frame: pd.DataFrame,
    *,
    rules: Sequence[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> Analysis:
    """Run ``rules`` (default: all, ``regex`` only when given a pattern) over ``frame``; never mutates it."""
    params = dict(params or {})
    keys = rule_keys(rules, params)
    resolved = {key: RULES[key].resolve(params.get(key)) for key in keys}
    findings = Findings(frame["id"].to_numpy(), frame.index)
    with duplicates.fold_cache(), turn_cache():
        for key in keys:
            findings.add(key, RULES[key].check(frame, resolved[key]))
    return findings.analysis(keys)


def rule_keys(rules: Sequence[str] | None, params: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The rules :func:`analyze` runs: ``rules`` (checked, without repeats) or every rule, ``regex`` only when
    given a pattern; ``ValueError`` names an unknown rule."""
    for key in params:
        if key not in RULES:
            raise ValueError(f"parameters given for unknown rule {key!r}; rules are {', '.join(RULES.keys())}")
    if rules is None:
        return [rule.key for rule in RULES if rule.key != "regex" or params.get("regex", {}).get("pattern")]
    keys = list(dict.fromkeys(rules))
    unknown = [k for k in keys if k not in RULES]
    if unknown:
        raise ValueError(f"unknown rule {unknown[0]!r}; rules are {', '.join(RULES.keys())}")
    return keys


class Findings:
    """What :func:`analyze` gathers rule by rule into an :class:`Analysis`: flags, issue rows, counts and notes
    of rows with these ``ids`` (frame index ``index``)."""

    def __init__(self, ids: np.ndarray, index: pd.Index) -> None:
        self.ids = ids
        self.flags = pd.DataFrame(index=index)
        self.issues: dict[str, pd.DataFrame] = {}
        self.counts: dict[str, int] = {}
        self.notes: dict[str, str] = {}

    def add(self, key: str, result: RuleResult) -> None:
        """The findings of rule ``key``."""
        mask = result.mask.to_numpy(dtype=bool)
        self.flags[key] = mask
        self.counts[key] = int(mask.sum())
        if result.note:
            self.notes[key] = result.note
        if key == "near_duplicate":
            self.flags["cluster_id"] = result.group
        elif key in ("exact_duplicate", "normalized_duplicate"):
            self.flags[key.replace("duplicate", "group")] = result.group
        positions = np.flatnonzero(mask)
        field_values = result.field.to_numpy()[positions] if isinstance(result.field, pd.Series) else result.field
        group = (
            result.group.to_numpy()[positions]
            if result.group is not None
            else pd.array([pd.NA] * len(positions), dtype="Int64")
        )
        turns = (
            result.turn.array[positions]
            if result.turn is not None
            else pd.array([pd.NA] * len(positions), dtype="Int32")
        )
        self.issues[key] = pd.DataFrame(
            {
                "id": self.ids[positions],
                "turn": pd.array(turns, dtype="Int32"),
                "role": _roles(field_values, len(positions)) if result.turn is not None else None,
                "rule": key,
                "field": field_values,
                "message": result.reason.to_numpy()[positions],
                "cluster_id": pd.array(group, dtype="Int64"),
            }
        )

    def add_found(self, key: str, mask: np.ndarray, issues: Sequence[pd.DataFrame], note: str | None) -> None:
        """Findings of rule ``key`` gathered elsewhere (a file read in parts): every row's flag and the issue
        rows, in row order."""
        self.flags[key] = mask
        self.counts[key] = int(mask.sum())
        if note:
            self.notes[key] = note
        kept = [table for table in issues if len(table)]
        self.issues[key] = pd.concat(kept, ignore_index=True) if kept else pd.DataFrame(columns=_ISSUE_COLUMNS)

    def analysis(self, keys: Sequence[str]) -> Analysis:
        """The :class:`Analysis` of rules ``keys`` (issues in this order of rules)."""
        flags = self.flags
        if "cluster_id" not in flags:
            flags["cluster_id"] = pd.Series(pd.NA, index=flags.index, dtype="Int64")
        issues = [self.issues[key] for key in keys if key in self.issues]
        table = pd.concat(issues, ignore_index=True) if issues else pd.DataFrame(columns=_ISSUE_COLUMNS)
        table = table.astype(ISSUE_TYPES)
        return Analysis(
            issues=table[list(_ISSUE_COLUMNS)],
            flags=flags,
            counts={key: self.counts[key] for key in keys},
            rules=tuple(keys),
            notes=self.notes,
        )


ISSUE_TYPES = {
    "id": "int64",
    "turn": "Int32",
    "role": TEXT,
    "rule": TEXT,
    "field": TEXT,
    "message": TEXT,
    "cluster_id": "Int64",
}
_ISSUE_COLUMNS = ("id", "turn", "role", "rule", "field", "message", "cluster_id")
# the role of the message a field's finding is in (a tool call's arguments are in an assistant message)
_ROLE_OF_FIELD = {"tool_calls": "assistant", "?": None}


def _roles(fields: Any, n: int) -> list[str | None]:
    """The role of the turn each of ``n`` findings is in, from their ``field`` (one value for all, or one each)."""
    each = [fields] * n if isinstance(fields, str) or fields is None else list(fields)
    return [_ROLE_OF_FIELD.get(f, f) if isinstance(f, str) else None for f in each]


# -- column helpers ------------------------------------------------------------------------------------------


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
        if isinstance(value, str) or not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
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
            "A required turn (user or assistant) is missing or blank; an answer made only of tool calls is fine.",
            "Falta un turno obligatorio (usuario o asistente) o está vacío; una respuesta solo con llamadas "
            "a herramientas es válida.",
            check_empty_turns,
        ),
        Rule(
            "too_short",
            ("assistant",),
            "The answer has fewer than min_chars characters.",
            "La respuesta tiene menos de min_chars caracteres.",
            over_turns(check_too_short, "answer"),
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
            over_turns(check_truncated, "answer"),
            _params(min_chars=30, languages=("en", "es")),
        ),
        Rule(
            "exact_duplicate",
            ALL_TEXT,
            "The example (every turn) is identical to an earlier one.",
            "El ejemplo (todos los turnos) es idéntico a uno anterior.",
            check_exact,
        ),
        Rule(
            "normalized_duplicate",
            ALL_TEXT,
            "The example equals an earlier one once case, spacing, punctuation and accents are ignored "
            "(exact copies included).",
            "El ejemplo es igual a uno anterior si se ignoran mayúsculas, espacios, puntuación y tildes "
            "(incluye las copias exactas).",
            check_normalized,
        ),
        Rule(
            "near_duplicate",
            ("user", "assistant"),
            "The example belongs to a cluster of examples at least `threshold` similar (MinHash LSH, "
            "confirmed with rapidfuzz); every member of the cluster is flagged. At most `max_bucket` examples "
            "of one LSH bucket are compared (the result says when the cap was hit).",
            "El ejemplo pertenece a un grupo de ejemplos con similitud de al menos `threshold` (MinHash LSH "
            "confirmado con rapidfuzz); se marcan todos los miembros del grupo. Se comparan como mucho "
            "`max_bucket` ejemplos de un mismo cubo LSH (el resultado avisa si se llegó al tope).",
            check_near,
            _params(threshold=0.8, fields=("user", "assistant"), max_bucket=near_duplicates.MAX_BUCKET),
        ),
        Rule(
            "duplicate_prompt",
            ("user", "assistant"),
            "The question repeats an earlier one but the answer differs (conflicting answers).",
            "La pregunta repite una anterior pero la respuesta es distinta (respuestas contradictorias).",
            check_duplicate_prompt,
        ),
        Rule(
            "placeholder",
            ALL_TEXT,
            "A template leaked into the text: {{name}}, <link>, [INSERT …], Question:/Answer: labels, lorem ipsum.",
            "Restos de plantilla en el texto: {{nombre}}, <enlace>, [INSERTAR …], etiquetas "
            "Pregunta:/Respuesta:, lorem ipsum.",
            over_turns(check_placeholder),
            _params(fields=ALL_TEXT),
        ),
        Rule(
            "pii",
            ALL_TEXT,
            "Personal data: e-mail addresses, phone numbers, URLs with tokens, card numbers (Luhn-checked), "
            "Spanish DNI/NIE (letter-checked).",
            "Datos personales: correos, teléfonos, URL con tokens, números de tarjeta (con Luhn), DNI/NIE "
            "(con letra válida).",
            over_turns(check_pii),
            _params(fields=ALL_TEXT),
        ),
        Rule(
            "blocklist",
            ALL_TEXT,
            "Abusive or inappropriate words from the editable English/Spanish lists.",
            "Palabras ofensivas o inapropiadas de las listas editables en inglés y español.",
            over_turns(check_blocklist),
            _params(fields=ALL_TEXT, languages=("en", "es"), extra_words=()),
        ),
        Rule(
            "uppercase",
            ALL_TEXT,
            "More than a third of the letters are upper case (only with at least min_letters letters).",
            "Más de un tercio de las letras están en mayúsculas (solo con al menos min_letters letras).",
            over_turns(check_uppercase),
            _params(fields=ALL_TEXT, ratio=1 / 3, min_letters=12),
        ),
        Rule(
            "regex",
            ALL_TEXT,
            "Your regular expression (RE2 syntax) matches in the chosen fields.",
            "Tu expresión regular (sintaxis RE2) coincide en los campos elegidos.",
            over_turns(check_regex),
            _params(pattern="", fields=ALL_TEXT, ignore_case=False),
        ),
    )
)

GRID_RULES: tuple[str, ...] = tuple(rule.key for rule in RULES if rule.key not in ("near_duplicate", "regex"))
"""The rules whose flags are stored with each version: near-duplicates are computed on demand (the Dataset page's
duplicates filter), and ``regex`` is the page's live filter."""


@cache
def _code_digest() -> str:
    """A digest of the code and word lists the flags come from, so flags stored by older code are not reused."""
    studio = Path(__file__).parents[1]
    digest = hashlib.sha256()
    # Every module of the quality and data packages: a change anywhere in them may change a flag.
    for path in (
        *sorted((studio / "quality").glob("*.py")),
        *sorted((studio / "data").glob("*.py")),
        *sorted(BLOCKLIST_DIR.glob("*")),
    ):
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
