"""The Dataset page's model: a workspace dataset's head version plus its persisted edit log.

Every operation is validated on the current frame, then written to the workspace, and only then becomes part of
the in-memory history, so an edit the UI acknowledges is on disk and a refresh, a server restart or a crash loses
nothing. Reopening a dataset replays the log from its head version.

Two sessions may edit one dataset (two tabs, two people). Every write names the dataset revision the editor last
read (``head_revision``); when another session has written since, an operation is *rebased*: the editor reloads
what is stored, and if the cells the operation changes (an example's column, or one turn of its conversation) were
not changed by the other session, it is applied to the stored state and written (``merged`` says how many cells
of others it now shows); otherwise it is refused with :class:`~studio.errors.ConflictError` and the editor shows
the stored state. Undo, redo, saving a version and checking one out are refused the same way when the dataset
moved, so nothing is saved or undone that the session has not seen.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from studio.data.frame import TEXT_FIELDS
from studio.data.turns import carry_view
from studio.editing.history import History
from studio.editing.ops import Op
from studio.editing.recipes import Recipe, op_from_dict
from studio.errors import ConflictError, OperationError
from studio.storage.workspace import DatasetInfo, VersionInfo, Workspace

T = TypeVar("T")
_MEMO_ENTRIES = 64


class DatasetEditor:
    """Edits on one workspace dataset, with undo/redo and named versions.

    ``version`` changes whenever rows may have been added, removed or reordered (bulk operations, undo, redo,
    checkout); an operation on one example (a cell edit, a conversation-panel edit: ``Op.one_example``) leaves it
    alone, so the page keeps the grid mounted and re-checks only that row.
    ``revision`` changes on every change, for caches keyed on the data.
    ``name`` and ``head`` (a :class:`~studio.storage.workspace.VersionInfo`) are the dataset's name and the
    version the editor shows, as read when it last loaded (``info`` reads what is stored now).
    """

    _REBASE_TRIES = 5

    def __init__(self, workspace: Workspace, dataset_id: int) -> None:
        self.workspace = workspace
        self.dataset_id = dataset_id
        self.version = 0
        self.revision = 0
        self._memo: dict[object, object] = {}
        self.head_revision = 0
        self.merged = 0
        self._load()

    def _load(self) -> None:
        info, everything, active = self.workspace.state(self.dataset_id)
        self.name = info.name
        self.head = self.workspace.version(info.head_version_id)
        self.base = self.workspace.load_version(info.head_version_id)
        self.history = History([op_from_dict(d) for d in everything], cursor=active)
        self.head_revision = info.revision
        self._changed(structural=True)

    def _refresh(self, what: str) -> ConflictError:
        """Reload what is stored (another session wrote) and say that ``what`` was not done."""
        self._load()
        return ConflictError(
            f"{what} was not done: dataset {self.dataset_id} was changed in another session; "
            "it now shows what is stored: look, then try again"
        )

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
        """Validate, persist, then apply ``op``; raises :class:`OperationError` (nothing stored) if it fails.

        When another session has written since this editor read the dataset, ``op`` is rebased (see the module
        docs): ``merged`` is then the number of cells the other sessions changed, and ``version`` changes. Raises
        :class:`ConflictError` (nothing stored; the editor shows the stored state) when they changed a cell that
        ``op`` changes too.
        """
        seen = self.frame
        result = op.apply(seen)  # raises before anything is written
        self.merged = 0
        for _ in range(self._REBASE_TRIES):
            try:
                self.head_revision = self.workspace.append_operation(
                    self.dataset_id, op.to_dict(), expected_revision=self.head_revision
                )
            except ConflictError:
                seen, result = self._rebase(op, seen, result)
                continue
            self.history.push(op, result)
            self._changed(structural=not op.one_example or self.merged > 0)
            if op.one_example and result is self.frame:  # the live filter's turn view: that example rebuilt only
                carry_view(seen, result, np.flatnonzero(result["id"].to_numpy() == getattr(op, "id")))  # noqa: B009
            return self.frame
        raise self._refresh(op.describe())

    def _rebase(self, op: Op, seen: pd.DataFrame, mine: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Reload the stored state and apply ``op`` to it, unless another session changed what ``op`` changes."""
        self._load()
        stored = self.frame
        theirs = changed_cells(seen, stored)
        clash = sorted(_overlap(changed_cells(seen, mine), theirs), key=str)
        if clash:
            raise ConflictError(
                f"{op.describe()} was not saved: another session changed {_describe_cell(clash[0])} too"
                f"{f' (and {len(clash) - 1} more)' if len(clash) > 1 else ''}; "
                "the dataset now shows what is stored: look, then edit again"
            )
        try:
            result = op.apply(stored)
        except OperationError as exc:
            raise ConflictError(
                f"{op.describe()} was not saved: another session changed the dataset and it no longer applies "
                f"({exc}); the dataset now shows what is stored"
            ) from None
        self.merged += len(theirs)
        return stored, result

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
        """Undo the newest operation; :class:`ConflictError` (nothing undone, the stored state shown) when another
        session changed the dataset since this one read it."""
        try:
            if self.workspace.undo(self.dataset_id, expected_revision=self.head_revision) is None:
                return None
        except ConflictError:
            raise self._refresh("undo") from None
        self.head_revision += 1
        op = self.history.undo()
        self._changed(structural=True)
        return op

    def redo(self) -> Op | None:
        """Redo the newest undone operation; :class:`ConflictError` as in :meth:`undo`."""
        try:
            if self.workspace.redo(self.dataset_id, expected_revision=self.head_revision) is None:
                return None
        except ConflictError:
            raise self._refresh("redo") from None
        self.head_revision += 1
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
        """Snapshot the current frame as a named version; the edit log starts afresh from it. Raises
        :class:`ConflictError` (nothing saved; the editor shows the stored state, to save again) when another
        session changed the dataset since this one read it: a version holds only what its author has seen."""
        try:
            version = self.workspace.save_version(
                self.dataset_id, self.frame, name=name, expected_revision=self.head_revision
            )
        except ConflictError:
            raise self._refresh(f"saving the version {name.strip()!r}") from None
        self._load()
        return version

    def checkout(self, version_id: int) -> None:
        """Make ``version_id`` the head; :class:`ConflictError` as in :meth:`save_version`."""
        try:
            self.workspace.checkout(self.dataset_id, version_id, expected_revision=self.head_revision)
        except ConflictError:
            raise self._refresh(f"opening version {version_id}") from None
        self._load()


Cell = tuple[Any, ...]
"""``(id, column)``, ``(id, "messages", turn)`` or ``(id,)`` for a whole example (added, removed, or its turns
added or removed)."""


def changed_cells(before: pd.DataFrame, after: pd.DataFrame) -> set[Cell]:
    """What changed from ``before`` to ``after``, matched by example id: whole examples added or removed, single
    turns of a conversation (same number of turns), other columns. The system/user/assistant columns are views of
    the turns and are not counted apart. Row order alone is not a change."""
    old = dict(zip(before["id"].tolist(), range(len(before)), strict=True))
    new = dict(zip(after["id"].tolist(), range(len(after)), strict=True))
    cells: set[Cell] = {(i,) for i in old.keys() ^ new.keys()}
    common = [i for i in old if i in new]
    columns = [c for c in dict.fromkeys([*before.columns, *after.columns]) if c != "id" and c not in TEXT_FIELDS]
    for column in columns:
        if column not in before.columns or column not in after.columns:
            cells.update((i, column) for i in common)
            continue
        left, right = before[column].tolist(), after[column].tolist()
        for i in common:
            a, b = left[old[i]], right[new[i]]
            if a is b or _same(a, b):
                continue
            if column == "messages" and isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
                cells.update((i, "messages", turn) for turn, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
            elif column == "messages":
                cells.add((i,))
            else:
                cells.add((i, column))
    return cells


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) or (pd.isna(a) and pd.isna(b))
    except (TypeError, ValueError):  # arrays and other values without a single truth value
        return False


def _overlap(mine: set[Cell], theirs: set[Cell]) -> set[Cell]:
    """Cells both changed; a whole example on one side clashes with any change to it on the other."""
    whole_mine = {c[0] for c in mine if len(c) == 1}
    whole_theirs = {c[0] for c in theirs if len(c) == 1}
    return (mine & theirs) | {c for c in theirs if c[0] in whole_mine} | {c for c in mine if c[0] in whole_theirs}


def _describe_cell(cell: Cell) -> str:
    if len(cell) == 1:
        return f"example {cell[0]}"
    if cell[1] == "messages":
        return f"turn {cell[2] + 1} of example {cell[0]}"
    return f"the {cell[1]} of example {cell[0]}"
