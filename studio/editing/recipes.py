"""Recipes: ordered cleaning operations saved as JSON (``{"version": 1, "ops": [...]}``) and replayed on any frame,
with a report of what each step did; :data:`OPERATIONS` maps each ``op`` tag to its class for reading them back."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from studio.data.frame import CORE_COLUMNS, EXAMPLE_KEYS, TEXT, TEXT_FIELDS
from studio.editing.column_ops import MoveColumn, RenameColumn
from studio.editing.ops import (
    DeleteFlagged,
    DeleteRows,
    EditCell,
    FillSystemPrompt,
    KeepOnePerGroup,
    Op,
    RegexReplace,
    StripWhitespace,
    text_changed,
)
from studio.editing.turn_ops import TURN_OPERATIONS
from studio.errors import OperationError, StudioError

RECIPE_VERSION = 1


_ALL: tuple[type[Op], ...] = (
    DeleteRows,
    DeleteFlagged,
    KeepOnePerGroup,
    EditCell,
    RegexReplace,
    StripWhitespace,
    FillSystemPrompt,
    RenameColumn,
    MoveColumn,
    *TURN_OPERATIONS,
)
OPERATIONS: Mapping[str, type[Op]] = MappingProxyType({cls.op: cls for cls in _ALL})
ONE_EXAMPLE_OPS = frozenset(tag for tag, cls in OPERATIONS.items() if cls.one_example)
"""Tags of the operations that change one example (``id``) in place: a cell edit, the conversation panel's."""


def op_from_dict(data: Mapping[str, Any]) -> Op:
    """The operation ``to_dict`` produced; :class:`OperationError` names the unknown tag or field."""
    if not isinstance(data, Mapping) or "op" not in data:
        raise OperationError(f"an operation needs an 'op' tag, got {data!r}")
    tag = data["op"]
    cls = OPERATIONS.get(tag)
    if cls is None:
        raise OperationError(f"unknown operation {tag!r}; operations are {', '.join(OPERATIONS)}")
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names - {"op"})
    if unknown:
        raise OperationError(f"{tag}: unknown field {unknown[0]!r}; fields are {', '.join(sorted(names))}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k != "op"}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise OperationError(f"{tag}: {exc}") from None


@dataclass(frozen=True)
class Recipe:
    """An ordered list of operations; the same recipe on the same data always gives the same result."""

    ops: tuple[Op, ...] = ()
    version: int = RECIPE_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", tuple(self.ops))

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "ops": [op.to_dict() for op in self.ops]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    def numbered(self, lang: str = "en") -> str:
        """One numbered line per operation in ``lang``, as the Dataset page's history shows them ("" when there
        are none)."""
        return "\n".join(f"{n}. {op.describe_in(lang)}" for n, op in enumerate(self.ops, 1))

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        """Parse a saved recipe; :class:`OperationError` names the JSON position or the failing step."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise OperationError(f"recipe is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> Recipe:
        if isinstance(data, list):  # a bare list of operations
            data = {"version": RECIPE_VERSION, "ops": data}
        if not isinstance(data, Mapping) or not isinstance(data.get("ops"), list):
            raise OperationError('a recipe is an object {"version": 1, "ops": [...]}')
        version = data.get("version", RECIPE_VERSION)
        if not isinstance(version, int) or version > RECIPE_VERSION:
            raise OperationError(f"recipe version {version!r} is newer than this studio supports ({RECIPE_VERSION})")
        ops = []
        for number, item in enumerate(data["ops"], start=1):
            try:
                ops.append(op_from_dict(item))
            except OperationError as exc:
                raise OperationError(f"recipe step {number}: {exc}") from None
        return cls(ops=tuple(ops), version=version)


@dataclass(frozen=True)
class StepReport:
    """What one recipe step did."""

    index: int  # 1-based
    op: Op
    rows_before: int
    rows_after: int
    rows_changed: int  # rows kept whose text changed
    columns_before: tuple[str, ...] = ()
    columns_after: tuple[str, ...] = ()
    outside: int = 0  # matches in turns a one-turn replace does not reach (RegexReplace.outside_scope)

    @property
    def message(self) -> str:
        """``"1. Replace /x/ with 'y' in user: changed 3 rows"``; for a one-turn replace that leaves matches in
        other turns, ``"…: no change in the last user turn; 12 matches in turns other than the last user turn —
        field "conversation" replaces in every turn"``."""
        effects = []
        if self.rows_after != self.rows_before:
            removed = self.rows_before - self.rows_after
            effects.append(
                f"removed {removed} row{'s' if removed != 1 else ''} ({self.rows_before} → {self.rows_after})"
            )
        if self.rows_changed:
            effects.append(f"changed {self.rows_changed} row{'s' if self.rows_changed != 1 else ''}")
        if self.columns_after != self.columns_before:
            extra = [c for c in self.columns_after if c not in CORE_COLUMNS and c not in EXAMPLE_KEYS]
            effects.append(f"metadata columns now {', '.join(extra) or 'none'}")
        if self.outside and isinstance(self.op, RegexReplace):
            note = self.op.outside_note(self.outside, changed=bool(effects))
            said = "; ".join([", ".join(effects), note] if effects else [note])
            return f"{self.index}. {self.op.describe()}: {said}"
        return f"{self.index}. {self.op.describe()}: {', '.join(effects) or 'no change'}"


def apply_recipe(
    frame: pd.DataFrame, recipe: Recipe | Sequence[Op], *, on_step: Callable[[StepReport], None] | None = None
) -> pd.DataFrame:
    """Apply every operation in order; ``on_step`` hears what each one did. The input is not modified."""
    ops = recipe.ops if isinstance(recipe, Recipe) else tuple(recipe)
    current = frame
    for number, op in enumerate(ops, start=1):
        try:
            result = op.apply(current)
        except StudioError as exc:
            raise OperationError(f"step {number} ({op.describe()}): {exc}") from None
        if on_step is not None:
            on_step(
                StepReport(
                    index=number,
                    op=op,
                    rows_before=len(current),
                    rows_after=len(result),
                    rows_changed=rows_changed(current, result),
                    columns_before=tuple(map(str, current.columns)),
                    columns_after=tuple(map(str, result.columns)),
                    outside=op.outside_scope(result) if isinstance(op, RegexReplace) else 0,
                )
            )
        current = result
    return current


def rows_changed(before: pd.DataFrame, after: pd.DataFrame) -> int:
    """How many rows present in both frames (by id) have different turns."""
    if "id" not in before.columns or "id" not in after.columns:
        return 0
    common = after.set_index("id", drop=False)
    old = before.set_index("id").reindex(common.index)
    kept = old.index.isin(before["id"])
    changed = np.zeros(len(common), dtype=bool)
    for name in TEXT_FIELDS:
        if name in old.columns and name in common.columns:
            changed |= text_changed(old[name].astype(TEXT), common[name].astype(TEXT))
    if "messages" in old.columns and "messages" in common.columns:  # turns the three views do not show
        pairs = zip(old["messages"].tolist(), common["messages"].tolist(), strict=True)
        changed |= np.fromiter((a is not b and not _same_turns(a, b) for a, b in pairs), dtype=bool, count=len(common))
    return int((changed & kept).sum())


def _same_turns(a: Any, b: Any) -> bool:
    """Whether two examples' turn lists are equal (False for values without a single truth value)."""
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False
