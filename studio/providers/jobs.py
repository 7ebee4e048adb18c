"""Fine-tuning jobs on any provider through the official SDK: launch, record, watch, control.

Every job is recorded in the workspace (``jobs`` table) before and after each provider call, so a failed
upload, a 403 or an app restart never loses it. The record holds the provider's public profile, ids, the dataset
version, the settings and the cost estimate, never the key.
"""

from __future__ import annotations

import io
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd

from studio.errors import JobError
from studio.providers.profiles import Profile, retry_after
from studio.storage.workspace import Workspace

T = TypeVar("T")
TERMINAL = ("succeeded", "failed", "cancelled")
METRIC_COLUMNS = ("step", "train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy")
WIND_DOWN = (
    "OpenAI no longer accepts new self-serve fine-tuning jobs (the wind-down ends new jobs on 2027-01-06). "
    "Choose the Local engine profile to train an open model on this machine with the same data and settings."
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    profile TEXT NOT NULL,
    job_id TEXT,
    model TEXT NOT NULL,
    suffix TEXT,
    status TEXT NOT NULL,
    fine_tuned_model TEXT,
    training_file TEXT,
    validation_file TEXT,
    dataset_version_id INTEGER,
    settings TEXT NOT NULL,
    estimate_usd REAL,
    trained_tokens INTEGER,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_provider_id ON jobs(provider, job_id);
"""


@dataclass(frozen=True)
class JobRecord:
    id: int
    provider: str
    profile: dict[str, Any]
    job_id: str | None
    model: str
    suffix: str | None
    status: str
    fine_tuned_model: str | None
    training_file: str | None
    validation_file: str | None
    dataset_version_id: int | None
    settings: dict[str, Any]
    estimate_usd: float | None
    trained_tokens: int | None
    error: str | None
    created_at: float
    updated_at: float

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL or self.status == "not_started"


# ---------------------------------------------------------------------------------------------- errors, retries


def explain_error(exc: BaseException) -> str:
    """A one-line, actionable explanation of an SDK exception (never includes the key)."""
    return _without_key(_explanation(exc), exc)


def _without_key(text: str, exc: BaseException) -> str:
    """``text`` with the request's key masked: providers echo keys in error messages, and these get stored."""
    request = getattr(exc, "request", None)
    headers = getattr(request, "headers", None) or {}
    for name in ("authorization", "api-key"):
        key = (headers.get(name) or "").removeprefix("Bearer ").strip()
        if len(key) >= 8:
            text = text.replace(key, "***")
    return text


def _explanation(exc: BaseException) -> str:
    import openai

    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error", body) if isinstance(body, dict) else {}
        code = (error or {}).get("code") if isinstance(error, dict) else None
        message = (error or {}).get("message") if isinstance(error, dict) else None
        if exc.status_code == 401:
            return "The API key was rejected (401). Check the key, or use the Local engine profile."
        if exc.status_code == 403 and code == "training_not_available":
            return f"Fine-tuning is not available to this account (403 training_not_available). {WIND_DOWN}"
        if exc.status_code == 403:
            return f"Permission denied (403): {message or 'the key cannot do this'}."
        if exc.status_code == 404:
            return f"Not found (404): {message or 'the model or job does not exist'}. Is the model fine-tunable?"
        if exc.status_code == 429:
            return f"Rate limited (429) after several retries: {message or 'try again later'}."
        if exc.status_code >= 500:
            return f"The provider failed ({exc.status_code}) after several retries: {message or 'server error'}."
        return f"Request rejected ({exc.status_code}): {message or exc}"
    if isinstance(exc, openai.APITimeoutError):
        return "The provider did not answer in time (timeout) after several retries."
    if isinstance(exc, openai.APIConnectionError):
        return "Cannot reach the provider (network down or wrong endpoint)."
    return str(exc)


def _retryable(exc: BaseException) -> bool:
    import openai

    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError)):
        return True
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


def with_retries(call: Callable[[], T], *, attempts: int = 5, base_delay: float = 0.5, max_delay: float = 20.0,
                 sleep: Callable[[float], None] = time.sleep,
                 on_retry: Callable[[int, BaseException, float], None] | None = None) -> T:
    """``call()`` retried on 429, 5xx, timeouts and dropped connections with exponential backoff and full jitter,
    honouring ``Retry-After``. Other errors (and the last failure) become a :class:`JobError`."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except Exception as exc:  # noqa: BLE001 - classified below, re-raised as JobError
            import openai

            if not isinstance(exc, openai.OpenAIError):
                raise
            if attempt == attempts or not _retryable(exc):
                raise JobError(explain_error(exc)) from exc
            delay = retry_after(exc)
            if delay is None:
                delay = random.uniform(0, min(max_delay, base_delay * 2 ** (attempt - 1)))
            if on_retry:
                on_retry(attempt, exc, delay)
            sleep(min(delay, max_delay))
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------------- records


def _ensure_schema(workspace: Workspace) -> None:
    workspace.ensure_tables(_SCHEMA)


def _record(row: Any) -> JobRecord:
    data = dict(row)
    data["profile"] = json.loads(data["profile"])
    data["settings"] = json.loads(data["settings"])
    return JobRecord(**data)


def list_jobs(workspace: Workspace) -> list[JobRecord]:
    """Every recorded job, newest first."""
    _ensure_schema(workspace)
    with workspace.connect() as db:
        rows = db.execute("SELECT * FROM jobs ORDER BY id DESC").fetchall()
    return [_record(r) for r in rows]


def get_job(workspace: Workspace, record_id: int) -> JobRecord:
    _ensure_schema(workspace)
    with workspace.connect() as db:
        row = db.execute("SELECT * FROM jobs WHERE id=?", (record_id,)).fetchone()
    if row is None:
        raise JobError(f"no job record {record_id} in {workspace.path}")
    return _record(row)


def _insert(workspace: Workspace, *, profile: Profile, model: str, suffix: str | None, settings: dict[str, Any],
            dataset_version_id: int | None, estimate_usd: float | None) -> int:
    _ensure_schema(workspace)
    now = time.time()
    with workspace.transaction() as db:
        return db.execute(
            "INSERT INTO jobs(provider, profile, model, suffix, status, dataset_version_id, settings, estimate_usd,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, 'uploading', ?, ?, ?, ?, ?)",
            (profile.kind, json.dumps(profile.public()), model, suffix, dataset_version_id, json.dumps(settings),
             estimate_usd, now, now),
        ).lastrowid


def _update(workspace: Workspace, record_id: int, **values: Any) -> None:
    columns = ", ".join(f"{name}=?" for name in values)
    with workspace.transaction() as db:
        db.execute(f"UPDATE jobs SET {columns}, updated_at=? WHERE id=?", (*values.values(), time.time(), record_id))


# ---------------------------------------------------------------------------------------------- launching


class _ProgressReader(io.BytesIO):
    """Bytes that report how much of them has been read (the upload's progress)."""

    def __init__(self, data: bytes, on_progress: Callable[[float], None] | None) -> None:
        super().__init__(data)
        self._total = max(len(data), 1)
        self._on_progress = on_progress

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        if self._on_progress:
            self._on_progress(min(1.0, self.tell() / self._total))
        return chunk


def upload_file(client: Any, data: bytes, filename: str, *,
                on_progress: Callable[[float], None] | None = None) -> Any:
    """Upload a JSONL training file (purpose fine-tune) with retries; returns the SDK's FileObject."""
    return with_retries(lambda: client.files.create(file=(filename, _ProgressReader(data, on_progress)),
                                                    purpose="fine-tune"))


def hyperparameters(settings: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's ``hyperparameters`` from the Cost page's settings ("auto" or numbers)."""
    out = {}
    for source, target in (("epochs", "n_epochs"), ("batch_size", "batch_size"),
                           ("learning_rate_multiplier", "learning_rate_multiplier")):
        value = settings.get(source, "auto")
        out[target] = value if value not in (None, "") else "auto"
    return out


def launch_job(workspace: Workspace, client: Any, profile: Profile, *, model: str, training: bytes,
               validation: bytes | None = None, settings: dict[str, Any] | None = None, suffix: str | None = None,
               dataset_version_id: int | None = None, estimate_usd: float | None = None,
               on_progress: Callable[[str, float], None] | None = None) -> JobRecord:
    """Upload the files, create the job and record it; a failure is recorded with its explanation and re-raised."""
    settings = dict(settings or {})
    if suffix is not None and len(suffix) > 64:
        raise JobError(f"the suffix is {len(suffix)} characters long; the limit is 64")
    record_id = _insert(workspace, profile=profile, model=model, suffix=suffix, settings=settings,
                        dataset_version_id=dataset_version_id, estimate_usd=estimate_usd)
    try:
        progress = (lambda name: (lambda share: on_progress(name, share))) if on_progress else (lambda name: None)
        train_file = upload_file(client, training, "train.jsonl", on_progress=progress("training"))
        _update(workspace, record_id, training_file=train_file.id)
        validation_id = None
        if validation:
            validation_id = upload_file(client, validation, "validation.jsonl",
                                        on_progress=progress("validation")).id
            _update(workspace, record_id, validation_file=validation_id)
        options: dict[str, Any] = {"model": model, "training_file": train_file.id,
                                   "hyperparameters": hyperparameters(settings)}
        if validation_id:
            options["validation_file"] = validation_id
        if suffix:
            options["suffix"] = suffix
        if settings.get("seed") is not None:
            options["seed"] = int(settings["seed"])
        job = with_retries(lambda: client.fine_tuning.jobs.create(**options))
    except JobError as exc:
        _update(workspace, record_id, status="not_started", error=str(exc))
        raise
    _update(workspace, record_id, job_id=job.id, status=job.status)
    return get_job(workspace, record_id)


# ---------------------------------------------------------------------------------------------- watching


def refresh_job(workspace: Workspace, client: Any, record: JobRecord) -> JobRecord:
    """Ask the provider for the job's state and store it; a provider error is returned in ``error``."""
    if not record.job_id:
        return record
    job = with_retries(lambda: client.fine_tuning.jobs.retrieve(record.job_id))
    error = job.error.message if getattr(job, "error", None) and job.error.message else None
    _update(workspace, record.id, status=job.status, fine_tuned_model=job.fine_tuned_model,
            trained_tokens=job.trained_tokens, error=error)
    return get_job(workspace, record.id)


def events(client: Any, job_id: str, *, limit: int = 1000) -> list[Any]:
    """The job's events, oldest first."""
    page = with_retries(lambda: client.fine_tuning.jobs.list_events(job_id, limit=limit))
    return sorted(page.data, key=lambda e: (e.created_at, e.id))


def metrics_frame(job_events: Sequence[Any]) -> pd.DataFrame:
    """Training/validation loss and token accuracy per step from ``metrics`` events (for the charts)."""
    rows = []
    for event in job_events:
        data = getattr(event, "data", None)
        if getattr(event, "type", None) == "metrics" and isinstance(data, dict) and "step" in data:
            rows.append({name: data.get(name) for name in METRIC_COLUMNS})
    frame = pd.DataFrame(rows, columns=list(METRIC_COLUMNS)).drop_duplicates("step", keep="last")
    return frame.sort_values("step").reset_index(drop=True).astype(
        {name: "float64" for name in METRIC_COLUMNS[1:]} | {"step": "int64"})


def checkpoints(client: Any, job_id: str) -> list[Any]:
    page = with_retries(lambda: client.fine_tuning.jobs.checkpoints.list(job_id))
    return sorted(page.data, key=lambda c: c.step_number)


def control_job(workspace: Workspace, client: Any, record: JobRecord, action: str) -> JobRecord:
    """``cancel``, ``pause`` or ``resume`` the job, then refresh its record."""
    if action not in ("cancel", "pause", "resume"):
        raise JobError(f"unknown job action {action!r}")
    if not record.job_id:
        raise JobError("this job never started, so it cannot be controlled")
    with_retries(lambda: getattr(client.fine_tuning.jobs, action)(record.job_id))
    return refresh_job(workspace, client, record)


def result_file(client: Any, job: Any) -> bytes | None:
    """The job's result CSV (step, train_loss, ...), or None before it exists."""
    files = getattr(job, "result_files", None) or []
    if not files:
        return None
    return with_retries(lambda: client.files.content(files[0])).read()
