"""The engine's side of OpenAI's API: request bodies (pydantic) and responses built as the SDK's own types.

Responses are ``openai.types`` models (``FileObject``, ``FineTuningJob``, ``ChatCompletion``…) filled from the
store's records and serialised with :func:`dump`, which keeps exactly the fields set here (``exclude_unset``):
``None`` values the engine sets explicitly stay ``null`` in the JSON, fields it never sets do not appear. The
engine's own additions survive as typed fields of :class:`FineTuningJob` (the ``paused`` status, ``suffix``) or
as extra fields, which the SDK's models allow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from openai import BaseModel as OpenAIModel
from openai.types import FileObject, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.fine_tuning import FineTuningJob as OpenAIFineTuningJob
from openai.types.fine_tuning import FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from studio.engine.models import Generation
from studio.engine.records import CheckpointRecord, EventRecord, FileRecord, JobRecord, JobStatus

ORGANIZATION = "org-local"
SYSTEM_FINGERPRINT = "fp_studio_local"
OPENAI_HYPERPARAMETERS = ("n_epochs", "batch_size", "learning_rate_multiplier")
"""The hyperparameters OpenAI's job object names; the engine's LoRA ones appear under ``method`` only."""

# -- request bodies -----------------------------------------------------------------------------------------------

MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
MetadataValue = Annotated[str, StringConstraints(max_length=512)]


class SupervisedMethodRequest(BaseModel):
    """``method.supervised``: its hyperparameters are checked by :func:`studio.engine.hyperparameters.
    validate_hyperparameters`, which names the exact field at fault."""

    model_config = ConfigDict(extra="ignore")

    hyperparameters: dict[str, Any] | None = None


class MethodRequest(BaseModel):
    """OpenAI's ``method`` of a fine-tuning job; the engine trains ``supervised`` only (DPO and reinforcement are
    refused with a 400 naming ``method.type``)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: SupervisedMethodRequest | None = None
    dpo: dict[str, Any] | None = None
    reinforcement: dict[str, Any] | None = None


class JobRequest(BaseModel):
    """Body of ``POST /v1/fine_tuning/jobs`` (OpenAI's fields; others are ignored, as OpenAI's future ones)."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    training_file: str = Field(min_length=1)
    validation_file: str | None = None
    suffix: str | None = None
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    hyperparameters: dict[str, Any] | None = None
    """Deprecated by OpenAI in favour of ``method.supervised.hyperparameters``; still accepted."""
    method: MethodRequest | None = None
    metadata: dict[MetadataKey, MetadataValue] | None = Field(default=None, max_length=16)
    """Up to 16 string pairs (keys up to 64 characters, values up to 512), stored and returned with the job."""


class ExportRequest(BaseModel):
    """Body of ``POST /v1/models/{model}/export`` (an engine extension, not OpenAI's API)."""

    model_config = ConfigDict(extra="ignore")

    format: Literal["hf", "adapter", "gguf"] = "hf"


class ChatRequest(BaseModel):
    """Body of ``POST /v1/chat/completions``: the fields the engine honours; others are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    messages: list[dict[str, Any]] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1, le=1)
    stream: bool | None = False
    stream_options: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _top_p_zero_is_greedy(self) -> ChatRequest:
        # OpenAI accepts 0 <= top_p <= 1; a nucleus of probability 0 keeps only the most likely token, which is
        # greedy decoding: decode it as temperature 0 (argmax) rather than sample from a one-token set.
        if self.top_p == 0:
            self.temperature = 0.0
        return self

    @property
    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


# -- response objects ---------------------------------------------------------------------------------------------


class FineTuningJob(OpenAIFineTuningJob):
    """OpenAI's job object plus what the engine adds: the ``paused`` status, and the ``suffix`` asked for."""

    status: JobStatus  # type: ignore[assignment]  # OpenAI's six statuses and "paused"
    suffix: str | None = None
    user_provided_suffix: str | None = None


def dump(model: OpenAIModel) -> dict[str, Any]:
    """JSON-ready dict of a response object: the fields that were set, ``None`` ones included."""
    return model.model_dump(mode="json", exclude_unset=True)


def file_object(record: FileRecord) -> FileObject:
    return FileObject.model_validate(
        {
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
    )


def job_object(job: JobRecord) -> FineTuningJob:
    """The job as OpenAI returns it: ``hyperparameters`` holds OpenAI's three, ``method`` all that apply."""
    core = {k: job.hyperparameters.get(k, "auto") for k in OPENAI_HYPERPARAMETERS}
    extra = {k: v for k, v in job.hyperparameters.items() if k not in core}
    return FineTuningJob.model_validate(
        {
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
    )


def event_object(event: EventRecord) -> FineTuningJobEvent:
    return FineTuningJobEvent.model_validate(
        {
            "id": event.id,
            "object": "fine_tuning.job.event",
            "created_at": event.created_at,
            "level": event.level,
            "message": event.message,
            "type": event.type,
            "data": event.data or {},
        }
    )


def checkpoint_object(checkpoint: CheckpointRecord) -> FineTuningJobCheckpoint:
    return FineTuningJobCheckpoint.model_validate(
        {
            "id": checkpoint.id,
            "object": "fine_tuning.job.checkpoint",
            "created_at": checkpoint.created_at,
            "fine_tuned_model_checkpoint": checkpoint.model_id,
            "fine_tuning_job_id": checkpoint.job_id,
            "step_number": checkpoint.step,
            "metrics": checkpoint.metrics,
        }
    )


def model_object(model_id: str, *, created: int, owned_by: str) -> Model:
    return Model(id=model_id, object="model", created=created, owned_by=owned_by)


def deleted_object(object_id: str, kind: Literal["file", "model"]) -> dict[str, Any]:
    """``{"id", "object", "deleted": true}``, OpenAI's answer to a delete."""
    return {"id": object_id, "object": kind, "deleted": True}


def page(items: Sequence[OpenAIModel], *, has_more: bool | None) -> dict[str, Any]:
    """OpenAI's list object; with ``has_more=None`` (an unpaged list, as ``GET /models``) only ``data``."""
    data = [dump(item) for item in items]
    if has_more is None:
        return {"object": "list", "data": data}
    return {
        "object": "list",
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def usage(generation: Generation) -> dict[str, int]:
    return {
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "total_tokens": generation.prompt_tokens + generation.completion_tokens,
    }


def chat_completion(
    generation: Generation, text: str, *, completion_id: str, created: int, model: str
) -> ChatCompletion:
    """The answer of a finished (non-streamed) generation."""
    return ChatCompletion.model_validate(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": generation.finish_reason,
                }
            ],
            "usage": usage(generation),
        }
    )


def chat_chunk(
    *,
    completion_id: str,
    created: int,
    model: str,
    delta: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    usage: dict[str, int] | None = None,
    with_usage: bool = False,
) -> ChatCompletionChunk:
    """One streamed chunk: a ``delta`` of the one choice, or (``delta=None``) the closing usage chunk, whose
    ``choices`` is empty. ``with_usage`` sets ``usage`` (``null`` on delta chunks), as OpenAI does when the request
    asked for ``stream_options.include_usage``."""
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    if with_usage:
        body["usage"] = usage
    return ChatCompletionChunk.model_validate(body)
