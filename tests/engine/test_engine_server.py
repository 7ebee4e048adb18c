"""The local engine through the official openai SDK over HTTP, with a tiny random Llama (fast)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openai
import pytest

from tests.engine_support import TINY, wait_for_metrics, wait_for_status

pytest_plugins = ("tests.engine_fixtures",)

pytest.importorskip("torch")
pytest.importorskip("peft")

FINAL = {"succeeded", "failed", "cancelled"}


def _upload(client: openai.OpenAI, path: Path):
    with open(path, "rb") as handle:
        return client.files.create(file=handle, purpose="fine-tune")


def test_full_flow_upload_train_events_checkpoints_chat(tiny_engine, chat_file):
    client = tiny_engine.client()
    uploaded = _upload(client, chat_file)
    assert uploaded.purpose == "fine-tune" and uploaded.bytes == chat_file.stat().st_size
    assert client.files.retrieve(uploaded.id).filename == "train.jsonl"
    assert client.files.content(uploaded.id).content == chat_file.read_bytes()

    job = client.fine_tuning.jobs.create(
        model=TINY,
        training_file=uploaded.id,
        validation_file=uploaded.id,
        suffix="pirate",
        seed=7,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2, "batch_size": 4}}},
    )
    assert job.status == "validating_files" and job.fine_tuned_model is None
    job = wait_for_status(client, job.id, FINAL)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model == f"ft:{TINY}:pirate:{job.id}"
    assert job.trained_tokens > 0 and job.finished_at >= job.created_at
    assert (job.hyperparameters.n_epochs, job.hyperparameters.batch_size) == (2, 4)

    events = client.fine_tuning.jobs.list_events(job.id, limit=100).data
    metrics = sorted((e.data for e in events if e.type == "metrics"), key=lambda d: d["step"])
    assert [m["step"] for m in metrics] == list(range(1, 7))  # 12 examples / 4 per batch × 2 epochs
    assert all(
        {"train_loss", "train_mean_token_accuracy", "valid_loss", "valid_mean_token_accuracy"} <= m.keys()
        for m in metrics[-1:]
    )
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"]
    assert events[0].message == "The job has successfully completed"  # newest first

    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert [c.step_number for c in checkpoints] == [6, 3]  # one per epoch, newest first
    assert checkpoints[1].fine_tuned_model_checkpoint == f"{job.fine_tuned_model}:ckpt-step-3"
    assert checkpoints[0].metrics.full_valid_loss is not None

    rows = list(csv.DictReader(io.StringIO(client.files.content(job.result_files[0]).text)))
    assert list(rows[0]) == [
        "step",
        "train_loss",
        "train_accuracy",
        "valid_loss",
        "valid_mean_token_accuracy",
    ]
    assert [int(r["step"]) for r in rows] == list(range(1, 7))

    model_ids = {m.id for m in client.models.list().data}
    assert {
        TINY,
        "smollm2-135m-instruct",
        job.fine_tuned_model,
        checkpoints[1].fine_tuned_model_checkpoint,
    } <= model_ids

    messages = [{"role": "user", "content": "Tell me about tea number 1."}]
    reply = client.chat.completions.create(model=job.fine_tuned_model, messages=messages, max_tokens=8, temperature=0)
    choice = reply.choices[0]
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in {"stop", "length"}
    assert reply.usage.completion_tokens <= 8 and reply.usage.prompt_tokens > 5
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens

    stream = client.chat.completions.create(
        model=job.fine_tuned_model,
        messages=messages,
        max_completion_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == choice.message.content  # greedy: the same text either way
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == reply.usage.completion_tokens
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == choice.finish_reason

    def sampled(seed: int) -> str:
        return (
            client.chat.completions.create(
                model=checkpoints[1].fine_tuned_model_checkpoint,
                messages=messages,
                max_tokens=6,
                temperature=1.0,
                top_p=0.9,
                seed=seed,
            )
            .choices[0]
            .message.content
        )

    assert sampled(3) == sampled(3)  # a seed makes sampling repeatable

    text = choice.message.content
    assert text  # the tiny model babbles (seeded), so there is a character to stop at
    stop = text[len(text) // 2]
    stopped = client.chat.completions.create(
        model=job.fine_tuned_model,
        messages=messages,
        max_tokens=8,
        temperature=0,
        stop=[stop, "never-generated"],
    )
    assert stopped.choices[0].message.content == text[: text.index(stop)]
    assert stopped.choices[0].finish_reason == "stop"

    assert client.models.delete(job.fine_tuned_model).deleted
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model=job.fine_tuned_model, messages=messages, max_tokens=2)


def test_cancel_a_running_job_then_the_queue_moves_on(tiny_engine, chat_file):
    client = tiny_engine.client()
    file_id = _upload(client, chat_file).id
    long_job = client.fine_tuning.jobs.create(
        model=TINY, training_file=file_id, hyperparameters={"n_epochs": 50, "batch_size": 1}
    )
    short_job = client.fine_tuning.jobs.create(
        model=TINY, training_file=file_id, hyperparameters={"n_epochs": 1, "batch_size": 12}
    )
    wait_for_metrics(client, long_job.id)
    assert client.fine_tuning.jobs.retrieve(short_job.id).status == "queued"  # one job at a time

    cancelled = client.fine_tuning.jobs.cancel(long_job.id)
    assert cancelled.status == "cancelled"
    assert wait_for_status(client, short_job.id, FINAL).status == "succeeded"
    assert client.fine_tuning.jobs.retrieve(long_job.id).status == "cancelled"
    messages = [e.message for e in client.fine_tuning.jobs.list_events(long_job.id, limit=100).data]
    assert any(m.startswith("Job cancelled at step") for m in messages)
    with pytest.raises(openai.ConflictError):
        client.fine_tuning.jobs.cancel(long_job.id)

    page = client.fine_tuning.jobs.list(limit=1)
    assert len(page.data) == 1 and page.has_more
    assert page.data[0].id == short_job.id  # newest first


def test_pause_and_resume_continue_from_the_paused_step(tiny_engine, chat_file):
    client = tiny_engine.client()
    file_id = _upload(client, chat_file).id
    job = client.fine_tuning.jobs.create(
        model=TINY, training_file=file_id, hyperparameters={"n_epochs": 40, "batch_size": 1}
    )
    wait_for_metrics(client, job.id, min_step=2)
    client.fine_tuning.jobs.pause(job.id)
    messages = []
    for _ in range(600):
        messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id, limit=5).data]
        if any(m.startswith("Job paused at step") for m in messages):
            break
        __import__("time").sleep(0.2)
    paused_at = int(next(m for m in messages if m.startswith("Job paused at step")).split()[4].split("/")[0])
    assert client.fine_tuning.jobs.retrieve(job.id).status == "paused"

    assert client.fine_tuning.jobs.resume(job.id).status == "queued"
    step = wait_for_metrics(client, job.id, min_step=paused_at + 1)
    steps = sorted(
        e.data["step"] for e in client.fine_tuning.jobs.list_events(job.id, limit=1000).data if e.type == "metrics"
    )
    assert steps[:step] == list(range(1, step + 1))  # no step skipped or repeated across the pause
    assert any(
        e.message == f"Resumed from step {paused_at}/480"
        for e in client.fine_tuning.jobs.list_events(job.id, limit=1000).data
    )
    client.fine_tuning.jobs.cancel(job.id)
    wait_for_status(client, job.id, {"cancelled"})


# -- error shapes ---------------------------------------------------------------------------------------------------


def _error(exc: openai.APIStatusError) -> dict:
    error = exc.response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


@pytest.mark.parametrize(
    "hyperparameters, param",
    [
        ({"n_epochs": 0}, "hyperparameters.n_epochs"),
        ({"n_epochs": 51}, "hyperparameters.n_epochs"),
        ({"n_epochs": 2.5}, "hyperparameters.n_epochs"),
        ({"n_epochs": "many"}, "hyperparameters.n_epochs"),
        ({"batch_size": 0}, "hyperparameters.batch_size"),
        ({"batch_size": 257}, "hyperparameters.batch_size"),
        ({"learning_rate_multiplier": 0}, "hyperparameters.learning_rate_multiplier"),
        ({"learning_rate_multiplier": -1}, "hyperparameters.learning_rate_multiplier"),
        ({"learning_rate_multiplier": 10.5}, "hyperparameters.learning_rate_multiplier"),
        ({"learning_rate_multiplier": True}, "hyperparameters.learning_rate_multiplier"),
        ({"warmup": 3}, "hyperparameters.warmup"),
        ({"lora_rank": 0}, "hyperparameters.lora_rank"),
    ],
)
def test_invalid_hyperparameters_are_400_with_param(tiny_engine, chat_file, hyperparameters, param):
    client = tiny_engine.client()
    file_id = _upload(client, chat_file).id
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model=TINY, training_file=file_id, hyperparameters=hyperparameters)
    error = _error(caught.value)
    assert error["param"] == param and error["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(
            model=TINY,
            training_file=file_id,
            method={"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
        )
    assert _error(caught.value)["param"] == "method.supervised." + param


def test_auto_hyperparameters_are_accepted(tiny_engine, chat_file):
    client = tiny_engine.client()
    file_id = _upload(client, chat_file).id
    job = client.fine_tuning.jobs.create(
        model=TINY,
        training_file=file_id,
        hyperparameters={"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"},
    )
    assert job.hyperparameters.n_epochs == "auto"
    client.fine_tuning.jobs.cancel(job.id)


def test_unknown_ids_and_models_are_404(tiny_engine, chat_file):
    client = tiny_engine.client()
    for call in (
        lambda: client.files.retrieve("file-doesnotexist0000"),
        lambda: client.files.retrieve("../store.db"),
        lambda: client.files.content("file-..%2F..%2Fstore"),
        lambda: client.files.delete("file-doesnotexist0000"),
        lambda: client.fine_tuning.jobs.retrieve("ftjob-doesnotexist00"),
        lambda: client.fine_tuning.jobs.list_events("ftjob-doesnotexist00"),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            call()
        _error(caught.value)

    with pytest.raises(openai.NotFoundError) as caught:
        client.fine_tuning.jobs.create(model=TINY, training_file="file-doesnotexist0000")
    assert _error(caught.value)["param"] == "training_file"

    file_id = _upload(client, chat_file).id
    with pytest.raises(openai.NotFoundError) as caught:
        client.fine_tuning.jobs.create(model="no-such-model", training_file=file_id)
    assert _error(caught.value)["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="ft:no-such-model::ftjob-x", messages=[{"role": "user", "content": "hi"}])
    assert _error(caught.value)["code"] == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.models.delete("ft:no-such-model::ftjob-x")


def test_bad_requests_are_400(tiny_engine, chat_file, tmp_path):
    client = tiny_engine.client()
    file_id = _upload(client, chat_file).id
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model=TINY, training_file=file_id, method={"type": "dpo"})
    assert _error(caught.value)["param"] == "method.type"
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model=TINY, training_file=file_id, suffix="has space")
    assert _error(caught.value)["param"] == "suffix"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=TINY, messages=[{"role": "user", "content": "hi"}], temperature=3)
    assert _error(caught.value)["param"] == "temperature"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=TINY, messages=[])
    assert _error(caught.value)["param"] == "messages"
    with pytest.raises(openai.BadRequestError) as caught:
        client.models.delete(TINY)
    assert _error(caught.value)["code"] == "model_not_deletable"

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{not json\n')
    with pytest.raises(openai.BadRequestError) as caught:
        _upload(client, broken)
    error = _error(caught.value)
    assert error["param"] == "file" and error["code"] == "invalid_file_format" and "broken.jsonl" in error["message"]
    with pytest.raises(openai.BadRequestError):
        client.files.create(file=("a.jsonl", chat_file.read_bytes()), purpose="batch")


def test_uploaded_file_names_cannot_escape_the_store(tiny_engine, chat_file):
    client = tiny_engine.client()
    uploaded = client.files.create(file=("../../escape.jsonl", chat_file.read_bytes()), purpose="fine-tune")
    assert uploaded.filename == "escape.jsonl"
    assert not (tiny_engine.home.parent / "escape.jsonl").exists()
    assert (tiny_engine.home / "files" / uploaded.id).read_bytes() == chat_file.read_bytes()
    assert client.files.delete(uploaded.id).deleted
    assert uploaded.id not in {f.id for f in client.files.list()}
