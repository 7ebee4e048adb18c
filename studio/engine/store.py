"""The engine's SQLite store: uploaded files, fine-tuning jobs, their events and checkpoints, fine-tuned models.

One database file (``<home>/store.db``, WAL, busy timeout) shared by the server and its worker processes; every
call opens its own short connection, so the store is safe across threads and processes. File contents live next
to it under ``<home>/files/<id>``: paths are derived from validated opaque ids, never from user file names.

A file is complete before it gets its id (it is moved in with :func:`~studio.core.files.atomic_move`, then
recorded); a process killed between the two leaves a complete file with no record, which the next store opened on
this home removes (:meth:`EngineStore.sweep`), as it removes the ``.part`` leftovers of killed writers.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from studio.core.files import atomic_move, remove_partials
from studio.core.job_events import event_message
from studio.engine.errors import InvalidValueError, NotFoundError, StorageError
from studio.engine.records import (
    CheckpointRecord,
    EventLevel,
    EventRecord,
    EventType,
    FileRecord,
    JobRecord,
    JobStatus,
    ModelRecord,
    Page,
    check_id,
    new_id,
)
from studio.errors import WriteError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    filename TEXT NOT NULL,
    purpose TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'processed'
);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    model TEXT NOT NULL,
    base_source TEXT NOT NULL,
    training_file TEXT NOT NULL,
    validation_file TEXT,
    suffix TEXT,
    seed INTEGER NOT NULL,
    hyperparameters TEXT NOT NULL,
    metadata TEXT,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    estimated_finish INTEGER,
    fine_tuned_model TEXT,
    trained_tokens INTEGER,
    error TEXT,
    result_files TEXT NOT NULL DEFAULT '[]',
    attempts INTEGER NOT NULL DEFAULT 0,
    worker_pid INTEGER
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    job_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT
);
CREATE INDEX IF NOT EXISTS events_job ON events (job_id, seq);
CREATE TABLE IF NOT EXISTS checkpoints (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    job_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    model_id TEXT UNIQUE NOT NULL,
    path TEXT NOT NULL,
    metrics TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    base TEXT NOT NULL,
    job_id TEXT NOT NULL,
    path TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
"""


_JSON_COLUMNS = {"base_source", "hyperparameters", "metadata", "error", "result_files", "data", "metrics"}


def _row_dict(row: sqlite3.Row) -> dict[str, Any]:
    out = {}
    for key in row.keys():  # noqa: SIM118 - sqlite3.Row is not a dict
        if key == "seq":
            continue
        value = row[key]
        out[key] = json.loads(value) if key in _JSON_COLUMNS and value is not None else value
    return out


class EngineStore:
    """Files, jobs, events, checkpoints and models of one engine home."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.files_dir.mkdir(exist_ok=True)
        self.path = self.home / "store.db"
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
        self.sweep()

    _ORPHAN_AGE_S = 600
    """A file this old with no record is a leftover (an upload moves in and is recorded within milliseconds)."""

    def sweep(self) -> int:
        """Remove what killed writers left: the ``.part`` files and folders of processes no longer running (upload
        buffers in ``tmp/``, checkpoints), and files with no record older than :attr:`_ORPHAN_AGE_S` (a process
        killed between moving a file in and recording it); returns how many went."""
        folders = [self.files_dir, self.home / "tmp", *self.home.glob("jobs/*"), *self.home.glob("jobs/*/checkpoints")]
        removed = sum(remove_partials(folder) for folder in folders if folder.is_dir())
        with self._connect() as db:
            known = {row[0] for row in db.execute("SELECT id FROM files")}
        cutoff = time.time() - self._ORPHAN_AGE_S
        for path in self.files_dir.iterdir():
            with suppress(OSError):
                if path.is_file() and path.name not in known and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    @property
    def files_dir(self) -> Path:
        return self.home / "files"

    def job_dir(self, job_id: str) -> Path:
        """Working folder of a job (checkpoints, resume state, final adapter)."""
        return self.home / "jobs" / check_id(job_id, param="fine_tuning_job_id", what="job")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA synchronous=NORMAL")
        try:
            yield db
        finally:
            db.close()

    def _page(self, table: str, where: str, params: list[Any], after: str | None, limit: int) -> tuple[list, bool]:
        if not 1 <= limit <= 10_000:
            raise InvalidValueError(f"limit must be between 1 and 10000, got {limit}", param="limit")
        with self._connect() as db:
            if after is not None:
                row = db.execute(f"SELECT seq FROM {table} WHERE id = ?", (after,)).fetchone()
                if row is None:
                    raise InvalidValueError(f"after: no such id {after!r}", param="after")
                where += " AND seq < ?"
                params = [*params, row["seq"]]
            rows = db.execute(
                f"SELECT * FROM {table} WHERE {where} ORDER BY seq DESC LIMIT ?", (*params, limit + 1)
            ).fetchall()
        return [_row_dict(r) for r in rows[:limit]], len(rows) > limit

    # -- files -------------------------------------------------------------------------------------------------

    def add_file(self, source: Path, *, filename: str, purpose: str) -> FileRecord:
        """Move ``source`` into the store under a new id and record it."""
        file_id = new_id("file")
        target = self.files_dir / file_id
        try:
            atomic_move(source, target)
        except WriteError as exc:
            raise StorageError(f"{exc} (the file {Path(filename).name})", param="file", code="storage_full") from None
        record = FileRecord(
            id=file_id,
            filename=Path(filename).name or "upload.jsonl",
            purpose=purpose,
            bytes=target.stat().st_size,
            created_at=int(time.time()),
            status="processed",
        )
        try:
            with self._connect() as db:
                db.execute(
                    "INSERT INTO files (id, filename, purpose, bytes, created_at, status) VALUES (?, ?, ?, ?, ?, ?)",
                    (record.id, record.filename, record.purpose, record.bytes, record.created_at, record.status),
                )
        except sqlite3.OperationalError as exc:  # the database could not grow (a full disk): keep no file
            target.unlink(missing_ok=True)
            raise StorageError(f"could not record the file {record.filename} in {self.path}: {exc}") from None
        return record

    def get_file(self, file_id: str, *, param: str = "file_id") -> FileRecord:
        check_id(file_id, param=param, what="file")
        with self._connect() as db:
            row = db.execute("SELECT * FROM files WHERE id = ?", (file_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"No such file: {file_id!r}", param=param, code="file_not_found")
        return FileRecord(**_row_dict(row))

    def file_path(self, file_id: str) -> Path:
        return self.files_dir / self.get_file(file_id).id

    def list_files(self, *, purpose: str | None = None, after: str | None = None, limit: int = 10_000) -> Page:
        where, params = ("purpose = ?", [purpose]) if purpose else ("1", [])
        rows, more = self._page("files", where, params, after, limit)
        return Page([FileRecord(**r) for r in rows], more)

    def delete_file(self, file_id: str) -> None:
        record = self.get_file(file_id)
        with self._connect() as db:
            db.execute("DELETE FROM files WHERE id = ?", (record.id,))
        (self.files_dir / record.id).unlink(missing_ok=True)

    # -- jobs --------------------------------------------------------------------------------------------------

    def create_job(
        self,
        *,
        model: str,
        base_source: Mapping[str, Any],
        training_file: str,
        validation_file: str | None,
        suffix: str | None,
        seed: int,
        hyperparameters: Mapping[str, Any],
        metadata: Mapping[str, str] | None = None,
    ) -> JobRecord:
        job_id = new_id("ftjob")
        with self._connect() as db:
            db.execute(
                "INSERT INTO jobs (id, model, base_source, training_file, validation_file, suffix, seed,"
                " hyperparameters, metadata, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    model,
                    json.dumps(dict(base_source)),
                    training_file,
                    validation_file,
                    suffix,
                    seed,
                    json.dumps(dict(hyperparameters)),
                    json.dumps(dict(metadata)) if metadata is not None else None,
                    "validating_files",
                    int(time.time()),
                ),
            )
        self.add_event(job_id, event_message("created", job=job_id))
        return self.get_job(job_id)

    def get_job(self, job_id: str) -> JobRecord:
        check_id(job_id, param="fine_tuning_job_id", what="job")
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                f"No such fine-tuning job: {job_id!r}", param="fine_tuning_job_id", code="job_not_found"
            )
        return JobRecord(**_row_dict(row))

    def list_jobs(self, *, after: str | None = None, limit: int = 20) -> Page:
        rows, more = self._page("jobs", "1", [], after, limit)
        return Page([JobRecord(**r) for r in rows], more)

    def jobs_with_status(self, *statuses: JobStatus) -> list[JobRecord]:
        """Jobs in any of ``statuses``, oldest first (queue order)."""
        marks = ",".join("?" * len(statuses))
        with self._connect() as db:
            rows = db.execute(f"SELECT * FROM jobs WHERE status IN ({marks}) ORDER BY seq", statuses).fetchall()
        return [JobRecord(**_row_dict(r)) for r in rows]

    def update_job(self, job_id: str, *, expect: tuple[JobStatus, ...] | None = None, **fields: Any) -> bool:
        """Set ``fields`` on a job; with ``expect``, only while its status is one of those. True when updated."""
        if not fields:
            return False
        sets = ", ".join(f"{k} = ?" for k in fields)
        values = [json.dumps(v) if k in _JSON_COLUMNS and v is not None else v for k, v in fields.items()]
        where = "id = ?"
        params: list[Any] = [*values, job_id]
        if expect:
            where += f" AND status IN ({','.join('?' * len(expect))})"
            params += list(expect)
        with self._connect() as db:
            cursor = db.execute(f"UPDATE jobs SET {sets} WHERE {where}", params)
        return cursor.rowcount == 1

    # -- events ------------------------------------------------------------------------------------------------

    def add_event(
        self,
        job_id: str,
        message: str,
        *,
        level: EventLevel = "info",
        type: EventType = "message",
        data: Mapping[str, Any] | None = None,
    ) -> EventRecord:
        record = EventRecord(
            id=new_id("ftevent"),
            job_id=job_id,
            created_at=int(time.time()),
            level=level,
            message=message,
            type=type,
            data=dict(data) if data is not None else None,
        )
        with self._connect() as db:
            db.execute(
                "INSERT INTO events (id, job_id, created_at, level, message, type, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    job_id,
                    record.created_at,
                    level,
                    message,
                    type,
                    json.dumps(record.data) if record.data is not None else None,
                ),
            )
        return record

    def list_events(self, job_id: str, *, after: str | None = None, limit: int = 20) -> Page:
        """A job's events, newest first."""
        self.get_job(job_id)
        rows, more = self._page("events", "job_id = ?", [job_id], after, limit)
        return Page([EventRecord(**r) for r in rows], more)

    def metric_rows(self, job_id: str) -> list[dict[str, Any]]:
        """Data of the job's ``metrics`` events, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT data FROM events WHERE job_id = ? AND type = 'metrics' ORDER BY seq", (job_id,)
            ).fetchall()
        return [json.loads(r["data"]) for r in rows]

    # -- checkpoints and models --------------------------------------------------------------------------------

    def add_checkpoint(
        self, job_id: str, *, step: int, model_id: str, path: Path, metrics: Mapping[str, Any]
    ) -> CheckpointRecord:
        record = CheckpointRecord(
            id=new_id("ftckpt"),
            job_id=job_id,
            step=step,
            created_at=int(time.time()),
            model_id=model_id,
            path=str(path),
            metrics=dict(metrics),
        )
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO checkpoints (id, job_id, step, created_at, model_id, path, metrics)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    job_id,
                    step,
                    record.created_at,
                    model_id,
                    record.path,
                    json.dumps(record.metrics),
                ),
            )
        return record

    def list_checkpoints(self, job_id: str, *, after: str | None = None, limit: int = 10) -> Page:
        """A job's checkpoints, newest first."""
        self.get_job(job_id)
        rows, more = self._page("checkpoints", "job_id = ?", [job_id], after, limit)
        return Page([CheckpointRecord(**r) for r in rows], more)

    def all_checkpoints(self) -> list[CheckpointRecord]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM checkpoints ORDER BY seq").fetchall()
        return [CheckpointRecord(**_row_dict(r)) for r in rows]

    def find_checkpoint(self, model_id: str) -> CheckpointRecord | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM checkpoints WHERE model_id = ?", (model_id,)).fetchone()
        return CheckpointRecord(**_row_dict(row)) if row else None

    def add_model(self, model_id: str, *, base: str, job_id: str, path: Path) -> ModelRecord:
        record = ModelRecord(id=model_id, base=base, job_id=job_id, path=str(path), created_at=int(time.time()))
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO models (id, base, job_id, path, created_at) VALUES (?, ?, ?, ?, ?)",
                (record.id, base, job_id, record.path, record.created_at),
            )
        return record

    def find_model(self, model_id: str) -> ModelRecord | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM models WHERE id = ?", (model_id,)).fetchone()
        return ModelRecord(**_row_dict(row)) if row else None

    def list_models(self) -> list[ModelRecord]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM models ORDER BY seq").fetchall()
        return [ModelRecord(**_row_dict(r)) for r in rows]

    def delete_model(self, model_id: str) -> bool:
        """Forget a fine-tuned model and remove its adapter; False when there was none."""
        record = self.find_model(model_id)
        if record is None:
            return False
        with self._connect() as db:
            db.execute("DELETE FROM models WHERE id = ?", (model_id,))
        path = Path(record.path).resolve()
        if path.is_relative_to(self.home.resolve()):  # only ever remove what the engine wrote
            shutil.rmtree(path, ignore_errors=True)
        return True
