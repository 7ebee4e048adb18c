"""OpenAI's fine-tuning API served locally: the FastAPI app factory and ``serve``.

``create_app(home)`` serves, under ``/v1``, the routers of :mod:`studio.engine.api` (files, fine-tuning jobs,
models, chat completions) over an :class:`~studio.engine.service.Engine`, plus an open ``/health``. Errors have
OpenAI's shape and status codes so the official SDK raises its usual exceptions. Jobs run one at a time in a
worker process (:mod:`studio.engine.worker`), started by the app's scheduler thread (:mod:`studio.engine.scheduler`).

Importing this module imports neither torch nor transformers; chat loads them on first use.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool

from studio import __version__
from studio.core.training import ENGINE_HOST, ENGINE_PORT
from studio.engine.api import chat, files, jobs
from studio.engine.api import models as models_api
from studio.engine.api.deps import authorize
from studio.engine.api.errors import install_error_handlers
from studio.engine.inflight import HEARTBEAT_S, RETRY_GRACE_S, InFlightChats
from studio.engine.service import Engine, UploadValidator

DEFAULT_HOST = ENGINE_HOST
DEFAULT_PORT = ENGINE_PORT
DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024


def engine_home() -> Path:
    """Engine home: ``$STUDIO_ENGINE_HOME`` or ``./workspace/engine``."""
    return Path(os.environ.get("STUDIO_ENGINE_HOME") or Path("workspace") / "engine")


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
    validate_upload: UploadValidator | None = None,
    heartbeat_s: float = HEARTBEAT_S,
    retry_grace_s: float = RETRY_GRACE_S,
) -> FastAPI:
    """The engine's FastAPI app over the store in ``home``.

    ``models`` adds base models (name → local folder or hub id) next to the default SmolLM2; ``models_dir`` is
    the model cache (default ``$STUDIO_MODELS``); ``api_key``, when set, is required as a bearer token;
    ``run_jobs=False`` serves the API without starting workers; ``preload`` names models to load in the
    background at start, so the first answer does not wait for a load. ``validate_upload(path, filename)``
    returns the problems of an uploaded file (``studio engine`` passes the Cost page's validation); without it
    the engine checks only that the file parses and has assistant messages. A chat request that waits or decodes
    sends a keep-alive byte every ``heartbeat_s``; a keyed one whose client left keeps decoding ``retry_grace_s``
    for its retry (:mod:`studio.engine.inflight`).
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
        validate_upload=validate_upload,
        chats=InFlightChats(heartbeat_s=heartbeat_s, retry_grace_s=retry_grace_s),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if engine.run_jobs:
            engine.scheduler.start()
        if preload:
            threading.Thread(target=engine.preload, args=(list(preload),), name="preload", daemon=True).start()
        yield
        if engine.run_jobs:
            await run_in_threadpool(engine.scheduler.stop)

    app = FastAPI(title="Fine-Tuning Studio engine", lifespan=lifespan)
    app.state.engine = engine
    install_error_handlers(app)
    for router in (models_api.router, files.router, jobs.router, chat.router):
        app.include_router(router, prefix="/v1", dependencies=[Depends(authorize)])

    started_at = int(time.time())

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Who answers: the studio version, the engine folder, the process and its start (Unix seconds); the
        app refuses an engine of another version or folder (``studio.providers.profiles.probe_engine``); ``chat``
        is the chat load (:meth:`Engine.chat_load`: batch capacity, rows decoding and waiting, generations)."""
        return {
            "status": "ok",
            "loaded_models": engine.cache.keys(),
            "version": __version__,
            "home": str(Path(home).resolve()),
            "pid": os.getpid(),
            "started_at": started_at,
            "chat": engine.chat_load(),
        }

    return app


def serve(app: FastAPI, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Run ``app`` with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info")


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "create_app", "engine_home", "serve"]
