"""The Dataset page's model: a workspace dataset's head version plus its persisted edit log.

Every operation is validated on the current frame, then written to the workspace, and only then becomes part of
the in-memory history, so an edit the UI acknowledges is on disk and a refresh, a server restart or a crash loses
nothing. Reopening a dataset replays the log from its head version.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar

import pandas as pd

from studio.editing.history import History
from studio.editing.ops import Op
from studio.editing.recipes import Recipe, op_from_dict
from studio.errors import OperationError
from studio.storage.workspace import DatasetInfo, VersionInfo, Workspace

T = TypeVar("T")
_MEMO_ENTRIES = 64


class DatasetEditor:
    """Edits on one workspace dataset, with undo/redo and named versions.

    ``version`` changes whenever rows may have been added, removed or reordered (bulk operations, undo, redo,
    checkout); an operation on one example (a cell edit, a conversation-panel edit: ``Op.one_example``) leaves it
    alone, so the page keeps the grid mounted and re-checks only that row.
    ``revision`` changes on every change, for caches keyed on the data.
    """

    def __init__(self, workspace: Workspace, dataset_id: int) -> None:
        self.workspace = workspace
        self.dataset_id = dataset_id
        self.version = 0
        self.revision = 0
        self._memo: dict[object, object] = {}
        self._load()

    def _load(self) -> None:
        info = self.workspace.dataset(self.dataset_id)
        self.base = self.workspace.load_version(info.head_version_id)
        everything = self.workspace.operations(self.dataset_id, include_undone=True)
        active = len(self.workspace.operations(self.dataset_id))
        self.history = History([op_from_dict(d) for d in everything], cursor=active)
        self._changed(structural=True)

    def _changed(self, *, structural: bool) -> None:
        self.revision += 1
        self._memo.clear()
        if structural:
            self.version += 1

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()`` once per revision and ``key``: what the page derives from the frame on every rerun
        (the rows an export format cannot hold, for one) is computed again only after a change."""
        if key not in self._memo:
            if len(self._memo) >= _MEMO_ENTRIES:  # many filters on one revision: start afresh, stay small
                self._memo.clear()
            self._memo[key] = compute()
        return self._memo[key]  # type: ignore[return-value]  # stored by this method under this key

    @property
    def info(self) -> DatasetInfo:
        return self.workspace.dataset(self.dataset_id)

    @property
    def frame(self) -> pd.DataFrame:
        return self.history.current(self.base)

    def apply(self, op: Op) -> pd.DataFrame:
        """Validate, persist, then apply ``op``; raises :class:`OperationError` (nothing stored) if it fails."""
        result = op.apply(self.frame)  # raises before anything is written
        self.workspace.append_operation(self.dataset_id, op.to_dict())
        self.history.push(op, result)
        self._changed(structural=not op.one_example)
        return self.frame

    def replay(self, recipe: Recipe, *, on_step: Callable[[int, Op], None] | None = None) -> pd.DataFrame:
        """Apply every operation of ``recipe`` in order (each one persisted and undoable)."""
        for number, op in enumerate(recipe.ops, 1):
            try:
                self.apply(op)
            except OperationError as exc:
                raise OperationError(f"recipe step {number} ({op.describe()}): {exc}") from None
            if on_step:
                on_step(number, op)
        return self.frame

    def undo(self) -> Op | None:
        if self.workspace.undo(self.dataset_id) is None:
            return None
        op = self.history.undo()
        self._changed(structural=True)
        return op

    def redo(self) -> Op | None:
        if self.workspace.redo(self.dataset_id) is None:
            return None
        op = self.history.redo()
        self._changed(structural=True)
        return op

    @property
    def can_undo(self) -> bool:
        return self.history.can_undo

    @property
    def can_redo(self) -> bool:
        return self.history.can_redo

    def recipe(self) -> Recipe:
        """The active operations since the head version, as a replayable recipe."""
        return self.history.recipe()

    def save_version(self, name: str) -> VersionInfo:
        """Snapshot the current frame as a named version; the edit log starts afresh from it."""
        version = self.workspace.save_version(self.dataset_id, self.frame, name=name)
        self._load()
        return version

    def checkout(self, version_id: int) -> None:
        self.workspace.checkout(self.dataset_id, version_id)
        self._load()
