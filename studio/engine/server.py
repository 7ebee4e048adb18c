"""OpenAI's fine-tuning API served locally: FastAPI app factory and the job scheduler.

``create_app(home)`` serves, under ``/v1``: models (list, retrieve, delete fine-tuned), files (upload, list,
retrieve, content, delete), fine-tuning jobs (create, list, retrieve, cancel, pause, resume, events, checkpoints)
and chat completions (plain and SSE streaming). Errors have OpenAI's shape and status codes so the official SDK
raises its usual exceptions. Jobs run one at a time in a worker process (:mod:`studio.engine.worker`), started by
the app's scheduler thread (:mod:`studio.engine.scheduler`).

Importing this module imports neither torch nor transformers; chat loads them on first use.
"""

from __future__ import annotations

import hmac
import importlib.util
import json
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from studio.core.training import ENGINE_HOST, ENGINE_PORT
from studio.engine import models as engine_models
from studio.engine.errors import (
    AuthenticationError,
    ConflictError,
    EngineError,
    EngineUnavailableError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
)
from studio.engine.scheduler import JobScheduler
from studio.engine.store import (
    ACTIVE_STATUSES,
    CheckpointRecord,
    EngineStore,
    EventRecord,
    FileRecord,
    JobRecord,
)
from studio.errors import StudioError

DEFAULT_HOST = ENGINE_HOST
DEFAULT_PORT = ENGINE_PORT
DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024
ORGANIZATION = "org-local"
_SUFFIX_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_log = logging.getLogger("studio.engine")


def engine_home() -> Path:
    """Engine home: ``$STUDIO_ENGINE_HOME`` or ``./workspace/engine``."""
    return Path(os.environ.get("STUDIO_ENGINE_HOME") or Path("workspace") / "engine")


# -- request bodies -----------------------------------------------------------------------------------------------


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    training_file: str = Field(min_length=1)
    validation_file: str | None = None
    suffix: str | None = None
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    hyperparameters: dict[str, Any] | None = None
    method: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    messages: list[dict[str, Any]] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1, le=1)
    stream: bool | None = False
    stream_options: dict[str, Any] | None = None


# -- response objects ---------------------------------------------------------------------------------------------


def file_object(record: FileRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "object": "file",
        "bytes": record.bytes,
        "created_at": record.created_at,
        "filename": record.filename,
        "purpose": record.purpose,
        "status": record.status,
        "status_details": None,
        "expires_at": None,
    }


def job_object(job: JobRecord) -> dict[str, Any]:
    core = {
        k: job.hyperparameters.get(k, "auto") for k in ("n_epochs", "batch_size", "learning_rate_multiplier")
    }
    extra = {k: v for k, v in job.hyperparameters.items() if k not in core}
    return {
        "id": job.id,
        "object": "fine_tuning.job",
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "estimated_finish": job.estimated_finish,
        "model": job.model,
        "fine_tuned_model": job.fine_tuned_model,
        "organization_id": ORGANIZATION,
        "status": job.status,
        "training_file": job.training_file,
        "validation_file": job.validation_file,
        "result_files": job.result_files,
        "trained_tokens": job.trained_tokens,
        "error": job.error,
        "seed": job.seed,
        "suffix": job.suffix,
        "user_provided_suffix": job.suffix,
        "hyperparameters": core,
        "method": {"type": "supervised", "supervised": {"hyperparameters": {**core, **extra}}},
        "metadata": job.metadata,
        "integrations": [],
    }


def event_object(event: EventRecord) -> dict[str, Any]:
    return {
        "id": event.id,
        "object": "fine_tuning.job.event",
        "created_at": event.created_at,
        "level": event.level,
        "message": event.message,
        "type": event.type,
        "data": event.data or {},
    }


def checkpoint_object(checkpoint: CheckpointRecord) -> dict[str, Any]:
    return {
        "id": checkpoint.id,
        "object": "fine_tuning.job.checkpoint",
        "created_at": checkpoint.created_at,
        "fine_tuned_model_checkpoint": checkpoint.model_id,
        "fine_tuning_job_id": checkpoint.job_id,
        "step_number": checkpoint.step,
        "metrics": checkpoint.metrics,
    }


def _list(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": items,
        "has_more": has_more,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
    }


# -- the engine behind the routes ---------------------------------------------------------------------------------


class Engine:
    """State shared by the routes: store, base-model registry, loaded-model cache, scheduler."""

    def __init__(
        self,
        home: Path,
        *,
        api_key: str | None,
        models: Mapping[str, str] | None,
        models_dir: Path | None,
        max_upload_bytes: int,
        max_loaded_models: int,
        run_jobs: bool,
        poll_interval: float,
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

    def check_key(self, authorization: str | None) -> None:
        if self.api_key is None:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.api_key.encode()
        ):
            raise AuthenticationError("Incorrect API key provided.", code="invalid_api_key")

    def resolve(self, model_id: str, *, param: str = "model") -> tuple[engine_models.BaseSource, str | None]:
        """(base source, adapter folder or None) of a base, fine-tuned or checkpoint model id."""
        if model_id in self.registry.names():
            return self.registry.source(model_id, param=param), None
        record = self.store.find_model(model_id) or self.store.find_checkpoint(model_id)
        if record is None:
            self.registry.source(model_id, param=param)  # raises model_not_found
        assert record is not None
        return self.store.get_job(record.job_id).base_source, record.path

    def model_objects(self) -> list[dict[str, Any]]:
        now = int(time.time())
        out = [
            {"id": n, "object": "model", "created": now, "owned_by": "system"} for n in self.registry.names()
        ]
        out += [
            {"id": m.id, "object": "model", "created": m.created_at, "owned_by": "user"}
            for m in self.store.list_models()
        ]
        out += [
            {"id": c.model_id, "object": "model", "created": c.created_at, "owned_by": "user"}
            for c in self.store.all_checkpoints()
        ]
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

    def load(self, model_id: str) -> engine_models.LoadedModel:
        """The loaded model (LRU-cached); call with ``self.lock`` held."""
        source, adapter = self.resolve(model_id)
        engine_models.require_torch()

        def loader() -> engine_models.LoadedModel:
            base = engine_models.materialize(source, self.models_dir, log=_log.info)
            return engine_models.load_model(base, adapter)

        return self.cache.get(model_id, loader)


def _require_training_extra() -> None:
    missing = [m for m in ("torch", "transformers", "peft") if importlib.util.find_spec(m) is None]
    if missing:
        raise EngineUnavailableError(
            f"Training needs the engine extra ({', '.join(missing)} missing): pip install -e '.[engine]'",
            code="engine_unavailable",
        )


def _job_hyperparameters(body: JobRequest) -> dict[str, Any]:
    from studio.engine.trainer import validate_hyperparameters

    values = validate_hyperparameters(body.hyperparameters)
    if body.method is not None:
        kind = body.method.get("type")
        if kind != "supervised":
            raise InvalidRequestError(
                f"method.type {kind!r} is not supported by the local engine (only 'supervised')",
                param="method.type",
            )
        supervised = body.method.get("supervised") or {}
        if not isinstance(supervised, Mapping):
            raise InvalidRequestError("method.supervised must be an object", param="method.supervised")
        param = "method.supervised.hyperparameters"
        values.update(validate_hyperparameters(supervised.get("hyperparameters"), param=param))
    return values


def _check_upload(path: Path, filename: str) -> None:
    """Validate an uploaded training file as the Cost page does (studio.cost.validation), or a JSONL shape check."""
    try:
        from studio.cost.validation import validate_file
    except ModuleNotFoundError as exc:
        if exc.name != "studio.cost.validation":
            raise
        validate_file = None
    if validate_file is not None:
        try:
            report = validate_file(path)
        except StudioError as exc:
            raise InvalidRequestError(
                f"{filename} could not be read: {exc}", param="file", code="invalid_file_format"
            ) from None
        if report.ok:
            return
        errors = report.findings[report.findings["severity"] == "error"]
        shown = [
            f"line {row.row}: {row.message}" if str(row.row) not in {"<NA>", "nan"} else str(row.message)
            for row in errors.head(3).itertuples()
        ]
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise InvalidRequestError(
            f"{filename} is not a valid fine-tuning file: {'; '.join(shown)}{more}",
            param="file",
            code="invalid_file_format",
        )
    from studio.engine.trainer import TrainingDataError, read_examples

    try:
        examples = read_examples(path, name=filename)
    except (TrainingDataError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(
            f"{filename} is not a valid fine-tuning file: {exc}", param="file", code="invalid_file_format"
        ) from None
    for number, example in enumerate(examples, start=1):
        if not any(m.get("role") == "assistant" for m in example["messages"]):
            raise InvalidRequestError(
                f"{filename} example {number}: no assistant message to learn from",
                param="file",
                code="invalid_file_format",
            )


# -- the app ------------------------------------------------------------------------------------------------------


def create_app(
    home: Path,
    *,
    api_key: str | None = None,
    models: Mapping[str, str] | None = None,
    models_dir: Path | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_loaded_models: int = 2,
    run_jobs: bool = True,
    poll_interval: float = 0.5,
    preload: Sequence[str] = (),
) -> FastAPI:
    """The engine's FastAPI app over the store in ``home``.

    ``models`` adds base models (name → local folder or hub id) next to the default SmolLM2; ``models_dir`` is
    the model cache (default ``$STUDIO_MODELS``); ``api_key``, when set, is required as a bearer token;
    ``run_jobs=False`` serves the API without starting workers; ``preload`` names models to load in the
    background at start, so the first answer does not wait for a load.
    """
    engine = Engine(
        Path(home),
        api_key=api_key,
        models=models,
        models_dir=models_dir,
        max_upload_bytes=max_upload_bytes,
        max_loaded_models=max_loaded_models,
        run_jobs=run_jobs,
        poll_interval=poll_interval,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # FastAPI's lifespan protocol
        if engine.run_jobs:
            engine.scheduler.start()
        if preload:
            threading.Thread(target=engine.preload, args=(list(preload),), name="preload", daemon=True).start()
        yield
        if engine.run_jobs:
            await run_in_threadpool(engine.scheduler.stop)

    app = FastAPI(title="Fine-Tuning Studio engine", lifespan=lifespan)
    app.state.engine = engine
    _install_error_handlers(app)

    def authorize(request: Request) -> None:
        engine.check_key(request.headers.get("authorization"))

    api = APIRouter(prefix="/v1", dependencies=[Depends(authorize)])
    store = engine.store

    # models --------------------------------------------------------------------------------------------------
    @api.get("/models")
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": engine.model_objects()}

    @api.get("/models/{model_id:path}")
    def retrieve_model(model_id: str) -> dict[str, Any]:
        for item in engine.model_objects():
            if item["id"] == model_id:
                return item
        raise NotFoundError(f"The model '{model_id}' does not exist", param="model", code="model_not_found")

    @api.delete("/models/{model_id:path}")
    def delete_model(model_id: str) -> dict[str, Any]:
        if model_id in engine.registry.names():
            raise InvalidRequestError(
                f"The base model '{model_id}' cannot be deleted", param="model", code="model_not_deletable"
            )
        if store.find_checkpoint(model_id) is not None:
            raise InvalidRequestError(
                f"'{model_id}' is a checkpoint; delete its fine-tuned model instead",
                param="model",
                code="model_not_deletable",
            )
        if not store.delete_model(model_id):
            raise NotFoundError(
                f"The model '{model_id}' does not exist", param="model", code="model_not_found"
            )
        engine.cache.evict(model_id)
        return {"id": model_id, "object": "model", "deleted": True}

    # files ---------------------------------------------------------------------------------------------------
    @api.post("/files")
    async def upload_file(request: Request) -> dict[str, Any]:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > engine.max_upload_bytes + 64 * 1024:
            raise _too_large(engine.max_upload_bytes)
        form = await request.form(max_files=1, max_fields=8)
        upload, purpose = form.get("file"), form.get("purpose")
        if purpose != "fine-tune":
            raise InvalidRequestError(f"purpose must be 'fine-tune', got {purpose!r}", param="purpose")
        if upload is None or isinstance(upload, str):
            raise InvalidRequestError("Missing file upload in field 'file'", param="file")
        filename = Path(str(upload.filename or "").replace("\\", "/")).name[:255]
        if filename in ("", ".", ".."):  # a name that is a directory would be a trap for whoever saves it
            filename = "upload.jsonl"
        tmp_dir = store.home / "tmp"
        tmp_dir.mkdir(exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir)
        tmp = Path(tmp_name)
        try:
            size = 0
            with os.fdopen(fd, "wb") as out:
                while chunk := await upload.read(1 << 20):
                    size += len(chunk)
                    if size > engine.max_upload_bytes:
                        raise _too_large(engine.max_upload_bytes)
                    out.write(chunk)
            if size == 0:
                raise InvalidRequestError(f"{filename} is empty", param="file", code="invalid_file_format")
            await run_in_threadpool(_check_upload, tmp, filename)
            record = await run_in_threadpool(store.add_file, tmp, filename=filename, purpose=purpose)
        finally:
            tmp.unlink(missing_ok=True)
            await form.close()
        return file_object(record)

    @api.get("/files")
    def list_files(
        purpose: str | None = None,
        after: str | None = None,
        limit: int = 10000,
        order: Literal["asc", "desc"] = "desc",
    ) -> dict[str, Any]:
        page = store.list_files(purpose=purpose, after=after, limit=limit)
        items = [file_object(f) for f in page.items]
        return _list(items[::-1] if order == "asc" else items, page.has_more)

    @api.get("/files/{file_id}")
    def retrieve_file(file_id: str) -> dict[str, Any]:
        return file_object(store.get_file(file_id))

    @api.get("/files/{file_id}/content")
    def file_content(file_id: str) -> FileResponse:
        record = store.get_file(file_id)
        media = "text/csv" if record.filename.endswith(".csv") else "application/octet-stream"
        return FileResponse(store.files_dir / record.id, media_type=media, filename=record.filename)

    @api.delete("/files/{file_id}")
    def delete_file(file_id: str) -> dict[str, Any]:
        store.delete_file(file_id)
        return {"id": file_id, "object": "file", "deleted": True}

    # fine-tuning jobs ----------------------------------------------------------------------------------------
    @api.post("/fine_tuning/jobs")
    def create_job(body: JobRequest) -> dict[str, Any]:
        source = engine.registry.source(body.model)
        hyperparameters = _job_hyperparameters(body)
        if body.suffix is not None and not _SUFFIX_RE.match(body.suffix):
            raise InvalidRequestError(
                f"suffix must be 1-64 letters, digits, '-', '_' or '.', got {body.suffix!r}", param="suffix"
            )
        for param in ("training_file", "validation_file"):
            file_id = getattr(body, param)
            if file_id is not None and store.get_file(file_id, param=param).purpose != "fine-tune":
                raise InvalidRequestError(
                    f"{param} {file_id} was not uploaded with purpose 'fine-tune'", param=param
                )
        _require_training_extra()
        job = store.create_job(
            model=body.model,
            base_source=source,
            training_file=body.training_file,
            validation_file=body.validation_file,
            suffix=body.suffix,
            seed=body.seed if body.seed is not None else secrets.randbelow(2**31),
            hyperparameters=hyperparameters,
            metadata=body.metadata,
        )
        engine.scheduler.wake()
        return job_object(job)

    @api.get("/fine_tuning/jobs")
    def list_jobs(after: str | None = None, limit: int = 20) -> dict[str, Any]:
        page = store.list_jobs(after=after, limit=limit)
        return _list([job_object(j) for j in page.items], page.has_more)

    @api.get("/fine_tuning/jobs/{job_id}")
    def retrieve_job(job_id: str) -> dict[str, Any]:
        return job_object(store.get_job(job_id))

    def _transition(job_id: str, action: str, allowed: tuple[str, ...], **fields: Any) -> dict[str, Any]:
        job = store.get_job(job_id)
        if not store.update_job(job_id, expect=allowed, **fields):
            raise ConflictError(
                f"Cannot {action} job {job_id}: its status is {store.get_job(job_id).status!r}",
                param="fine_tuning_job_id",
                code="invalid_job_status",
            )
        messages = {"cancel": "Job cancelled", "pause": "Job paused", "resume": "Job resumed"}
        if action == "pause" and job.status == "running":
            messages["pause"] = "Pausing the job after its current step"
        store.add_event(job_id, messages[action])
        engine.scheduler.wake()
        return job_object(store.get_job(job_id))

    @api.post("/fine_tuning/jobs/{job_id}/cancel")
    def cancel_job(job_id: str) -> dict[str, Any]:
        return _transition(
            job_id, "cancel", ACTIVE_STATUSES, status="cancelled", finished_at=int(time.time())
        )

    @api.post("/fine_tuning/jobs/{job_id}/pause")
    def pause_job(job_id: str) -> dict[str, Any]:
        return _transition(job_id, "pause", ("validating_files", "queued", "running"), status="paused")

    @api.post("/fine_tuning/jobs/{job_id}/resume")
    def resume_job(job_id: str) -> dict[str, Any]:
        return _transition(job_id, "resume", ("paused",), status="queued")

    @api.get("/fine_tuning/jobs/{job_id}/events")
    def list_events(job_id: str, after: str | None = None, limit: int = 20) -> dict[str, Any]:
        page = store.list_events(job_id, after=after, limit=limit)
        return _list([event_object(e) for e in page.items], page.has_more)

    @api.get("/fine_tuning/jobs/{job_id}/checkpoints")
    def list_checkpoints(job_id: str, after: str | None = None, limit: int = 10) -> dict[str, Any]:
        page = store.list_checkpoints(job_id, after=after, limit=limit)
        return _list([checkpoint_object(c) for c in page.items], page.has_more)

    # chat ----------------------------------------------------------------------------------------------------
    @api.post("/chat/completions")
    def chat_completions(body: ChatRequest) -> Any:
        stops = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        if len(stops) > 4:
            raise InvalidRequestError("'stop' accepts at most 4 sequences", param="stop")
        with engine.lock:
            loaded = engine.load(body.model)
        generation = engine_models.generate(
            loaded,
            body.messages,
            max_tokens=body.max_completion_tokens or body.max_tokens,
            temperature=1.0 if body.temperature is None else body.temperature,
            top_p=1.0 if body.top_p is None else body.top_p,
            seed=body.seed,
            stop=stops,
        )
        completion_id = "chatcmpl-" + secrets.token_hex(12)
        created = int(time.time())
        if not body.stream:
            with engine.lock:
                text = generation.run()
            return {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": body.model,
                "system_fingerprint": "fp_studio_local",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text, "refusal": None},
                        "logprobs": None,
                        "finish_reason": generation.finish_reason,
                    }
                ],
                "usage": _usage(generation),
            }
        include_usage = bool((body.stream_options or {}).get("include_usage"))
        return StreamingResponse(
            _sse(engine.lock, generation, completion_id, created, body.model, include_usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    app.include_router(api)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "loaded_models": engine.cache.keys()}

    return app


def _usage(generation: engine_models.Generation) -> dict[str, int]:
    return {
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "total_tokens": generation.prompt_tokens + generation.completion_tokens,
    }


def _sse(
    lock: threading.Lock,
    generation: engine_models.Generation,
    completion_id: str,
    created: int,
    model: str,
    include_usage: bool,
) -> Iterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_studio_local",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            **extra,
        }
        if include_usage and "usage" not in extra:
            body["usage"] = None
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    # A plain Lock (not RLock): Starlette may resume this generator on another thread of its pool.
    lock.acquire()
    try:
        yield chunk({"role": "assistant", "content": "", "refusal": None})
        for text in generation:
            yield chunk({"content": text})
        yield chunk({}, generation.finish_reason)
    finally:
        lock.release()
    if include_usage:
        usage = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_studio_local",
            "choices": [],
            "usage": _usage(generation),
        }
        yield f"data: {json.dumps(usage)}\n\n"
    yield "data: [DONE]\n\n"


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"File too large: the engine accepts uploads up to {limit} bytes", param="file", code="file_too_large"
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(EngineError)
    async def engine_error(request: Request, exc: EngineError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        param = ".".join(loc) or None
        if first.get("type") == "json_invalid":
            message, param = "We could not parse the JSON body of your request.", None
        elif first.get("type") == "missing":
            message = f"Missing required parameter: '{param}'."
        else:
            message = f"Invalid value for '{param}': {first.get('msg')}." if param else str(first.get("msg"))
        error = InvalidRequestError(message, param=param, code="invalid_value" if param else None)
        return JSONResponse(error.to_dict(), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = (
            f"Invalid URL ({request.method} {request.url.path})"
            if exc.status_code in (404, 405)
            else str(exc.detail)
        )
        body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled error on %s %s", request.method, request.url.path)
        body = {
            "error": {
                "message": f"{type(exc).__name__}: {exc}",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
        return JSONResponse(body, status_code=500)


def serve(app: FastAPI, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Run ``app`` with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info")


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Engine", "JobScheduler", "create_app", "engine_home", "serve"]
