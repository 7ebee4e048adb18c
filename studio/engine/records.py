"""What the engine's store holds, as frozen records: files, jobs, events, checkpoints, fine-tuned models.

Also the job statuses (OpenAI's six plus the engine's ``paused``) and the engine's opaque ids (``file-3f9a…``),
which are checked before they reach SQL or the filesystem.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from studio.engine.errors import NotFoundError

JobStatus = Literal["validating_files", "queued", "running", "paused", "succeeded", "failed", "cancelled"]
ACTIVE_STATUSES: tuple[JobStatus, ...] = ("validating_files", "queued", "running", "paused")
FINAL_STATUSES: tuple[JobStatus, ...] = ("succeeded", "failed", "cancelled")
EventLevel = Literal["info", "warn", "error"]
EventType = Literal["message", "metrics"]

_ID_RE = re.compile(r"^[a-z]+-[A-Za-z0-9]{8,64}$")


@dataclass(frozen=True)
class FileRecord:
    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int
    status: str


@dataclass(frozen=True)
class JobRecord:
    id: str
    model: str
    base_source: dict[str, Any]
    training_file: str
    validation_file: str | None
    suffix: str | None
    seed: int
    hyperparameters: dict[str, Any]
    metadata: dict[str, str] | None
    status: JobStatus
    created_at: int
    started_at: int | None
    finished_at: int | None
    estimated_finish: int | None
    fine_tuned_model: str | None
    trained_tokens: int | None
    error: dict[str, Any] | None
    result_files: list[str]
    attempts: int
    worker_pid: int | None


@dataclass(frozen=True)
class EventRecord:
    id: str
    job_id: str
    created_at: int
    level: EventLevel
    message: str
    type: EventType
    data: dict[str, Any] | None


@dataclass(frozen=True)
class CheckpointRecord:
    id: str
    job_id: str
    step: int
    created_at: int
    model_id: str
    path: str
    metrics: dict[str, Any]


@dataclass(frozen=True)
class ModelRecord:
    id: str
    base: str
    job_id: str
    path: str
    created_at: int


@dataclass(frozen=True)
class Page:
    """One page of a newest-first listing and whether older items remain."""

    items: list[Any]
    has_more: bool


def new_id(prefix: str) -> str:
    """An opaque random id such as ``file-3f9a...``."""
    return f"{prefix}-{secrets.token_hex(12)}"


def check_id(value: str, *, param: str, what: str) -> str:
    """``value`` when it looks like one of our ids, else a 404 naming it (ids never reach the filesystem raw)."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise NotFoundError(f"No such {what}: {value!r}", param=param, code=f"{what.replace(' ', '_')}_not_found")
    return value
