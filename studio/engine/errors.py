"""What the local engine cannot do, as plain domain errors; no HTTP here.

Each error carries OpenAI's ``param`` (the request field it is about, dotted: ``hyperparameters.n_epochs``) and
``code`` (``model_not_found``, ``invalid_file_format``…) so that :mod:`studio.engine.api.errors`, the one place
that knows HTTP, can answer with OpenAI's error object and status code. The store, the trainer and the model code
raise these; only the API layer turns them into responses.
"""

from __future__ import annotations

from studio.errors import StudioError


class EngineError(StudioError):
    """Base class: ``message``, plus the ``param`` and ``code`` OpenAI's error object names (both optional)."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class InvalidValueError(EngineError, ValueError):
    """A value the engine does not accept: a request field, a listing cursor, a chat message."""


class HyperparameterError(InvalidValueError):
    """A fine-tuning hyperparameter out of range, of the wrong type or unknown (``param`` names it)."""


class TrainingDataError(InvalidValueError):
    """Training or validation data with nothing trainable; ``param`` is ``training_file``, ``validation_file`` or
    ``file`` (an upload)."""


class ContextLengthError(InvalidValueError):
    """A prompt longer than the model's context (``code="context_length_exceeded"``)."""


class NotFoundError(EngineError, LookupError):
    """A file, job, checkpoint or model id that does not exist (or is not one of the engine's ids)."""


class StatusConflictError(EngineError):
    """A job whose status does not allow the operation (cancelling a finished job, resuming a running one)."""


class StorageError(EngineError):
    """The engine's disk could not hold a file (full, or a file-size limit); the message names the file and
    nothing partial was kept (``code="storage_full"``)."""


class EngineUnavailableError(EngineError):
    """The optional ``engine`` extra (torch, transformers, peft) is not installed."""


class PullError(EngineError):
    """The default model could not be downloaded, or failed its checksum."""
