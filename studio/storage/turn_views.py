"""The turn views kept in the workspace: each version's turn view (:func:`studio.data.turns.turn_view`), built
once and stored beside the version (table ``turn_views``, one Arrow file per version,
:func:`~studio.storage.frames.view_to_arrow`), so that the next session reads it back instead of building it again.

A stored view is used only for the rows it was built from (its example ids at its positions are the frame's) and
only when this process's code built it (``builder``: :func:`view_builder`); otherwise it is built again and stored
in its place. An import keeps the view of versions up to :data:`KEPT_VIEW_ROWS` examples.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
import uuid
from contextlib import suppress
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from studio.data import turns
from studio.data.turns import cached_view, remember_view, turn_view
from studio.errors import WorkspaceError
from studio.storage.frames import view_from_arrow, view_to_arrow

if TYPE_CHECKING:
    from studio.storage.workspace import Workspace

KEPT_VIEW_ROWS = 250_000
"""Up to this many examples an imported version's turn view is stored with it (~18 MB per 100k multi-turn
examples), for the Dataset page to read back ahead of the first search; beyond, a search builds it in memory when
it asks for it (studio.data.turns.turn_view)."""


@cache
def view_builder() -> str:
    """What built this process's turn views: a digest of :mod:`studio.data.turns`, the code that builds them. A view
    stored by other code (an older or newer studio on the same workspace) is built again rather than trusted."""
    try:
        return hashlib.sha256(Path(turns.__file__).read_bytes()).hexdigest()[:16]
    except OSError:  # no source to read: this process's views are its own
        return f"process-{uuid.uuid4().hex}"


def save_turn_view(workspace: Workspace, version_id: int, frame: pd.DataFrame, view: pd.DataFrame) -> None:
    """Keep ``view``, the turn view of ``frame`` (version ``version_id``'s frame), so that the next session
    reads it back (:func:`load_turn_view`) instead of building it again; one per version."""
    data = view_to_arrow(view)
    with workspace.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO turn_views(version_id, builder, data, created_at) VALUES (?, ?, ?, ?)",
            (version_id, view_builder(), data, time.time()),
        )


def load_turn_view(workspace: Workspace, version_id: int, frame: pd.DataFrame) -> pd.DataFrame | None:
    """The turn view stored for version ``version_id``, made the one :func:`~studio.data.turns.turn_view`
    returns for ``frame`` (that version's frame) from now on; None when none is stored, or it was stored for
    other rows or built by other code (:func:`view_builder`)."""
    with workspace.connect() as db:
        row = db.execute(
            "SELECT data FROM turn_views WHERE version_id=? AND builder=?", (version_id, view_builder())
        ).fetchone()
    view = None if row is None else view_from_arrow(row[0], frame)
    if view is not None:
        remember_view(frame, view)
    return view


def version_turn_view(workspace: Workspace, version_id: int, frame: pd.DataFrame) -> pd.DataFrame:
    """Version ``version_id``'s turn view for ``frame`` (its frame): the one cached, else the one stored, else
    built; stored when it is not yet, so it is built once per version."""
    view = cached_view(frame)
    if view is None and (view := load_turn_view(workspace, version_id, frame)) is not None:
        return view
    with workspace.connect() as db:
        stored = db.execute(
            "SELECT 1 FROM turn_views WHERE version_id=? AND builder=?", (version_id, view_builder())
        ).fetchone()
    if view is None:
        view = turn_view(frame)
    if stored is None:
        with suppress(WorkspaceError, sqlite3.Error):  # read-only or busy: the view is still this process's
            save_turn_view(workspace, version_id, frame, view)
    return view
