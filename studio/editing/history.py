"""Undo/redo over a base frame, keeping the last few results so one step costs one operation."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from studio.editing.ops import Op
from studio.editing.recipes import Recipe
from studio.errors import OperationError, StudioError


class History:
    """Undo/redo over a base frame: the active operations are ``ops[:cursor]``.

    ``current(base)`` materialises the result. It keeps the last few results, so pushing an operation applies
    only that operation and undo/redo of one step reuse a kept frame; older states are replayed from the base.
    """

    _KEEP = 4

    def __init__(self, ops: Sequence[Op] = (), *, cursor: int | None = None) -> None:
        self._ops: list[Op] = list(ops)
        self._cursor = len(self._ops) if cursor is None else cursor
        if not 0 <= self._cursor <= len(self._ops):
            raise OperationError(f"history cursor {cursor} is outside 0–{len(self._ops)}")
        self._base: pd.DataFrame | None = None
        self._frames: dict[int, pd.DataFrame] = {}

    @property
    def ops(self) -> tuple[Op, ...]:
        """Every operation, including undone ones that redo would bring back."""
        return tuple(self._ops)

    @property
    def cursor(self) -> int:
        return self._cursor

    @property
    def active(self) -> tuple[Op, ...]:
        return tuple(self._ops[: self._cursor])

    @property
    def can_undo(self) -> bool:
        return self._cursor > 0

    @property
    def can_redo(self) -> bool:
        return self._cursor < len(self._ops)

    def push(self, op: Op, result: pd.DataFrame | None = None) -> None:
        """Add ``op`` after the cursor, dropping the undone operations; ``result``, when the caller already
        applied ``op`` to the current frame, is kept so that it is not applied twice."""
        if not isinstance(op, Op):
            raise OperationError(f"not an operation: {op!r}")
        del self._ops[self._cursor :]
        for step in [k for k in self._frames if k > self._cursor]:
            del self._frames[step]
        self._ops.append(op)
        self._cursor += 1
        if result is not None and self._base is not None:
            self._frames[self._cursor] = result

    def undo(self) -> Op | None:
        """Step back; returns the operation undone, or None at the start."""
        if not self.can_undo:
            return None
        self._cursor -= 1
        return self._ops[self._cursor]

    def redo(self) -> Op | None:
        """Step forward again; returns the operation redone, or None at the end."""
        if not self.can_redo:
            return None
        self._cursor += 1
        return self._ops[self._cursor - 1]

    def recipe(self) -> Recipe:
        """The active operations as a recipe."""
        return Recipe(ops=self.active)

    def current(self, base: pd.DataFrame) -> pd.DataFrame:
        """``base`` with the active operations applied."""
        if base is not self._base:
            self._base, self._frames = base, {}
        start = max((k for k in self._frames if k <= self._cursor), default=0)
        frame = self._frames.get(start, base)
        for step in range(start, self._cursor):
            try:
                frame = self._ops[step].apply(frame)
            except StudioError as exc:
                raise OperationError(f"step {step + 1} ({self._ops[step].describe()}): {exc}") from None
            self._frames[step + 1] = frame
        for step in sorted(self._frames)[: -self._KEEP]:
            del self._frames[step]
        return frame
