"""Cleaning operations. Recipes (ordered operations saved as JSON) are in :mod:`studio.editing.recipes`, the
undo/redo history in :mod:`studio.editing.history`.

Every operation is a small frozen dataclass with ``apply(frame) -> frame`` (a new frame; the input is never
modified), ``describe()`` (one human line) and ``to_dict()`` (JSON-ready, tagged with ``"op"``);
:func:`studio.editing.recipes.op_from_dict` reverses it. Operations address rows by ``id`` or by rule, never by
position, so a recipe saved today cleans next month's export the same way. Results get a fresh ``RangeIndex``;
``id`` identifies rows.

Editing a turn (``system``/``user``/``assistant``) rewrites ``messages`` with :func:`studio.data.frame.set_turn`
and then recomputes the text columns from it, so both always agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from studio.core.chat import content_text
from studio.data.frame import (
    EXAMPLE_KEYS,
    TEXT,
    TEXT_FIELDS,
    TextField,
    metadata_columns,
    set_turns,
)
from studio.editing.turn_edits import SCOPE_ROLES, TurnChange, check_scope, matches_outside, replace_in_turns
from studio.errors import OperationError, PatternError
from studio.quality.duplicates import keep_one_mask
from studio.quality.patterns import arrow_strings, compile_pattern, replace_all

CONVERSATION = "conversation"  # RegexReplace.field for a replacement over the turns of a scope

GroupKind = Literal["exact", "normalized", "near"]
KeepWhich = Literal["first", "longest"]
GROUP_KINDS: tuple[GroupKind, ...] = ("exact", "normalized", "near")
KEEP_WHICH: tuple[KeepWhich, ...] = ("first", "longest")


class Op:
    """Base class: subclasses are frozen dataclasses with a unique ``op`` tag."""

    op: ClassVar[str]
    one_example: ClassVar[bool] = False
    """True when the operation changes one example (its ``id``) and adds, removes or reorders no row: the grid
    stays mounted and only that example's rule flags are checked again."""

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe_in(self, lang: str) -> str:
        """:meth:`describe` in ``lang``: the ``ops.<op>`` string of studio/locales/ops.toml filled with
        :meth:`_described`'s values; English (and an operation no locale names) is :meth:`describe` itself."""
        from studio.i18n import translator

        tr = translator(lang)
        values = self._described(tr)
        if lang == "en" or values is None:
            return self.describe()
        return tr(f"ops.{self.op}", **values)

    def _described(self, tr: Any) -> dict[str, Any] | None:
        """The values of this operation's ``ops.<op>`` string (None: only :meth:`describe` says it)."""
        return None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"op": self.op}
        for f in fields(self):  # type: ignore[arg-type]
            data[f.name] = _jsonable(getattr(self, f.name))
        return data


@dataclass(frozen=True)
class DeleteRows(Op):
    """Delete the examples with these ids (ids not present are ignored)."""

    ids: tuple[int, ...]
    op: ClassVar[str] = "delete_rows"

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", _whole_ids(self.ids, self.op))

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        return _keep(frame, ~frame["id"].isin(self.ids).to_numpy())

    def describe(self) -> str:
        return f"Delete {len(self.ids)} row{'s' if len(self.ids) != 1 else ''} (ids {_list(self.ids)})"

    def _described(self, tr: Any) -> dict[str, Any] | None:
        return {"rows": tr.plural("ops.rows", len(self.ids)), "ids": _list(self.ids)}


@dataclass(frozen=True)
class DeleteFlagged(Op):
    """Delete the rows a rule flags; with ``ids``, only those of these examples (the rows a filter shows).

    Exact/normalized duplicate rules flag only the repeats, so the first copy stays; ``near_duplicate`` flags
    every member of a cluster, so use :class:`KeepOnePerGroup` to keep one of each.
    """

    rule: str
    params: Mapping[str, Any] = field(default_factory=dict)
    ids: tuple[int, ...] = ()
    op: ClassVar[str] = "delete_flagged"

    def __post_init__(self) -> None:
        from studio.quality.rules import RULES

        object.__setattr__(self, "ids", _whole_ids(self.ids, self.op))
        if self.rule not in RULES:
            raise OperationError(f"delete_flagged: unknown rule {self.rule!r}; rules are {', '.join(RULES.keys())}")
        try:
            RULES[self.rule].resolve(self.params)
        except ValueError as exc:
            raise OperationError(f"delete_flagged: {exc}") from None
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        from studio.quality.rules import analyze

        flags = analyze(frame, rules=[self.rule], params={self.rule: dict(self.params)}).flags
        return _keep(frame, ~(flags[self.rule].to_numpy(dtype=bool) & _in_scope(frame, self.ids)))

    def describe(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"Delete rows flagged by {self.rule!r}" + (f" ({settings})" if settings else "") + _among(self.ids)

    def _described(self, tr: Any) -> dict[str, Any] | None:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return {
            "rule": tr.label("rules", self.rule),
            "settings": f" ({settings})" if settings else "",
            **_among_in(tr, self.ids),
        }


@dataclass(frozen=True)
class KeepOnePerGroup(Op):
    """Keep one row of each duplicate group: the first in frame order, or the longest (ties: the first). With
    ``ids`` (the rows a filter shows), only those examples are looked at: each group keeps one of its members
    among them, and every other row stays."""

    kind: GroupKind = "exact"
    keep: KeepWhich = "first"
    threshold: float = 0.8
    ids: tuple[int, ...] = ()
    op: ClassVar[str] = "keep_one_per_group"

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", _whole_ids(self.ids, self.op))
        if self.kind not in ("exact", "normalized", "near"):
            raise OperationError(f"keep_one_per_group: kind must be exact, normalized or near, got {self.kind!r}")
        if self.keep not in ("first", "longest"):
            raise OperationError(f"keep_one_per_group: keep must be first or longest, got {self.keep!r}")
        if (
            isinstance(self.threshold, bool)
            or not isinstance(self.threshold, int | float)
            or not 0 < self.threshold <= 1
        ):
            raise OperationError(f"keep_one_per_group: threshold must be in (0, 1], got {self.threshold!r}")

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        from studio.quality import duplicates, near_duplicates

        if self.kind == "exact":
            groups = duplicates.exact_groups(frame)
        elif self.kind == "normalized":
            groups = duplicates.normalized_groups(frame)
        else:
            groups = near_duplicates.near_duplicate_clusters(frame, threshold=self.threshold)
        length = None
        if self.keep == "longest":
            length = sum(pc.fill_null(pc.utf8_length(arrow_strings(frame[f])), 0).to_numpy() for f in TEXT_FIELDS)
        return _keep(frame, keep_one_mask(groups, _in_scope(frame, self.ids), length=length))

    def describe(self) -> str:
        group = {
            "exact": "exact duplicate group",
            "normalized": "duplicate group (ignoring case, spacing, punctuation, accents)",
            "near": f"near-duplicate cluster (similarity ≥ {self.threshold:g})",
        }[self.kind]
        return f"Keep the {self.keep} row of each {group}" + _among(self.ids)

    def _described(self, tr: Any) -> dict[str, Any] | None:
        group = tr(f"ops.group_{self.kind}", threshold=f"{self.threshold:g}")
        return {"keep": tr(f"ops.keep_{self.keep}"), "group": group, **_among_in(tr, self.ids)}


@dataclass(frozen=True)
class EditCell(Op):
    """Set one example's turn (system/user/assistant) or metadata value."""

    id: int
    field: str
    value: Any
    op: ClassVar[str] = "edit_cell"
    one_example: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.field in ("id", "messages", "source_row") or self.field in EXAMPLE_KEYS:
            raise OperationError(f"edit_cell: column {self.field!r} cannot be edited")
        if self.field in TEXT_FIELDS and not isinstance(self.value, str):
            raise OperationError(
                f"edit_cell: the {self.field} turn of example {self.id} must be text, got {self.value!r}"
            )

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        positions = np.flatnonzero(frame["id"].to_numpy() == self.id)
        if not len(positions):
            raise OperationError(f"edit_cell: no example with id {self.id}")
        position = int(positions[0])
        if self.field == "assistant":
            _refuse_text_over_tool_calls(self.id, frame["messages"].iat[position], self.value)
        if self.field in TEXT_FIELDS:
            return set_turns(frame, self.field, {position: self.value})
        if self.field not in frame.columns:
            raise OperationError(
                f"edit_cell: no column {self.field!r}; "
                f"editable: {', '.join(list(TEXT_FIELDS) + metadata_columns(frame))}"
            )
        out = frame.copy(deep=False).reset_index(drop=True)
        column = out[self.field].copy()
        try:
            column.iat[position] = self.value
        except (TypeError, ValueError):
            column = column.astype(object)
            column.iat[position] = self.value
        out[self.field] = column
        return out

    def describe(self) -> str:
        return f"Set {self.field} of example {self.id} to {_short(self.value)}"

    def _described(self, tr: Any) -> dict[str, Any] | None:
        return {"field": tr.label("columns", self.field), "id": self.id, "value": _short(self.value)}


@dataclass(frozen=True)
class RegexReplace(Op):
    """Replace every match of an RE2 ``pattern`` in one text field or text metadata column, or, with
    ``field="conversation"``, in every turn of the scope ``roles`` × ``turns`` (see
    :mod:`studio.editing.turn_edits`: text parts only, everything else in a message kept as it was)."""

    field: str
    pattern: str
    replacement: str
    ignore_case: bool = False
    roles: tuple[str, ...] = ()
    turns: str = "any"
    op: ClassVar[str] = "regex_replace"

    def __post_init__(self) -> None:
        object.__setattr__(self, "roles", tuple(self.roles))
        try:
            compiled = compile_pattern(self.pattern, ignore_case=self.ignore_case)
            _check_replacement(compiled, self.replacement)
        except PatternError as exc:
            raise OperationError(f"regex_replace: {exc}") from None
        if self.field == CONVERSATION:
            check_scope(self.roles or SCOPE_ROLES, self.turns)
        elif self.roles or self.turns != "any":
            raise OperationError(f"regex_replace: roles and turns go with field={CONVERSATION!r}, not {self.field!r}")

    @property
    def scoped(self) -> bool:
        return self.field == CONVERSATION

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        if not self.scoped:  # recipes saved before scopes existed read the same
            del data["roles"], data["turns"]
        return data

    def replaced(self, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        """(old values, new values) of the field."""
        if self.field not in frame.columns:
            raise OperationError(f"regex_replace: no column {self.field!r}")
        old = frame[self.field]
        if self.field not in TEXT_FIELDS and not (
            pd.api.types.is_string_dtype(old.dtype) or old.dropna().map(type).eq(str).all()
        ):
            raise OperationError(f"regex_replace: column {self.field!r} does not hold text")
        old = old.astype(TEXT)
        new = replace_all(old, compile_pattern(self.pattern, ignore_case=self.ignore_case), self.replacement)
        return old, new

    def in_turns(self, frame: pd.DataFrame, *, dry_run: bool = False) -> tuple[pd.DataFrame, list[TurnChange]]:
        """The scoped replacement (``field="conversation"``): the new frame and every changed piece of text."""
        return replace_in_turns(
            frame,
            compile_pattern(self.pattern, ignore_case=self.ignore_case),
            self.replacement,
            roles=self.roles or SCOPE_ROLES,
            turns=self.turns,  # type: ignore[arg-type]  # checked in __post_init__ (check_scope)
            dry_run=dry_run,
        )

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.scoped:
            return self.in_turns(frame)[0]
        old, new = self.replaced(frame)
        if self.field in TEXT_FIELDS:
            return _set_column_turns(frame, self.field, old, new)
        out = frame.copy(deep=False).reset_index(drop=True)
        out[self.field] = new.to_numpy() if frame[self.field].dtype == object else new.reset_index(drop=True)
        return out

    def outside_scope(self, frame: pd.DataFrame) -> int:
        """How many matches of the pattern lie in turns this replace does not reach (a text field is one turn:
        :func:`~studio.editing.turn_edits.matches_outside`); 0 for ``field="conversation"`` and metadata columns.
        The same before and after :meth:`apply`, which changes only its own turn."""
        if self.scoped or self.field not in TEXT_FIELDS:
            return 0
        return matches_outside(frame, self.field, self.pattern, ignore_case=self.ignore_case)

    def outside_note(self, n: int, lang: str = "en", *, changed: bool = True) -> str:
        """``"12 matches in turns other than the last user turn — field "conversation" replaces in every turn"``
        in ``lang``: what :meth:`outside_scope` found and how to reach it; led by ``"no change in the last user
        turn; "`` when this replace changed nothing."""
        from studio.i18n import translator

        tr = translator(lang)
        where = tr(f"ops.turns_{'first' if self.field == 'system' else 'last'}", roles=tr.label("columns", self.field))
        note = tr.plural("ops.outside_scope", n, where=where)
        return note if changed else f"{tr('ops.no_change_in', where=where)}; {note}"

    def describe(self) -> str:
        case = " (ignoring case)" if self.ignore_case else ""
        where = self.field
        if self.scoped:
            which = {"any": "every", "first": "the first", "last": "the last"}[self.turns]
            where = f"{which} {', '.join(self.roles or SCOPE_ROLES)} turn"
        return f"Replace /{self.pattern}/ with {self.replacement!r} in {where}{case}"

    def _described(self, tr: Any) -> dict[str, Any] | None:
        where = tr.label("columns", self.field)
        if self.scoped:
            roles = ", ".join(tr(f"dataset.role_{r}") for r in (self.roles or SCOPE_ROLES))  # as the scope picker
            where = tr(f"ops.turns_{self.turns}", roles=roles)
        case = tr("ops.ignoring_case") if self.ignore_case else ""
        return {"pattern": self.pattern, "replacement": repr(self.replacement), "where": where, "case": case}


@dataclass(frozen=True)
class StripWhitespace(Op):
    """Remove leading and trailing whitespace from text fields."""

    fields: tuple[TextField, ...] = TEXT_FIELDS
    op: ClassVar[str] = "strip_whitespace"

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        bad = [f for f in self.fields if f not in TEXT_FIELDS]
        if bad or not self.fields:
            raise OperationError(
                f"strip_whitespace: fields must be among {', '.join(TEXT_FIELDS)}, got {list(self.fields)!r}"
            )

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = frame
        for name in self.fields:
            old = out[name]
            stripped = pc.utf8_trim_whitespace(arrow_strings(old))
            new = pd.Series(pd.array(stripped, dtype=TEXT), index=old.index)
            out = _set_column_turns(out, name, old, new)
        return out.reset_index(drop=True)

    def describe(self) -> str:
        return f"Strip leading and trailing whitespace in {', '.join(self.fields)}"

    def _described(self, tr: Any) -> dict[str, Any] | None:
        return {"fields": ", ".join(tr.label("columns", f) for f in self.fields)}


@dataclass(frozen=True)
class FillSystemPrompt(Op):
    """Set the system prompt where it is missing or blank (or on every row)."""

    text: str
    only_missing: bool = True
    op: ClassVar[str] = "fill_system_prompt"

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise OperationError("fill_system_prompt: the system prompt is empty")

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        old = frame["system"]
        if self.only_missing:
            blank = pc.fill_null(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(arrow_strings(old))), 0), True)
            targets = pd.Series(blank.to_numpy(zero_copy_only=False), index=old.index)
        else:
            targets = pd.Series(True, index=old.index)
        new = old.astype(TEXT).mask(targets, self.text)
        return _set_column_turns(frame, "system", old, new)

    def describe(self) -> str:
        where = "where it is missing" if self.only_missing else "on every row"
        return f"Set the system prompt to {_short(self.text)} {where}"

    def _described(self, tr: Any) -> dict[str, Any] | None:
        where = tr("ops.where_missing") if self.only_missing else tr("ops.every_row")
        return {"text": _short(self.text), "where": where}


def _refuse_text_over_tool_calls(example_id: int, messages: Any, value: str) -> None:
    """The grid shows an answer that only calls tools as ``→ name(args)``: writing that line back would put the
    call's summary into the answer's text. Refuse it, naming where to edit the call."""
    answers = [m for m in messages or [] if isinstance(m, Mapping) and m.get("role") == "assistant"]
    last = answers[-1] if answers else None
    if last and last.get("tool_calls") and not content_text(last.get("content")).strip() and value.startswith("→"):
        raise OperationError(
            f"edit_cell: the answer of example {example_id} is a tool call; edit its arguments "
            "in the conversation, not as text in the grid"
        )


# -- helpers -------------------------------------------------------------------------------------------------


def _whole_ids(ids: Sequence[int], op: str) -> tuple[int, ...]:
    ids = tuple(ids)
    if not all(isinstance(i, int | np.integer) and not isinstance(i, bool) for i in ids):
        raise OperationError(f"{op}: ids must be whole numbers, got {list(ids)[:5]!r}")
    return tuple(int(i) for i in ids)


def _in_scope(frame: pd.DataFrame, ids: tuple[int, ...]) -> np.ndarray:
    """Bool per row: its ``id`` is among ``ids``; every row when ``ids`` is empty."""
    if not ids:
        return np.ones(len(frame), dtype=bool)
    return frame["id"].isin(ids).to_numpy(dtype=bool)


def _among(ids: tuple[int, ...]) -> str:
    return f" among {len(ids)} example{'s' if len(ids) != 1 else ''} (ids {_list(ids)})" if ids else ""


def _among_in(tr: Any, ids: tuple[int, ...]) -> dict[str, str]:
    """:func:`_among` in ``tr``'s language, as the ``among`` value of an ``ops.*`` string."""
    return {"among": tr.plural("ops.among", len(ids), ids=_list(ids)) if ids else ""}


def _keep(frame: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    return frame[mask].reset_index(drop=True)


def text_changed(old: pd.Series, new: pd.Series) -> np.ndarray:
    """Bool per row: the text differs, or one side is missing and the other is not."""
    a, b = arrow_strings(old), arrow_strings(new)
    differs = pc.fill_null(pc.not_equal(a, b), False).to_numpy(zero_copy_only=False)
    null_flip = (pc.is_null(a).to_numpy(zero_copy_only=False)) != (pc.is_null(b).to_numpy(zero_copy_only=False))
    return np.asarray(differs, dtype=bool) | null_flip


def _set_column_turns(frame: pd.DataFrame, name: TextField, old: pd.Series, new: pd.Series) -> pd.DataFrame:
    """Write ``new`` into turn ``name`` where it differs from ``old`` (NA in ``new`` leaves a row alone)."""
    changed = text_changed(old, new) & new.notna().to_numpy()
    values = new.to_numpy()
    return set_turns(frame, name, {int(p): values[p] for p in np.flatnonzero(changed)})


def _check_replacement(pattern: Any, replacement: str) -> None:
    if not isinstance(replacement, str):
        raise PatternError(f"the replacement must be text, got {replacement!r}")
    from studio.quality.patterns import check_replacement

    check_replacement(pattern, replacement)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _list(ids: Sequence[int], limit: int = 5) -> str:
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f", … {len(ids) - limit} more" if len(ids) > limit else "")


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 2] + "…" + text[-1]
