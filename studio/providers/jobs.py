"""Fine-tuning jobs on any provider through the official SDK: launch, record, watch, control.

Every job is recorded in the workspace (``jobs`` table) before and after each provider call, so a failed
upload, a 403 or an app restart never loses it. The record holds the provider's public profile, ids, the dataset
version, the settings and the cost estimate, never the key.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from studio.errors import JobError
from studio.providers.profiles import Profile
from studio.providers.retry import RetryPolicy, explain_error
from studio.providers.train_settings import ENGINE_KINDS, TrainSettings
from studio.storage.workspace import Workspace, inserted_id

if TYPE_CHECKING:
    import openai

T = TypeVar("T")
TERMINAL = ("succeeded", "failed", "cancelled")
METRIC_COLUMNS = ("step", "train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy")


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


# ---------------------------------------------------------------------------------------------- retries


def with_retries(
    call: Callable[[], T],
    *,
    attempts: int = 5,
    base_delay: float = 0.5,
    max_delay: float = 20.0,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """``call()`` under the one provider retry policy (:mod:`studio.providers.retry`): 408/409/429/5xx, timeouts
    and dropped connections retried, Retry-After honoured, a quota 429 never retried. An SDK error that remains
    becomes a :class:`JobError` with :func:`~studio.providers.retry.explain_error`'s message (no key in it)."""
    import openai

    policy = RetryPolicy(max_attempts=attempts, base_delay=base_delay, max_delay=max_delay)
    try:
        return policy.call(call, sleep=sleep, on_retry=on_retry)
    except openai.OpenAIError as exc:
        raise JobError(explain_error(exc)) from exc


# ---------------------------------------------------------------------------------------------- records


def _record(row: Any) -> JobRecord:
    data = dict(row)
    data["profile"] = json.loads(data["profile"])
    data["settings"] = json.loads(data["settings"])
    return JobRecord(**data)


def list_jobs(workspace: Workspace) -> list[JobRecord]:
    """Every recorded job, newest first."""
    with workspace.connect() as db:
        rows = db.execute("SELECT * FROM jobs ORDER BY id DESC").fetchall()
    return [_record(r) for r in rows]


def get_job(workspace: Workspace, record_id: int) -> JobRecord:
    with workspace.connect() as db:
        row = db.execute("SELECT * FROM jobs WHERE id=?", (record_id,)).fetchone()
    if row is None:
        raise JobError(f"no job record {record_id} in {workspace.path}")
    return _record(row)


def _insert(
    workspace: Workspace,
    *,
    profile: Profile,
    model: str,
    suffix: str | None,
    settings: dict[str, Any],
    dataset_version_id: int | None,
    estimate_usd: float | None,
) -> int:
    now = time.time()
    with workspace.transaction() as db:
        return inserted_id(
            db.execute(
                "INSERT INTO jobs(provider, profile, model, suffix, status, dataset_version_id, settings, estimate_usd,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, 'uploading', ?, ?, ?, ?, ?)",
                (
                    profile.kind,
                    json.dumps(profile.public()),
                    model,
                    suffix,
                    dataset_version_id,
                    json.dumps(settings),
                    estimate_usd,
                    now,
                    now,
                ),
            )
        )


def _update(workspace: Workspace, record_id: int, **values: Any) -> None:
    columns = ", ".join(f"{name}=?" for name in values)
    with workspace.transaction() as db:
        db.execute(f"UPDATE jobs SET {columns}, updated_at=? WHERE id=?", (*values.values(), time.time(), record_id))


# ---------------------------------------------------------------------------------------------- launching


class _ProgressReader(io.BytesIO):
    """Bytes that report how much of them has been read (the upload's progress)."""

    def __init__(self, data: bytes, on_progress: Callable[[float], object] | None) -> None:
        super().__init__(data)
        self._total = max(len(data), 1)
        self._on_progress = on_progress

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        if self._on_progress:
            self._on_progress(min(1.0, self.tell() / self._total))
        return chunk


def upload_file(
    client: openai.OpenAI, data: bytes, filename: str, *, on_progress: Callable[[float], object] | None = None
) -> Any:
    """Upload a JSONL training file (purpose fine-tune) with retries; returns the SDK's FileObject."""
    return with_retries(
        lambda: client.files.create(file=(filename, _ProgressReader(data, on_progress)), purpose="fine-tune")
    )


def hyperparameters(settings: dict[str, Any], *, engine: bool = False) -> dict[str, Any]:
    """OpenAI's ``hyperparameters`` from the Cost page's settings ("auto" or numbers); with ``engine`` (a studio
    engine: local or compatible) also the engine options that are set (:data:`~studio.providers.train_settings.
    ENGINE_OPTIONS`, ``packing``)."""
    out = {}
    for source, target in (
        ("epochs", "n_epochs"),
        ("batch_size", "batch_size"),
        ("learning_rate_multiplier", "learning_rate_multiplier"),
    ):
        value = settings.get(source, "auto")
        out[target] = value if value not in (None, "") else "auto"
    if engine:
        out |= TrainSettings.from_dict(settings).engine_options()
    return out


def method(settings: dict[str, Any], *, engine: bool = False) -> dict[str, Any]:
    """The job's ``method``: supervised fine-tuning with :func:`hyperparameters` (OpenAI deprecated the
    top-level ``hyperparameters`` field in its favour)."""
    return {"type": "supervised", "supervised": {"hyperparameters": hyperparameters(settings, engine=engine)}}


def job_request(
    profile: Profile,
    *,
    model: str,
    training_file: str,
    validation_file: str | None = None,
    settings: dict[str, Any] | None = None,
    suffix: str | None = None,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The exact body of ``POST /fine_tuning/jobs`` that :func:`launch_job` sends (the Train page previews it
    with placeholder file ids): model, files, ``method``, ``metadata``, and suffix and seed when set."""
    settings = dict(settings or {})
    body: dict[str, Any] = {
        "model": model,
        "training_file": training_file,
        "method": method(settings, engine=profile.kind in ENGINE_KINDS),
    }
    if metadata:
        body["metadata"] = dict(metadata)
    if validation_file:
        body["validation_file"] = validation_file
    if suffix:
        body["suffix"] = suffix
    if settings.get("seed") is not None:
        body["seed"] = int(settings["seed"])
    return body


def job_metadata(
    workspace: Workspace, dataset_version_id: int | None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The job's ``metadata`` (OpenAI: at most 16 string pairs, keys ≤ 64 and values ≤ 512 characters): the
    studio's version and, when known, the dataset's name, version name and version id; ``extra`` adds to it."""
    from studio import __version__

    data = {"studio_version": __version__}
    if dataset_version_id is not None:
        version = workspace.version(dataset_version_id)
        data |= {
            "dataset": workspace.dataset(version.dataset_id).name,
            "dataset_version": version.name,
            "dataset_version_id": str(version.id),
        }
    data |= dict(extra or {})
    if len(data) > 16:
        raise JobError(f"metadata holds {len(data)} pairs; the limit is 16")
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, str) or len(key) > 64:
            raise JobError(f"metadata {key!r}: keys and values must be text, keys at most 64 characters")
        data[key] = value[:512]  # a long dataset name is cut, not refused: it is a label
    return data


def launch_job(
    workspace: Workspace,
    client: openai.OpenAI,
    profile: Profile,
    *,
    model: str,
    training: bytes,
    validation: bytes | None = None,
    settings: dict[str, Any] | None = None,
    suffix: str | None = None,
    dataset_version_id: int | None = None,
    estimate_usd: float | None = None,
    metadata: Mapping[str, str] | None = None,
    on_progress: Callable[[str, float], object] | None = None,
) -> JobRecord:
    """Upload the files, create the job and record it; any failure before the job exists is recorded
    (``not_started``, with its explanation) and re-raised, so no record stays ``uploading``.

    The job is created with ``method`` (supervised, with the settings as hyperparameters) and ``metadata`` from
    :func:`job_metadata` (``metadata`` adds to it); bad metadata or suffix raise before any upload.
    """
    settings = dict(settings or {})
    if suffix is not None and len(suffix) > 64:
        raise JobError(f"the suffix is {len(suffix)} characters long; the limit is 64")
    labels = job_metadata(workspace, dataset_version_id, metadata)
    record_id = _insert(
        workspace,
        profile=profile,
        model=model,
        suffix=suffix,
        settings=settings,
        dataset_version_id=dataset_version_id,
        estimate_usd=estimate_usd,
    )
    try:
        progress = (lambda name: lambda share: on_progress(name, share)) if on_progress else (lambda name: None)
        train_file = upload_file(client, training, "train.jsonl", on_progress=progress("training"))
        _update(workspace, record_id, training_file=train_file.id)
        validation_id = None
        if validation:
            validation_id = upload_file(client, validation, "validation.jsonl", on_progress=progress("validation")).id
            _update(workspace, record_id, validation_file=validation_id)
        options = job_request(
            profile,
            model=model,
            training_file=train_file.id,
            validation_file=validation_id,
            settings=settings,
            suffix=suffix,
            metadata=labels,
        )
        job = with_retries(lambda: client.fine_tuning.jobs.create(**options))
    except JobError as exc:
        _update(workspace, record_id, status="not_started", error=str(exc))
        raise
    except BaseException as exc:  # an SDK or programming error, Ctrl-C: never leave the record "uploading"
        _update(workspace, record_id, status="not_started", error=f"{type(exc).__name__}: {exc}".rstrip(": "))
        raise
    _update(workspace, record_id, job_id=job.id, status=job.status)
    return get_job(workspace, record_id)


# ---------------------------------------------------------------------------------------------- watching


def refresh_job(workspace: Workspace, client: openai.OpenAI, record: JobRecord) -> JobRecord:
    """Ask the provider for the job's state and store it; a provider error is returned in ``error``."""
    job_id = record.job_id
    if not job_id:
        return record
    job = with_retries(lambda: client.fine_tuning.jobs.retrieve(job_id))
    error = job.error.message if job.error is not None and job.error.message else None
    _update(
        workspace,
        record.id,
        status=job.status,
        fine_tuned_model=job.fine_tuned_model,
        trained_tokens=job.trained_tokens,
        error=error,
    )
    return get_job(workspace, record.id)


def events(client: openai.OpenAI, job_id: str, *, limit: int = 1000) -> list[Any]:
    """The job's events, oldest first. The API lists them newest first; events of the same second keep that order
    (reversed), since event ids are not ordered."""
    page = with_retries(lambda: client.fine_tuning.jobs.list_events(job_id, limit=limit))
    newest_first = list(page.data)
    return sorted(reversed(newest_first), key=lambda e: e.created_at)  # noqa: C414 (stable: API order kept)


def metrics_frame(job_events: Sequence[Any]) -> pd.DataFrame:
    """Training/validation loss and token accuracy per step from ``metrics`` events (for the charts)."""
    rows = []
    for event in job_events:
        data = getattr(event, "data", None)
        if getattr(event, "type", None) == "metrics" and isinstance(data, dict) and "step" in data:
            rows.append({name: data.get(name) for name in METRIC_COLUMNS})
    frame = pd.DataFrame(rows, columns=list(METRIC_COLUMNS)).drop_duplicates("step", keep="last")
    return (
        frame.sort_values("step")
        .reset_index(drop=True)
        .astype(dict.fromkeys(METRIC_COLUMNS[1:], "float64") | {"step": "int64"})
    )


def checkpoints(client: openai.OpenAI, job_id: str) -> list[Any]:
    page = with_retries(lambda: client.fine_tuning.jobs.checkpoints.list(job_id))
    return sorted(page.data, key=lambda c: c.step_number)


def control_job(workspace: Workspace, client: openai.OpenAI, record: JobRecord, action: str) -> JobRecord:
    """``cancel``, ``pause`` or ``resume`` the job, then refresh its record."""
    if action not in ("cancel", "pause", "resume"):
        raise JobError(f"unknown job action {action!r}")
    if not record.job_id:
        raise JobError("this job never started, so it cannot be controlled")
    with_retries(lambda: getattr(client.fine_tuning.jobs, action)(record.job_id))
    return refresh_job(workspace, client, record)


def result_file(client: openai.OpenAI, job: Any) -> bytes | None:
    """The job's result CSV (step, train_loss, ...), or None before it exists."""
    files = getattr(job, "result_files", None) or []
    if not files:
        return None
    return with_retries(lambda: client.files.content(files[0])).read()


EXPORT_FORMATS = ("hf", "adapter", "gguf")
EXPORT_TIMEOUT_S = 900.0
"""How long an export request may take (seconds)."""


def export_model(client: openai.OpenAI, model: str, fmt: str) -> dict[str, Any]:
    """Have a studio engine write ``model`` as ``fmt`` (``hf``, ``adapter`` or ``gguf``) into its ``exports/``
    folder (``POST /v1/models/{model}/export``, the engine's extension of OpenAI's API): ``{"path", "files",
    "format", "model"}``, the path on the engine's machine. Raises :class:`JobError` with the engine's message."""
    from urllib.parse import quote

    if fmt not in EXPORT_FORMATS:
        raise JobError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    path = f"/models/{quote(model, safe=':')}/export"
    slow = client.with_options(timeout=EXPORT_TIMEOUT_S)  # loading and merging a model takes minutes on a busy CPU
    return with_retries(lambda: slow.post(path, body={"format": fmt}, cast_to=dict[str, Any]), attempts=1)
