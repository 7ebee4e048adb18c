"""The files a fine-tuning job uploads, built from workspace versions and validated as the Cost page does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from studio.cost.validation import ValidationReport, validate_bytes
from studio.data.writers import export_bytes
from studio.quality.splits import version_split
from studio.storage.workspace import VersionInfo, Workspace


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


def default_versions(versions: Sequence[VersionInfo], head_id: int | None = None) -> tuple[int, int | None]:
    """The versions the Train page offers first, as ``(training id, validation id or None)``.

    A saved *test* split is never preselected (training on it would inflate every comparison measured on it).
    When splits were saved from the head ``head_id`` (their ``parent_id``), the newest training split and the
    validation split of the same seed; otherwise the head itself (else the newest version that is not a test
    split) and no validation file. Split versions are recognised by :func:`~studio.quality.splits.version_split`.
    Raises ValueError when ``versions`` holds nothing but test splits.
    """
    named = [(v, version_split(v.name)) for v in versions]
    trains = [
        (v, s) for v, s in named if s is not None and s[0] == "train" and (head_id is None or v.parent_id == head_id)
    ]
    if trains:
        train, (_, seed) = max(trains, key=lambda pair: pair[0].id)
        validation = next(
            (v.id for v, s in named if s == ("validation", seed) and v.parent_id == train.parent_id), None
        )
        return train.id, validation
    usable = [v for v, s in named if s is None or s[0] != "test"]
    if not usable:
        raise ValueError("every version is a test split; train on another version")
    head = next((v for v in usable if v.id == head_id), usable[-1])
    return head.id, None
