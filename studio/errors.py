"""The studio's exception family, all in this one module: every message names the file, line/row and field it is
about, or the model, provider or setting.

``StudioError`` is the base of everything a user can act on. The local engine's HTTP errors
(:mod:`studio.engine.errors`, each with an HTTP status and OpenAI's error fields) derive from it too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


class StudioError(Exception):
    """Base class for errors a user can act on; pages show them with st.error, the CLI exits 2."""


class LoadError(StudioError):
    """A file could not be read, or one of its lines/rows is malformed."""

    def __init__(
        self,
        detail: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        unit: str = "line",
    ) -> None:
        self.detail = detail
        self.path = Path(path).name if path is not None else None
        self.line = line
        self.field = field
        self.unit = unit
        where = self.path or "input"
        if line is not None:
            where += f" {unit} {line}"
        if field:
            where += f", field {field!r}"
        super().__init__(f"{where}: {detail}")

    def __reduce__(self) -> tuple:
        # rebuilt from its keyword arguments, so it crosses a process pool (a file read in parts) unchanged
        return (_load_error, (type(self), self.detail, self.path, self.line, self.field, self.unit))


def _load_error(
    kind: type[LoadError], detail: str, path: str | None, line: int | None, field: str | None, unit: str
) -> LoadError:
    return kind(detail, path=path, line=line, field=field, unit=unit)


class FormatError(LoadError):
    """The file's format could not be detected, or does not match the requested one."""


class ExportError(StudioError):
    """A dataset could not be written in the requested format."""


class WorkspaceError(StudioError):
    """The workspace database is missing something that was asked for, or could not be written."""


class ConflictError(WorkspaceError):
    """Another session changed the dataset since this one read it, in a way this change cannot be merged with;
    nothing was written, and the session has reloaded what is stored now."""


class WriteError(StudioError):
    """A file could not be written (full disk, file-size limit, permissions); the message names it in one line.
    Nothing partial is left (:mod:`studio.core.files`)."""


class PatternError(StudioError):
    """A user-supplied regular expression is invalid or unsupported."""


class OperationError(StudioError):
    """A cleaning operation or recipe cannot be applied."""


class PricingError(StudioError):
    """A model has no price in the table, or a cost cannot be computed from the given numbers."""


class ModerationError(StudioError):
    """The moderation endpoint refused or kept failing for a batch of rows."""


class ProviderError(StudioError):
    """A provider is misconfigured (no key, no endpoint) or unreachable."""


class EngineUnavailableError(ProviderError):
    """The local engine can neither be used nor started. ``shown(lang)`` says why in ``lang`` (``"en"``, ``"es"``;
    the library's strings are looked up by the caller, so the engine, which shares this module, needs none); the
    message is the English."""

    def __init__(self, shown: Callable[[str], str]) -> None:
        self.shown = shown
        super().__init__(shown("en"))


class ForeignEngineError(EngineUnavailableError):
    """Another engine or program answers at the local engine's URL, so the app neither uses it nor starts its
    own there; ``status`` (a :class:`studio.providers.profiles.Reachability`) says who."""

    def __init__(self, status: Any) -> None:
        self.status = status
        super().__init__(status.shown)


class JobError(StudioError):
    """A provider call failed; the message says what happened and what to do."""


class CompareError(StudioError):
    """A target, a test set or a run cannot be used as given."""


class RetryInterrupted(StudioError):
    """A retry wait was cut short by a stop request; ``last`` is the error that the retry was for."""

    def __init__(self, last: BaseException) -> None:
        super().__init__(f"interrupted before retrying: {last}")
        self.last = last


class ResourceError(StudioError):
    """A job would need more memory (or another resource) than the machine has free; raised before it starts.
    ``message`` is the English text, or a function of the language (``"en"``, ``"es"``) giving it, which
    :meth:`shown` calls (:func:`studio.data.memory.check_memory` raises it so); the message is the English."""

    def __init__(self, message: str | Callable[[str], str]) -> None:
        self.said = message
        super().__init__(message if isinstance(message, str) else message("en"))

    def shown(self, lang: str = "en") -> str:
        """The message in ``lang`` (the English when it was raised with text only)."""
        return self.said if isinstance(self.said, str) else self.said(lang)
