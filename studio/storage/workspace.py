"""The workspace: one SQLite database (WAL) holding imported datasets, saved versions and the edit log.

Location: ``$STUDIO_WORKSPACE`` or ``./workspace/studio.db`` (the CLI's ``--workspace`` sets the variable).

A dataset has versions (full snapshots, stored as Arrow blobs, each with its rule flags and its turn view:
:mod:`studio.storage.turn_views`) and a *working state*: its head version plus the operations applied since, in
order. Every acknowledged edit is one row in ``operations``, written before the UI says it is done, so a refresh or
a crash loses nothing. Undo marks the newest active operation inactive; redo re-activates it; a new operation after
an undo discards the undone ones (as every editor does). Saving a version snapshots the result: the log it came from
is kept for the record but never replayed again.

Two sessions may edit one dataset. Each dataset has a ``revision`` that every change to its head or its log bumps,
in the same transaction; a write that passes ``expected_revision`` (the revision its caller computed it from) is
refused with :class:`~studio.errors.ConflictError` when the revision has moved, so no session overwrites an edit it
never saw (:class:`~studio.editing.editor.DatasetEditor` then merges or reloads). Every write is one transaction:
a crash leaves the state before it or after it. A write the disk cannot hold (full, or a file-size limit) raises
:class:`~studio.errors.WorkspaceError` naming the workspace file, and the transaction is rolled back.

The user's original file is never touched: the import stores its parsed frame as version 1 ("original").
No API key is ever written here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from studio.errors import ConflictError, WorkspaceError
from studio.storage.frames import (
    FrameCache,
    flags_from_blob,
    flags_to_blob,
    frame_from_blob,
    frame_to_blob,
)
from studio.storage.migrations import migrate
from studio.storage.turn_views import KEPT_VIEW_ROWS, version_turn_view

DEFAULT_PATH = Path("workspace") / "studio.db"
_FRAMES = FrameCache()


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid of the row an ``INSERT`` on ``cursor`` just added (sqlite3 types ``lastrowid`` as optional: it is
    None only before any INSERT, which would be a bug here)."""
    row_id = cursor.lastrowid
    if row_id is None:
        raise WorkspaceError("an INSERT returned no row id")
    return row_id


@dataclass(frozen=True)
class DatasetInfo:
    id: int
    name: str
    source_name: str
    format: str
    encoding: str | None
    head_version_id: int
    created_at: float
    revision: int = 0


@dataclass(frozen=True)
class VersionInfo:
    id: int
    dataset_id: int
    name: str
    parent_id: int | None
    rows: int
    created_at: float


def workspace_path() -> Path:
    """Where the workspace lives: ``$STUDIO_WORKSPACE`` or ``./workspace/studio.db``."""
    return Path(os.environ.get("STUDIO_WORKSPACE") or DEFAULT_PATH)


# ---------------------------------------------------------------------------------------------- workspace


class Workspace:
    """A handle on the workspace database; cheap to create, one SQLite connection per call."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else workspace_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            migrate(db)  # every table of every feature, created or upgraded here (studio.storage.migrations)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise WorkspaceError(f"could not open the workspace {self.path}: {exc}") from None
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            yield db
        except sqlite3.Error as exc:
            if not _DISK_TROUBLE.search(str(exc)):
                raise
            raise WorkspaceError(f"could not write the workspace {self.path}: {_why(exc)}") from None
        finally:
            db.close()

    def connect(self) -> AbstractContextManager[sqlite3.Connection]:
        """A plain connection (autocommit; WAL; foreign keys on), as a context manager."""
        return self._connect()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection inside ``BEGIN IMMEDIATE … COMMIT`` (rolled back on error)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:  # SQLite may have rolled back already (a full disk does)
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @staticmethod
    def _head(db: sqlite3.Connection, dataset_id: int, expected_revision: int | None) -> tuple[int, int]:
        """(head version id, revision) of a dataset inside a write transaction; :class:`ConflictError` when
        ``expected_revision`` is given and another session has changed the dataset since."""
        row = db.execute("SELECT head_version_id, revision FROM datasets WHERE id=?", (dataset_id,)).fetchone()
        if row is None:
            raise WorkspaceError(f"no dataset with id {dataset_id}")
        if expected_revision is not None and row["revision"] != expected_revision:
            raise ConflictError(
                f"dataset {dataset_id} was changed in another session "
                f"({row['revision'] - expected_revision} change(s) since this one read it)"
            )
        return row["head_version_id"], row["revision"]

    @staticmethod
    def _bump(db: sqlite3.Connection, dataset_id: int) -> int:
        db.execute("UPDATE datasets SET revision=revision+1 WHERE id=?", (dataset_id,))
        return db.execute("SELECT revision FROM datasets WHERE id=?", (dataset_id,)).fetchone()[0]

    # -- datasets ----------------------------------------------------------------------------------------

    def import_dataset(
        self,
        frame: pd.DataFrame,
        *,
        name: str,
        source_name: str,
        source_bytes: bytes = b"",
        format: str,
        encoding: str | None = None,
    ) -> DatasetInfo:
        """Store a freshly loaded frame as a new dataset whose first version is named "original"."""
        now = time.time()
        digest = hashlib.sha256(source_bytes).hexdigest()
        blob = frame_to_blob(frame)
        with self.transaction() as db:
            dataset_id = inserted_id(
                db.execute(
                    "INSERT INTO datasets(name, source_name, source_sha256, format, encoding, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (name, source_name, digest, format, encoding, now),
                )
            )
            version_id = inserted_id(
                db.execute(
                    "INSERT INTO versions(dataset_id, name, rows, data, created_at) VALUES (?, 'original', ?, ?, ?)",
                    (dataset_id, len(frame), blob, now),
                )
            )
            db.execute("UPDATE datasets SET head_version_id=? WHERE id=?", (version_id, dataset_id))
        return self.dataset(dataset_id)

    def datasets(self) -> list[DatasetInfo]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM datasets ORDER BY id").fetchall()
        return [self._dataset(r) for r in rows]

    def dataset(self, dataset_id: int) -> DatasetInfo:
        with self._connect() as db:
            row = db.execute("SELECT * FROM datasets WHERE id=?", (dataset_id,)).fetchone()
        if row is None:
            raise WorkspaceError(f"no dataset with id {dataset_id} in {self.path}")
        return self._dataset(row)

    @staticmethod
    def _dataset(row: sqlite3.Row) -> DatasetInfo:
        return DatasetInfo(
            id=row["id"],
            name=row["name"],
            source_name=row["source_name"],
            format=row["format"],
            encoding=row["encoding"],
            head_version_id=row["head_version_id"],
            created_at=row["created_at"],
            revision=row["revision"],
        )

    def delete_dataset(self, dataset_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM datasets WHERE id=?", (dataset_id,))

    # -- versions ----------------------------------------------------------------------------------------

    def save_version(
        self,
        dataset_id: int,
        frame: pd.DataFrame,
        *,
        name: str,
        make_head: bool = True,
        expected_revision: int | None = None,
    ) -> VersionInfo:
        """Snapshot ``frame`` as a named version; by default it becomes the dataset's head with an empty edit log.

        With ``make_head=False`` (train/validation/test splits) the head and its edit log are left as they are.
        ``expected_revision``: the dataset's revision ``frame`` was computed from; :class:`ConflictError` (and
        nothing saved) when another session has changed the dataset since.
        """
        if not name.strip():
            raise WorkspaceError("a version needs a name")
        blob = frame_to_blob(frame)
        with self.transaction() as db:
            head, _ = self._head(db, dataset_id, expected_revision)
            version_id = inserted_id(
                db.execute(
                    "INSERT INTO versions(dataset_id, name, parent_id, rows, data, created_at) VALUES (?,?,?,?,?,?)",
                    (dataset_id, name.strip(), head, len(frame), blob, time.time()),
                )
            )
            if make_head:
                db.execute("UPDATE datasets SET head_version_id=? WHERE id=?", (version_id, dataset_id))
                # The log now lives in the snapshot: keep it for the record (active=-1), never replay it again.
                db.execute("DELETE FROM operations WHERE version_id=? AND active=0", (head,))
                db.execute("UPDATE operations SET active=-1 WHERE version_id=? AND active=1", (head,))
                self._bump(db, dataset_id)
        return self.version(version_id)

    def versions(self, dataset_id: int) -> list[VersionInfo]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, dataset_id, name, parent_id, rows, created_at FROM versions WHERE dataset_id=? ORDER BY id",
                (dataset_id,),
            ).fetchall()
        return [VersionInfo(**dict(r)) for r in rows]

    def version(self, version_id: int) -> VersionInfo:
        with self._connect() as db:
            row = db.execute(
                "SELECT id, dataset_id, name, parent_id, rows, created_at FROM versions WHERE id=?", (version_id,)
            ).fetchone()
        if row is None:
            raise WorkspaceError(f"no version with id {version_id} in {self.path}")
        return VersionInfo(**dict(row))

    def load_version(self, version_id: int) -> pd.DataFrame:
        """A version's frame. Versions never change, so the last few read are kept in memory and shared: a new
        session or a browser refresh reopens a 100k-row dataset without decoding it again. Callers must not
        modify the frame in place (operations return new frames)."""
        with self._connect() as db:
            key = self._frame_key(db, version_id)
            if key is None:
                raise WorkspaceError(f"no version with id {version_id} in {self.path}")

            def decode() -> pd.DataFrame:
                data = db.execute("SELECT data FROM versions WHERE id=?", (version_id,)).fetchone()["data"]
                return frame_from_blob(data)

            frame = _FRAMES.get(key, decode)
        return frame

    def is_decoded(self, version_id: int) -> bool:
        """Whether :meth:`load_version` would return version ``version_id`` without decoding it (it is among the
        frames kept in memory); False for an unknown version."""
        with self._connect() as db:
            key = self._frame_key(db, version_id)
        return key is not None and key in _FRAMES.cached_keys()

    def _frame_key(self, db: sqlite3.Connection, version_id: int) -> tuple[str, int, float] | None:
        """The key of version ``version_id``'s decoded frame in the process-wide cache (this workspace, the
        version, when it was stored), or None when there is no such version."""
        row = db.execute("SELECT created_at FROM versions WHERE id=?", (version_id,)).fetchone()
        return None if row is None else (str(self.path.resolve()), version_id, row["created_at"])

    def prefetch_version(self, version_id: int, then: Callable[[], object] | None = None) -> threading.Thread:
        """Start decoding a version in the background (see :meth:`load_version`), e.g. the dataset a user is
        likely to open next; a failure is left to the later :meth:`load_version` call to report. ``then`` runs
        next on the same thread (another warm-up that would otherwise hold the interpreter while the decode, the
        one a page waits for first, runs)."""

        def load() -> None:
            with suppress(WorkspaceError, sqlite3.Error):
                self.load_version(version_id)
            if then is not None:
                then()

        thread = threading.Thread(target=load, name=f"prefetch-{version_id}", daemon=True)
        thread.start()
        return thread

    def save_flags(self, version_id: int, signature: str, frame: pd.DataFrame, flags: pd.DataFrame) -> None:
        """Keep the rule flags of ``frame`` (version ``version_id`` with the edits that ``signature`` stands for),
        so reopening the dataset need not run the rules again; one set is kept per version."""
        data = flags_to_blob(frame, flags)
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO flags(version_id, signature, data, created_at) VALUES (?, ?, ?, ?)",
                (version_id, signature, data, time.time()),
            )

    def flags_signature(self, version_id: int) -> str | None:
        """The signature of the flags stored for this version, if any."""
        with self._connect() as db:
            row = db.execute("SELECT signature FROM flags WHERE version_id=?", (version_id,)).fetchone()
        return None if row is None else row[0]

    def load_flags(self, version_id: int, signature: str, frame: pd.DataFrame) -> pd.DataFrame | None:
        """The flags stored for this version and ``signature``, indexed like ``frame``; None when there are none
        or they were stored for other rows."""
        with self._connect() as db:
            row = db.execute(
                "SELECT data FROM flags WHERE version_id=? AND signature=?", (version_id, signature)
            ).fetchone()
        if row is None:
            return None
        return flags_from_blob(row[0], frame)

    def checkout(self, dataset_id: int, version_id: int, *, expected_revision: int | None = None) -> None:
        """Make ``version_id`` the dataset's head (its edit log continues from there); ``expected_revision`` as in
        :meth:`save_version`."""
        if self.version(version_id).dataset_id != dataset_id:
            raise WorkspaceError(f"version {version_id} does not belong to dataset {dataset_id}")
        with self.transaction() as db:
            self._head(db, dataset_id, expected_revision)
            db.execute("UPDATE datasets SET head_version_id=? WHERE id=?", (version_id, dataset_id))
            self._bump(db, dataset_id)

    # -- edit log ----------------------------------------------------------------------------------------

    def append_operation(self, dataset_id: int, op: dict[str, Any], *, expected_revision: int | None = None) -> int:
        """Persist one acknowledged edit on the dataset's head version; undone operations are discarded. Returns
        the dataset's new revision. ``expected_revision``: the revision ``op`` was computed from;
        :class:`ConflictError` (nothing written) when another session has changed the dataset since."""
        with self.transaction() as db:
            version_id, _ = self._head(db, dataset_id, expected_revision)
            db.execute("DELETE FROM operations WHERE version_id=? AND active=0", (version_id,))
            db.execute(
                "INSERT INTO operations(dataset_id, version_id, op, created_at) VALUES (?, ?, ?, ?)",
                (dataset_id, version_id, json.dumps(op, ensure_ascii=False), time.time()),
            )
            return self._bump(db, dataset_id)

    def operations(self, dataset_id: int, *, include_undone: bool = False) -> list[dict[str, Any]]:
        """The head version's operations in order (active ones, or all of them)."""
        version_id = self.dataset(dataset_id).head_version_id
        active = " AND active>=0" if include_undone else " AND active=1"
        query = "SELECT op FROM operations WHERE version_id=?" + active
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY id", (version_id,)).fetchall()
        return [json.loads(r["op"]) for r in rows]

    def undo(self, dataset_id: int, *, expected_revision: int | None = None) -> dict[str, Any] | None:
        """Deactivate the newest active operation; returns it, or None when there is nothing to undo.
        ``expected_revision`` as in :meth:`append_operation`."""
        with self.transaction() as db:
            version_id, _ = self._head(db, dataset_id, expected_revision)
            row = db.execute(
                "SELECT id, op FROM operations WHERE version_id=? AND active=1 ORDER BY id DESC LIMIT 1", (version_id,)
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE operations SET active=0 WHERE id=?", (row["id"],))
            self._bump(db, dataset_id)
        return json.loads(row["op"])

    def redo(self, dataset_id: int, *, expected_revision: int | None = None) -> dict[str, Any] | None:
        """Re-activate the oldest undone operation; returns it, or None when there is nothing to redo.
        ``expected_revision`` as in :meth:`append_operation`."""
        with self.transaction() as db:
            version_id, _ = self._head(db, dataset_id, expected_revision)
            row = db.execute(
                "SELECT id, op FROM operations WHERE version_id=? AND active=0 ORDER BY id LIMIT 1", (version_id,)
            ).fetchone()
            if row is None:
                return None
            db.execute("UPDATE operations SET active=1 WHERE id=?", (row["id"],))
            self._bump(db, dataset_id)
        return json.loads(row["op"])

    def state(self, dataset_id: int) -> tuple[DatasetInfo, list[dict[str, Any]], int]:
        """One consistent read of a dataset: its info (head version, revision), every operation of its head
        (undone ones included, in order) and how many of them are active."""
        with self._connect() as db:
            db.execute("BEGIN")  # one snapshot: another session's write lands before or after all of it
            try:
                row = db.execute("SELECT * FROM datasets WHERE id=?", (dataset_id,)).fetchone()
                if row is None:
                    raise WorkspaceError(f"no dataset with id {dataset_id} in {self.path}")
                rows = db.execute(
                    "SELECT op, active FROM operations WHERE version_id=? AND active>=0 ORDER BY id",
                    (row["head_version_id"],),
                ).fetchall()
            finally:
                db.execute("COMMIT")
        return self._dataset(row), [json.loads(r["op"]) for r in rows], sum(r["active"] == 1 for r in rows)

    # -- settings ----------------------------------------------------------------------------------------

    def set_setting(self, key: str, value: Any) -> None:
        if "key" in key.lower().split("_") or "secret" in key.lower():
            raise WorkspaceError(f"refusing to store {key!r}: secrets never go in the workspace")
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def setting(self, key: str, default: Any = None) -> Any:
        with self._connect() as db:
            row = db.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return default if row is None else json.loads(row["value"])


_DISK_TROUBLE = re.compile(r"disk is full|disk I/O|readonly|read-only|unable to open")


def _why(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "full" in text or "I/O" in text:
        return f"the disk is full or a file-size limit was reached ({text})"
    return text


# ---------------------------------------------------------------------------------------------- imports

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample_data"
SAMPLE_FILES = ("medical_faq_dirty.csv", "style_demo.jsonl", "style_demo_test.jsonl")


def import_file(
    workspace: Workspace, source: str | Path, *, data: bytes | None = None, name: str | None = None, **load_options: Any
) -> tuple[DatasetInfo, Any]:
    """Load a file (strictly unless ``lenient=True`` is passed) and store it as a new dataset."""
    from studio.data.loader import load_dataset

    raw = data if data is not None else Path(source).read_bytes()
    result = load_dataset(source, data=raw, **load_options)
    return import_loaded(workspace, result, source_name=Path(source).name, data=raw, name=name), result


def import_loaded(
    workspace: Workspace, result: Any, *, source_name: str, data: bytes = b"", name: str | None = None
) -> DatasetInfo:
    """Store a :class:`~studio.data.loader.LoadResult` (already previewed by the user) as a new dataset (named
    ``name``, or after the file), with its rule flags, so the Dataset page opens it without running the rules."""
    from studio.quality.rules import flags_signature, grid_flags

    info = workspace.import_dataset(
        result.frame,
        name=name or Path(source_name).stem,
        source_name=source_name,
        source_bytes=data,
        format=result.format,
        encoding=result.encoding,
    )
    workspace.save_flags(info.head_version_id, flags_signature(), result.frame, grid_flags(result.frame))
    if len(result.frame) <= KEPT_VIEW_ROWS:  # the rules built it: kept for every session
        version_turn_view(workspace, info.head_version_id, result.frame)
    return info


def missing_samples(workspace: Workspace) -> list[str]:
    """File names of the bundled sample datasets that the workspace does not hold yet (by source file name)."""
    present = {d.source_name for d in workspace.datasets()}
    return [name for name in SAMPLE_FILES if (SAMPLE_DIR / name).exists() and name not in present]


def seed_samples(workspace: Workspace) -> list[DatasetInfo]:
    """Import the bundled sample datasets that the workspace does not hold yet (:func:`missing_samples`)."""
    return [import_file(workspace, SAMPLE_DIR / name)[0] for name in missing_samples(workspace)]
