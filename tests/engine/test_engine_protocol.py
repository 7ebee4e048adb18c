"""The engine speaks OpenAI's protocol: responses are the SDK's own types, job requests take today's ``method``."""

from __future__ import annotations

import math

import openai
import pytest
from openai.types import FileObject
from openai.types.chat import ChatCompletionChunk
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint
from pydantic import ValidationError

from studio.engine.protocol import (
    ChatRequest,
    chat_chunk,
    checkpoint_object,
    dump,
    event_object,
    file_object,
    job_object,
)
from studio.engine.records import CheckpointRecord, EventRecord, FileRecord, JobRecord
from tests.engine_support import TINY, ThreadServer, cli_app, write_chat_file

pytest_plugins = ("tests.engine_fixtures",)


def _job(**fields) -> JobRecord:
    values = {
        "id": "ftjob-abcdef0123456789",
        "model": "smollm2-135m-instruct",
        "base_source": {"kind": "smollm2"},
        "training_file": "file-abcdef0123456789",
        "validation_file": None,
        "suffix": "pirate",
        "seed": 7,
        "hyperparameters": {"n_epochs": 2, "lora_rank": 8},
        "metadata": {"team": "support"},
        "status": "succeeded",
        "created_at": 100,
        "started_at": 101,
        "finished_at": 200,
        "estimated_finish": None,
        "fine_tuned_model": "ft:smollm2-135m-instruct:pirate:ftjob-abcdef0123456789",
        "trained_tokens": 1234,
        "error": None,
        "result_files": ["file-results0123456"],
        "attempts": 1,
        "worker_pid": None,
    }
    return JobRecord(**{**values, **fields})


def test_a_job_is_openais_job_object_with_the_engines_extras():
    body = dump(job_object(_job()))
    FineTuningJob.model_validate(body)  # every field OpenAI requires, with OpenAI's types
    core = {"n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": "auto"}
    assert body["hyperparameters"] == core
    assert body["method"] == {"type": "supervised", "supervised": {"hyperparameters": {**core, "lora_rank": 8}}}
    assert body["metadata"] == {"team": "support"}
    assert body["suffix"] == body["user_provided_suffix"] == "pirate"
    assert body["error"] is None and body["estimated_finish"] is None  # explicit nulls stay in the JSON
    paused = dump(job_object(_job(status="paused", fine_tuned_model=None, finished_at=None)))
    assert paused["status"] == "paused"  # the engine's status beyond OpenAI's six


def test_files_events_and_checkpoints_are_openais_objects():
    record = FileRecord("file-abcdef0123456789", "train.jsonl", "fine-tune", 42, 100, "processed")
    body = dump(file_object(record))
    FileObject.model_validate(body)
    assert body["status_details"] is None and body["expires_at"] is None
    event = EventRecord(
        "ftevent-abcdef01234567",
        "ftjob-abcdef0123456789",
        100,
        "info",
        "Step 1",
        "metrics",
        {"step": 1, "train_loss": 2.5},
    )
    body = dump(event_object(event))
    FineTuningJobEvent.model_validate(body)
    assert body["data"] == {"step": 1, "train_loss": 2.5} and body["type"] == "metrics"
    checkpoint = CheckpointRecord(
        "ftckpt-abcdef01234567",
        "ftjob-abcdef0123456789",
        3,
        100,
        "ft:m::ftjob-abcdef0123456789:ckpt-step-3",
        "/x",
        {"step": 3, "train_loss": 1.5},
    )
    body = dump(checkpoint_object(checkpoint))
    FineTuningJobCheckpoint.model_validate(body)
    assert body["step_number"] == 3 and body["metrics"]["train_loss"] == 1.5


def test_stream_chunks_carry_usage_only_when_asked():
    ids = {"completion_id": "chatcmpl-1", "created": 1, "model": "m"}
    plain = dump(chat_chunk(**ids, delta={"content": "Hi"}))
    assert "usage" not in plain and plain["choices"][0] == {
        "index": 0,
        "delta": {"content": "Hi"},
        "logprobs": None,
        "finish_reason": None,
    }
    asked = dump(chat_chunk(**ids, delta={"content": "Hi"}, with_usage=True))
    assert asked["usage"] is None  # OpenAI sends null usage on every chunk but the last when include_usage is on
    last = dump(
        chat_chunk(**ids, usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}, with_usage=True)
    )
    assert last["choices"] == [] and last["usage"]["total_tokens"] == 5
    ChatCompletionChunk.model_validate(last)


# -- job requests through the SDK -----------------------------------------------------------------------------------


@pytest.fixture
def engine(tmp_path):
    pytest.importorskip("peft")  # creating a job needs the training extra installed (no job runs here)
    with ThreadServer(cli_app(tmp_path / "engine", run_jobs=False)) as server:
        client = server.client()
        with open(write_chat_file(tmp_path / "train.jsonl"), "rb") as handle:
            server.file_id = client.files.create(file=handle, purpose="fine-tune").id
        yield server


def _error(exc: openai.APIStatusError) -> dict:
    error = exc.response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_a_job_takes_openais_method_and_metadata(engine):
    client = engine.client()
    job = client.fine_tuning.jobs.create(
        model="smollm2-135m-instruct",
        training_file=engine.file_id,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3, "lora_rank": 4}}},
        metadata={"experiment": "pirate-v2", "owner": "ana"},
    )
    assert job.method.type == "supervised"
    assert job.method.supervised.hyperparameters.n_epochs == 3 and job.hyperparameters.n_epochs == 3
    assert job.method.supervised.hyperparameters.batch_size == "auto"
    assert job.method.supervised.hyperparameters.model_extra == {"lora_rank": 4}
    again = client.fine_tuning.jobs.retrieve(job.id)
    assert again.metadata == {"experiment": "pirate-v2", "owner": "ana"} and again.method == job.method
    assert client.fine_tuning.jobs.list().data[0].metadata == {"experiment": "pirate-v2", "owner": "ana"}


def test_the_deprecated_hyperparameters_still_work_and_show_under_method(engine):
    job = engine.client().fine_tuning.jobs.create(
        model="smollm2-135m-instruct", training_file=engine.file_id, hyperparameters={"batch_size": 2}
    )
    assert job.hyperparameters.batch_size == 2 and job.metadata is None
    assert job.method.type == "supervised" and job.method.supervised.hyperparameters.batch_size == 2


@pytest.mark.parametrize(
    "method",
    [
        {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.1}}},
        {"type": "reinforcement", "reinforcement": {"grader": {}}},
        {"type": "distillation"},
        {"supervised": {}},
    ],
)
def test_methods_the_engine_cannot_train_are_400_naming_method_type(engine, method):
    with pytest.raises(openai.BadRequestError) as caught:
        engine.client().fine_tuning.jobs.create(
            model="smollm2-135m-instruct", training_file=engine.file_id, method=method
        )
    error = _error(caught.value)
    assert error["param"] == "method.type" and error["type"] == "invalid_request_error"
    if method.get("type") in ("dpo", "reinforcement"):
        assert repr(method["type"]) in error["message"] and "supervised" in error["message"]


@pytest.mark.parametrize(
    "metadata",
    [{f"k{i}": "v" for i in range(17)}, {"k": "v" * 513}, {"k" * 65: "v"}, {"k": 3}],
    ids=["17 keys", "long value", "long key", "not a string"],
)
def test_metadata_beyond_openais_limits_is_400(engine, metadata):
    with pytest.raises(openai.BadRequestError) as caught:
        engine.client().fine_tuning.jobs.create(
            model="smollm2-135m-instruct", training_file=engine.file_id, metadata=metadata
        )
    assert _error(caught.value)["param"].startswith("metadata")


# -- chat requests --------------------------------------------------------------------------------------------------

CHAT = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.mark.parametrize("top_p", [0, 0.0, 0.3, 1])
def test_chat_takes_openais_top_p_range(top_p):
    body = ChatRequest.model_validate({**CHAT, "top_p": top_p, "temperature": 1.5})
    assert body.top_p == top_p
    assert body.temperature == (0 if top_p == 0 else 1.5)  # top_p 0 keeps only the top token: greedy


@pytest.mark.parametrize("top_p", [-0.1, 1.01, math.inf])
def test_chat_refuses_top_p_outside_openais_range(top_p):
    with pytest.raises(ValidationError, match="top_p"):
        ChatRequest.model_validate({**CHAT, "top_p": top_p})


def test_sampling_with_top_p_zero_keeps_the_top_token():
    torch = pytest.importorskip("torch")
    from studio.engine.models.generation import _sample

    generator = torch.Generator().manual_seed(0)
    for seed in range(20):
        logits = torch.randn(50, generator=torch.Generator().manual_seed(seed)) * 3
        logits[seed] = -math.inf
        for temperature in (0.5, 1.0, 2.0):
            assert _sample(logits, temperature, 0.0, generator) == int(logits.argmax())


def test_chat_completions_with_top_p_zero_answer_as_greedy(tiny_model_dir, tmp_path):
    app = cli_app(tmp_path / "engine", models={TINY: str(tiny_model_dir)}, run_jobs=False)
    messages = [{"role": "user", "content": "What is the color of grass?"}]
    with ThreadServer(app) as server:
        client = server.client()

        def answer(**sampling) -> str:
            completion = client.chat.completions.create(model=TINY, messages=messages, max_tokens=8, **sampling)
            return completion.choices[0].message.content

        greedy = answer(temperature=0)
        assert [answer(top_p=0, temperature=1.5, seed=seed) for seed in (1, 2, 3)] == [greedy] * 3
        assert answer(top_p=0) == greedy
