"""The one place where errors become OpenAI's error responses: ``{"error": {message, type, param, code}}``.

Domain errors (:mod:`studio.engine.errors`) map to a status and an OpenAI error type by class; the errors that
only HTTP knows (a wrong key, an oversized body) are :class:`APIError` here. Request validation, unknown routes and
unexpected exceptions get the same shape, so the official SDK raises its usual exceptions for all of them.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from studio.engine.errors import (
    EngineError,
    EngineUnavailableError,
    InvalidValueError,
    NotFoundError,
    PullError,
    StatusConflictError,
    StorageError,
)

_log = logging.getLogger("studio.engine")

_STATUS: tuple[tuple[type[EngineError], int, str], ...] = (
    (InvalidValueError, 400, "invalid_request_error"),
    (NotFoundError, 404, "invalid_request_error"),
    (StatusConflictError, 409, "invalid_request_error"),
    (PullError, 502, "server_error"),
    (EngineUnavailableError, 503, "server_error"),
    (StorageError, 507, "server_error"),
)
"""Domain error class → (HTTP status, OpenAI error type); the first match wins, anything else is a 500."""


class APIError(EngineError):
    """An error only the HTTP layer has; ``status`` and ``type`` are OpenAI's."""

    status = 400
    type = "invalid_request_error"


class AuthenticationError(APIError):
    """A missing or wrong bearer key (HTTP 401)."""

    status = 401


class PayloadTooLargeError(APIError):
    """An upload over the engine's size limit (HTTP 413)."""

    status = 413


def http_status(exc: EngineError) -> tuple[int, str]:
    """(HTTP status, OpenAI error type) of an engine error."""
    if isinstance(exc, APIError):
        return exc.status, exc.type
    for cls, status, kind in _STATUS:
        if isinstance(exc, cls):
            return status, kind
    return 500, "server_error"


def error_body(message: str, kind: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(exc: EngineError) -> JSONResponse:
    status, kind = http_status(exc)
    return JSONResponse(error_body(exc.message, kind, exc.param, exc.code), status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` in OpenAI's shape."""

    @app.exception_handler(EngineError)
    async def engine_error(request: Request, exc: EngineError) -> JSONResponse:
        return error_response(exc)

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
        body = error_body(message, "invalid_request_error", param, "invalid_value" if param else None)
        return JSONResponse(body, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = (
            f"Invalid URL ({request.method} {request.url.path})" if exc.status_code in (404, 405) else str(exc.detail)
        )
        return JSONResponse(error_body(message, "invalid_request_error"), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body(f"{type(exc).__name__}: {exc}", "server_error"), status_code=500)
