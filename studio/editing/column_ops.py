"""Operations on the metadata columns of a frame (the keys a loader kept beside the conversation): rename one,
move one. Like every :class:`~studio.editing.ops.Op`, each is a small frozen dataclass whose ``apply`` returns a
new frame; the conversation columns are never touched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

from studio.data.frame import CORE_COLUMNS, EXAMPLE_KEYS, metadata_columns
from studio.editing.ops import Op
from studio.errors import OperationError


@dataclass(frozen=True)
class RenameColumn(Op):
    """Rename a metadata column."""

    old: str
    new: str
    op: ClassVar[str] = "rename_column"

    def __post_init__(self) -> None:
        for name in (self.old, self.new):
            if name in CORE_COLUMNS or name in EXAMPLE_KEYS:
                raise OperationError(f"rename_column: {name!r} is a core column and cannot be renamed")
        if not isinstance(self.new, str) or not self.new.strip():
            raise OperationError("rename_column: the new name is empty")

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.old not in frame.columns:
            raise OperationError(
                f"rename_column: no column {self.old!r}; metadata: {', '.join(metadata_columns(frame)) or 'none'}"
            )
        if self.new in frame.columns and self.new != self.old:
            raise OperationError(f"rename_column: a column named {self.new!r} already exists")
        return frame.rename(columns={self.old: self.new}).reset_index(drop=True)

    def describe(self) -> str:
        return f"Rename column {self.old!r} to {self.new!r}"

    def _described(self, tr: Any) -> dict[str, Any] | None:
        return {"old": repr(self.old), "new": repr(self.new)}


@dataclass(frozen=True)
class MoveColumn(Op):
    """Move a metadata column to ``position`` among the metadata columns (0 = first; core columns stay)."""

    name: str
    position: int
    op: ClassVar[str] = "move_column"

    def __post_init__(self) -> None:
        if isinstance(self.position, bool) or not isinstance(self.position, int) or self.position < 0:
            raise OperationError(f"move_column: position must be a whole number ≥ 0, got {self.position!r}")

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        extra = metadata_columns(frame)
        if self.name not in extra:
            raise OperationError(
                f"move_column: no metadata column {self.name!r}; metadata: {', '.join(extra) or 'none'}"
            )
        if self.position >= len(extra):
            raise OperationError(f"move_column: position {self.position} is out of range (0–{len(extra) - 1})")
        extra.remove(self.name)
        extra.insert(self.position, self.name)
        core = [c for c in frame.columns if c not in extra]
        return frame[core + extra].reset_index(drop=True)

    def describe(self) -> str:
        return f"Move column {self.name!r} to position {self.position}"

    def _described(self, tr: Any) -> dict[str, Any] | None:
        return {"name": repr(self.name), "position": self.position}
