"""Errors of the local engine, each carrying the HTTP status and OpenAI's error fields."""

from __future__ import annotations

from typing import Any

from studio.errors import StudioError


class EngineError(StudioError):
    """An API error: serialised as ``{"error": {"message", "type", "param", "code"}}`` with ``status``."""

    status: int = 500
    type: str = "server_error"

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidRequestError(EngineError):
    """The request is malformed or names a value the engine does not accept (HTTP 400)."""

    status = 400
    type = "invalid_request_error"


class NotFoundError(EngineError):
    """A file, job, checkpoint or model id that does not exist (HTTP 404)."""

    status = 404
    type = "invalid_request_error"


class AuthenticationError(EngineError):
    """A missing or wrong bearer key (HTTP 401)."""

    status = 401
    type = "invalid_request_error"


class PayloadTooLargeError(EngineError):
    """An upload over the engine's size limit (HTTP 413)."""

    status = 413
    type = "invalid_request_error"


class ConflictError(EngineError):
    """The object is in a state that does not allow the operation (HTTP 409)."""

    status = 409
    type = "invalid_request_error"


class EngineUnavailableError(EngineError):
    """The optional training extra (torch, transformers, peft) is not installed (HTTP 503)."""

    status = 503
    type = "server_error"


class PullError(EngineError):
    """The default model could not be downloaded or failed its checksum (HTTP 502)."""

    status = 502
    type = "server_error"
