"""The files a fine-tuning job uploads, built from workspace versions and validated as the Cost page does."""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.cost.validation import ValidationReport, validate_bytes
from studio.data.writers import export_bytes
from studio.storage.workspace import Workspace


@dataclass(frozen=True)
class TrainingData:
    """OpenAI chat JSONL of the training (and optional validation) version, and the training file's report."""

    training: bytes = field(repr=False)
    validation: bytes | None = field(repr=False)
    report: ValidationReport


def prepare_training_data(
    workspace: Workspace, training_version: int, validation_version: int | None = None, *, model: str | None = None
) -> TrainingData:
    """Export versions ``training_version`` (and ``validation_version``) as OpenAI chat JSONL and validate the
    training file for ``model`` (its token limit). Versions never change, so a caller may keep the result per
    (workspace, versions, model). Raises :class:`~studio.errors.WorkspaceError` for an unknown version."""
    training = export_bytes(workspace.load_version(training_version), to="openai-chat")
    validation = (
        export_bytes(workspace.load_version(validation_version), to="openai-chat")
        if validation_version is not None
        else None
    )
    return TrainingData(training, validation, validate_bytes(training, model=model))
