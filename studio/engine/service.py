"""The engine behind the routes: store, base-model registry, loaded-model cache, job scheduler, upload check.

:class:`Engine` holds the serving logic (what a request does); :mod:`studio.engine.api` only routes HTTP to it
and turns its domain errors (:mod:`studio.engine.errors`) into OpenAI's error responses.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from openai.types import Model

from studio.engine import batching
from studio.engine import models as engine_models
from studio.engine.batching import BatchedGeneration, generate_batched
from studio.engine.encoding import chat_file_problems
from studio.engine.errors import (
    EngineError,
    EngineUnavailableError,
    InvalidValueError,
    NotFoundError,
    StatusConflictError,
    TrainingDataError,
)
from studio.engine.hyperparameters import validate_hyperparameters
from studio.engine.inflight import InFlightChats
from studio.engine.models import LoadedModel
from studio.engine.protocol import ChatRequest, JobRequest, model_object
from studio.engine.records import ACTIVE_STATUSES, FileRecord, JobRecord, JobStatus
from studio.engine.scheduler import JobScheduler
from studio.engine.store import EngineStore
from studio.errors import StudioError

UploadValidator = Callable[[Path, str], Sequence[str]]
"""``(path, filename) -> problems``: why an uploaded fine-tuning file cannot be used, one human line each
(``"line 3: ..."``), empty when it can; may raise ``StudioError``/``ValueError`` for a file it cannot read."""

MAX_SHOWN_PROBLEMS = 3
_SUFFIX_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_log = logging.getLogger("studio.engine")

JobAction = Literal["cancel", "pause", "resume"]
_TRANSITIONS: dict[JobAction, tuple[tuple[JobStatus, ...], JobStatus, str]] = {
    "cancel": (ACTIVE_STATUSES, "cancelled", "Job cancelled"),
    "pause": (("validating_files", "queued", "running"), "paused", "Job paused"),
    "resume": (("paused",), "queued", "Job resumed"),
}
"""action → (statuses it applies to, status it sets, event message)."""


def engine_validator(path: Path, filename: str) -> list[str]:
    """The engine's own upload check, used when none is injected: the file parses and every example has an
    assistant message (:func:`studio.engine.encoding.chat_file_problems`)."""
    return chat_file_problems(path, name=filename)


class Engine:
    """State shared by the routes: store, base-model registry, loaded-model cache, scheduler, upload check."""

    def __init__(
        self,
        home: Path,
        *,
        api_key: str | None = None,
        models: Mapping[str, str] | None = None,
        models_dir: Path | None = None,
        max_upload_bytes: int,
        max_loaded_models: int = 2,
        run_jobs: bool = True,
        poll_interval: float = 0.5,
        validate_upload: UploadValidator | None = None,
        chats: InFlightChats | None = None,
    ) -> None:
        self.store = EngineStore(home)
        self.api_key = api_key
        self.registry = engine_models.ModelRegistry(dict(models or {}), models_dir)
        self.models_dir = models_dir
        self.max_upload_bytes = max_upload_bytes
        self.cache = engine_models.ModelCache(max_loaded_models)
        self.lock = threading.Lock()
        """Held while a model loads or generates: two generations would only fight over the cores."""
        self.scheduler = JobScheduler(self.store, models_dir=models_dir, poll_interval=poll_interval)
        self.run_jobs = run_jobs
        self.validate_upload: UploadValidator = validate_upload or engine_validator
        self.chats = chats or InFlightChats()
        """Chat generations in flight: keep-alive, one generation per idempotency key, cancel when orphaned."""

    # -- files -------------------------------------------------------------------------------------------------

    def add_upload(self, path: Path, *, filename: str, purpose: str) -> FileRecord:
        """Check the uploaded file at ``path`` with ``validate_upload`` and move it into the store.

        Raises :class:`TrainingDataError` (``param="file"``, ``code="invalid_file_format"``) naming ``filename``
        and its first problems when the file is empty, unreadable or not a valid fine-tuning file.
        """
        if path.stat().st_size == 0:
            raise TrainingDataError(f"{filename} is empty", param="file", code="invalid_file_format")
        try:
            problems = list(self.validate_upload(path, filename))
        except (StudioError, ValueError) as exc:
            raise TrainingDataError(
                f"{filename} could not be read: {exc}", param="file", code="invalid_file_format"
            ) from None
        if problems:
            shown = "; ".join(problems[:MAX_SHOWN_PROBLEMS])
            more = f" (and {len(problems) - MAX_SHOWN_PROBLEMS} more)" if len(problems) > MAX_SHOWN_PROBLEMS else ""
            raise TrainingDataError(
                f"{filename} is not a valid fine-tuning file: {shown}{more}",
                param="file",
                code="invalid_file_format",
            )
        return self.store.add_file(path, filename=filename, purpose=purpose)

    # -- fine-tuning jobs --------------------------------------------------------------------------------------

    def create_job(self, body: JobRequest) -> JobRecord:
        """Record a job (status ``validating_files``) and wake the scheduler; errors name the field at fault."""
        source = self.registry.source(body.model)
        hyperparameters = _job_hyperparameters(body)
        if body.suffix is not None and not _SUFFIX_RE.match(body.suffix):
            raise InvalidValueError(
                f"suffix must be 1-64 letters, digits, '-', '_' or '.', got {body.suffix!r}", param="suffix"
            )
        for param in ("training_file", "validation_file"):
            file_id = getattr(body, param)
            if file_id is not None and self.store.get_file(file_id, param=param).purpose != "fine-tune":
                raise InvalidValueError(f"{param} {file_id} was not uploaded with purpose 'fine-tune'", param=param)
        _require_training_extra()
        job = self.store.create_job(
            model=body.model,
            base_source=source,
            training_file=body.training_file,
            validation_file=body.validation_file,
            suffix=body.suffix,
            seed=body.seed if body.seed is not None else secrets.randbelow(2**31),
            hyperparameters=hyperparameters,
            metadata=body.metadata,
        )
        self.scheduler.wake()
        return job

    def transition(self, job_id: str, action: JobAction) -> JobRecord:
        """Cancel, pause or resume a job; :class:`StatusConflictError` when its status does not allow it."""
        allowed, status, message = _TRANSITIONS[action]
        job = self.store.get_job(job_id)
        fields: dict[str, Any] = {"status": status}
        if action == "cancel":
            fields["finished_at"] = int(time.time())
        if not self.store.update_job(job_id, expect=allowed, **fields):
            raise StatusConflictError(
                f"Cannot {action} job {job_id}: its status is {self.store.get_job(job_id).status!r}",
                param="fine_tuning_job_id",
                code="invalid_job_status",
            )
        if action == "pause" and job.status == "running":
            message = "Pausing the job after its current step"
        self.store.add_event(job_id, message)
        self.scheduler.wake()
        return self.store.get_job(job_id)

    # -- models ------------------------------------------------------------------------------------------------

    def model_objects(self) -> list[Model]:
        """Base models (``owned_by="system"``), then fine-tuned models and their checkpoints (``"user"``)."""
        now = int(time.time())
        out = [model_object(n, created=now, owned_by="system") for n in self.registry.names()]
        out += [model_object(m.id, created=m.created_at, owned_by="user") for m in self.store.list_models()]
        out += [model_object(c.model_id, created=c.created_at, owned_by="user") for c in self.store.all_checkpoints()]
        return out

    def delete_model(self, model_id: str) -> None:
        """Delete a fine-tuned model (not a base model, not a checkpoint) and drop it from the cache."""
        if model_id in self.registry.names():
            raise InvalidValueError(
                f"The base model '{model_id}' cannot be deleted", param="model", code="model_not_deletable"
            )
        if self.store.find_checkpoint(model_id) is not None:
            raise InvalidValueError(
                f"'{model_id}' is a checkpoint; delete its fine-tuned model instead",
                param="model",
                code="model_not_deletable",
            )
        if not self.store.delete_model(model_id):
            raise NotFoundError(f"The model '{model_id}' does not exist", param="model", code="model_not_found")
        self.cache.evict(model_id)

    def resolve(self, model_id: str, *, param: str = "model") -> tuple[engine_models.BaseSource, str | None]:
        """(base source, adapter folder or None) of a base, fine-tuned or checkpoint model id."""
        if model_id in self.registry.names():
            return self.registry.source(model_id, param=param), None
        record = self.store.find_model(model_id) or self.store.find_checkpoint(model_id)
        if record is None:
            self.registry.source(model_id, param=param)  # raises model_not_found
        assert record is not None
        return self.store.get_job(record.job_id).base_source, record.path

    def export_dir(self, model_id: str, fmt: str) -> Path:
        """A new folder name under ``<home>/exports/`` for an export of ``model_id`` (``:`` and ``/`` become
        ``-``; ``-2``, ``-3``... when taken)."""
        stem = "".join(c if c.isalnum() or c in "._-" else "-" for c in model_id).strip(".-") or "model"
        root = self.store.home / "exports"
        out, n = root / f"{stem}-{fmt}", 1
        while out.exists():
            n += 1
            out = root / f"{stem}-{fmt}-{n}"
        return out

    def preload(self, model_ids: Sequence[str]) -> None:
        """Load ``model_ids`` into the cache now; a model that cannot load is logged and skipped."""
        for model_id in model_ids:
            begin = time.perf_counter()
            try:
                with self.lock:
                    self.load(model_id)
            except EngineError as exc:
                _log.warning("preload of %s skipped: %s", model_id, exc)
            else:
                _log.info("preloaded %s in %.1f s", model_id, time.perf_counter() - begin)

    def load(self, model_id: str) -> LoadedModel:
        """The loaded model (LRU-cached); call with ``self.lock`` held."""
        source, adapter = self.resolve(model_id)
        engine_models.require_torch()

        def loader() -> LoadedModel:
            base = engine_models.materialize(source, self.models_dir, log=_log.info)
            return engine_models.load_model(base, adapter)

        return self.cache.get(model_id, loader)

    # -- chat --------------------------------------------------------------------------------------------------

    def chat_load(self) -> dict[str, int]:
        """What ``/health`` says about chat: rows one model decodes together (``max_batch``), rows decoding and
        waiting for a place now (all models), and the counts of :class:`InFlightChats` (``in_flight``,
        ``started``, ``attached``, ``cancelled``). Clients size their concurrency with it."""
        running = batching.loops()
        return {
            "max_batch": batching.MAX_BATCH,
            "decoding": sum(loop.decoding for loop in running),
            "waiting": sum(loop.waiting for loop in running),
            **self.chats.stats(),
        }

    def start_chat(self, body: ChatRequest) -> BatchedGeneration:
        """A generation for ``body``, not yet run: iterate it for its text. It is decoded together with the
        model's other requests in flight (:mod:`studio.engine.batching`), so it needs no lock."""
        if len(body.stops) > 4:
            raise InvalidValueError("'stop' accepts at most 4 sequences", param="stop")
        with self.lock:
            loaded = self.load(body.model)
        return generate_batched(
            loaded,
            body.messages,
            max_tokens=body.max_completion_tokens or body.max_tokens,
            temperature=1.0 if body.temperature is None else body.temperature,
            top_p=1.0 if body.top_p is None else body.top_p,
            seed=body.seed,
            stop=body.stops,
        )


def _require_training_extra() -> None:
    missing = [m for m in ("torch", "transformers", "peft") if importlib.util.find_spec(m) is None]
    if missing:
        raise EngineUnavailableError(
            f"Training needs the engine extra ({', '.join(missing)} missing): pip install -e '.[engine]'",
            code="engine_unavailable",
        )


def _job_hyperparameters(body: JobRequest) -> dict[str, Any]:
    """The deprecated top-level ``hyperparameters``, overridden by ``method.supervised.hyperparameters``."""
    values = validate_hyperparameters(body.hyperparameters)
    if body.method is not None:
        if body.method.type != "supervised":
            raise InvalidValueError(
                f"method.type {body.method.type!r} is not supported by the local engine (only 'supervised')",
                param="method.type",
                code="unsupported_method",
            )
        supervised = body.method.supervised
        if supervised is not None:
            param = "method.supervised.hyperparameters"
            values.update(validate_hyperparameters(supervised.hyperparameters, param=param))
    return values
