"""The files a fine-tuning job uploads, built from workspace versions and validated as the Cost page does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from studio.cost.format_checks import MIN_EXAMPLES
from studio.cost.validation import ValidationReport, validate_bytes
from studio.data.writers import export_bytes
from studio.quality.splits import version_split
from studio.storage.workspace import VersionInfo, Workspace


@dataclass(frozen=True)
class TrainingData:
    """OpenAI chat JSONL of the training (and optional validation) version, and each file's report: a file with
    errors is refused at upload (the local engine checks every file as the Cost page does)."""

    training: bytes = field(repr=False)
    validation: bytes | None = field(repr=False)
    report: ValidationReport
    validation_report: ValidationReport | None = None


def prepare_training_data(
    workspace: Workspace, training_version: int, validation_version: int | None = None, *, model: str | None = None
) -> TrainingData:
    """Export versions ``training_version`` (and ``validation_version``) as OpenAI chat JSONL and validate both
    files for ``model`` (its token limit). Versions never change, so a caller may keep the result per
    (workspace, versions, model). Raises :class:`~studio.errors.WorkspaceError` for an unknown version."""
    training = export_bytes(workspace.load_version(training_version), to="openai-chat")
    validation = (
        export_bytes(workspace.load_version(validation_version), to="openai-chat")
        if validation_version is not None
        else None
    )
    return TrainingData(
        training,
        validation,
        validate_bytes(training, model=model),
        validate_bytes(validation, model=model) if validation is not None else None,
    )


class DefaultVersions(NamedTuple):
    """What the Train page preselects (see :func:`default_versions`)."""

    training: int
    validation: int | None
    too_small: VersionInfo | None = None
    """The saved validation split that goes with ``training`` but was not preselected: it has fewer than
    :data:`~studio.cost.format_checks.MIN_EXAMPLES` examples, and a file that small is refused (OpenAI's minimum,
    which the local engine applies to every uploaded file)."""


def default_versions(versions: Sequence[VersionInfo], head_id: int | None = None) -> DefaultVersions:
    """The versions the Train page offers first, as ``(training id, validation id or None, too small)``.

    A saved *test* split is never preselected (training on it would inflate every comparison measured on it).
    When splits were saved from the head ``head_id`` (their ``parent_id``), the newest training split and the
    validation split of the same seed, unless it holds fewer than ``MIN_EXAMPLES`` examples (it would be refused:
    then no validation file, and ``too_small`` names it); otherwise the head itself (else the newest version that
    is not a test split) and no validation file. Split versions are recognised by
    :func:`~studio.quality.splits.version_split`. Raises ValueError when ``versions`` holds nothing but test splits.
    """
    named = [(v, version_split(v.name)) for v in versions]
    trains = [
        (v, s) for v, s in named if s is not None and s[0] == "train" and (head_id is None or v.parent_id == head_id)
    ]
    if trains:
        train, (_, seed) = max(trains, key=lambda pair: pair[0].id)
        validation = next((v for v, s in named if s == ("validation", seed) and v.parent_id == train.parent_id), None)
        if validation is not None and validation.rows < MIN_EXAMPLES:
            return DefaultVersions(train.id, None, validation)
        return DefaultVersions(train.id, validation.id if validation is not None else None)
    usable = [v for v, s in named if s is None or s[0] != "test"]
    if not usable:
        raise ValueError("every version is a test split; train on another version")
    head = next((v for v in usable if v.id == head_id), usable[-1])
    return DefaultVersions(head.id, None)
