"""Jobs against OpenAI's cloud, mocked only at the HTTP level (the real SDK parses real JSON shapes)."""

from __future__ import annotations

import json
import sqlite3

import httpx
import pytest

from studio.errors import JobError
from studio.providers.jobs import events, launch_job, list_jobs, metrics_frame, refresh_job, with_retries
from studio.providers.profiles import Profile, make_client
from studio.storage.workspace import Workspace

CANARY = "sk-canary-3f9a1c7e5b"
TRAIN = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'


def file_object(file_id):
    return {
        "id": file_id,
        "object": "file",
        "bytes": 120,
        "created_at": 1,
        "filename": "train.jsonl",
        "purpose": "fine-tune",
        "status": "processed",
    }


def job_object(status="validating_files", model="gpt-4o-mini-2024-07-18", fine_tuned=None, error=None):
    return {
        "id": "ftjob-abc",
        "object": "fine_tuning.job",
        "created_at": 1,
        "model": model,
        "fine_tuned_model": fine_tuned,
        "organization_id": "org",
        "result_files": [],
        "seed": 42,
        "status": status,
        "trained_tokens": 1200 if fine_tuned else None,
        "training_file": "file-1",
        "validation_file": None,
        "hyperparameters": {"n_epochs": 3},
        "error": error,
        "finished_at": None,
    }


class Cloud:
    """A scripted OpenAI: each route pops its next (status, body, headers) response."""

    def __init__(self, routes):
        self.routes = {k: list(v) for k, v in routes.items()}
        self.calls: list[tuple[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        key = f"{request.method} {request.url.path}"
        self.calls.append((key, request.headers.get("authorization", "")))
        status, body, headers = self.routes[key].pop(0)
        return httpx.Response(status, json=body, headers=headers or {})


def client_for(cloud):
    return make_client(
        Profile("openai"), api_key=CANARY, max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(cloud))
    )


def err(code, message, type_="invalid_request_error"):
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def test_launch_records_the_job_and_refresh_tracks_it():
    cloud = Cloud(
        {
            "POST /v1/files": [(200, file_object("file-1"), None)],
            "POST /v1/fine_tuning/jobs": [(200, job_object(), None)],
            "GET /v1/fine_tuning/jobs/ftjob-abc": [
                (200, job_object("succeeded", fine_tuned="ft:gpt-4o-mini:org:faq:1"), None)
            ],
        }
    )
    workspace = Workspace()
    shares = []
    record = launch_job(
        workspace,
        client_for(cloud),
        Profile("openai"),
        model="gpt-4o-mini-2024-07-18",
        training=TRAIN,
        settings={"epochs": 3, "batch_size": "auto", "seed": 42},
        suffix="faq",
        estimate_usd=0.12,
        on_progress=lambda name, share: shares.append((name, share)),
    )
    assert (record.job_id, record.status, record.training_file) == ("ftjob-abc", "validating_files", "file-1")
    assert shares[-1] == ("training", 1.0)
    assert cloud.calls[0][1] == f"Bearer {CANARY}"
    record = refresh_job(workspace, client_for(cloud), record)
    assert (record.status, record.fine_tuned_model, record.trained_tokens) == (
        "succeeded",
        "ft:gpt-4o-mini:org:faq:1",
        1200,
    )
    assert [r.job_id for r in list_jobs(Workspace(workspace.path))] == ["ftjob-abc"]  # survives a restart


@pytest.mark.parametrize(
    "status,body,expected",
    [
        (401, err("invalid_api_key", "Incorrect API key provided"), "The API key was rejected (401)"),
        (403, err("training_not_available", "Fine-tuning is not available"), "Local engine profile"),
        (404, err("model_not_found", "Model gpt-x is not available for fine-tuning"), "Is the model fine-tunable?"),
    ],
)
def test_errors_are_explained_and_the_record_is_kept(status, body, expected):
    cloud = Cloud(
        {"POST /v1/files": [(200, file_object("file-1"), None)], "POST /v1/fine_tuning/jobs": [(status, body, None)]}
    )
    workspace = Workspace()
    with pytest.raises(JobError, match=expected.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        launch_job(workspace, client_for(cloud), Profile("openai"), model="gpt-x", training=TRAIN)
    [record] = list_jobs(workspace)
    assert record.status == "not_started" and expected in record.error and record.training_file == "file-1"


def test_429_then_success_with_retry_after():
    cloud = Cloud(
        {
            "POST /v1/files": [
                (429, err("rate_limit_exceeded", "slow down", "requests"), {"retry-after": "0"}),
                (500, err(None, "boom", "server_error"), None),
                (200, file_object("file-9"), None),
            ],
            "POST /v1/fine_tuning/jobs": [(200, job_object(), None)],
        }
    )
    record = launch_job(
        Workspace(), client_for(cloud), Profile("openai"), model="gpt-4o-mini-2024-07-18", training=TRAIN
    )
    assert record.training_file == "file-9" and record.job_id == "ftjob-abc"
    assert [c[0] for c in cloud.calls].count("POST /v1/files") == 3


def test_retries_give_up_with_a_clear_message():
    delays = []
    cloud = Cloud({"GET /v1/models": [(503, err(None, "unavailable", "server_error"), None)] * 3})
    client = client_for(cloud)
    with pytest.raises(JobError, match=r"provider failed \(503\) after several retries"):
        with_retries(lambda: client.models.list(), attempts=3, sleep=delays.append)
    assert len(delays) == 2 and all(0 <= d <= 20 for d in delays)


def test_the_key_is_never_written_to_the_workspace():
    cloud = Cloud(
        {"POST /v1/files": [(401, err("invalid_api_key", f"Incorrect API key provided: {CANARY[:8]}..."), None)]}
    )
    workspace = Workspace()
    with pytest.raises(JobError):
        launch_job(workspace, client_for(cloud), Profile("openai"), model="gpt-4o-mini", training=TRAIN)
    dump = "\n".join(sqlite3.connect(workspace.path).iterdump())
    assert CANARY not in dump and "sk-canary" not in dump
    assert CANARY not in workspace.path.read_bytes().decode("latin-1")


def test_metrics_frame_from_events():
    class Event:
        def __init__(self, type_, data):
            self.type, self.data = type_, data

    frame = metrics_frame(
        [
            Event("message", {}),
            Event("metrics", {"step": 2, "train_loss": 1.5}),
            Event("metrics", {"step": 1, "train_loss": 2.0, "valid_loss": 2.2, "train_mean_token_accuracy": 0.4}),
        ]
    )
    assert frame["step"].tolist() == [1, 2] and frame["train_loss"].tolist() == [2.0, 1.5]
    assert frame["valid_loss"].isna().tolist() == [False, True]


class Capturing(Cloud):
    """A scripted OpenAI that also keeps each request's JSON body (what the SDK really sent)."""

    def __init__(self, routes):
        super().__init__(routes)
        self.bodies: dict[str, list] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("content-type", "").startswith("application/json"):
            self.bodies.setdefault(f"{request.method} {request.url.path}", []).append(json.loads(request.content))
        return super().__call__(request)


def test_the_job_request_uses_method_and_metadata_not_the_deprecated_hyperparameters():
    import pandas as pd

    from studio import __version__

    cloud = Capturing(
        {
            "POST /v1/files": [(200, file_object("file-1"), None)],
            "POST /v1/fine_tuning/jobs": [(200, job_object(), None)],
        }
    )
    workspace = Workspace()
    frame = pd.DataFrame({"id": [1], "messages": [[{"role": "user", "content": "hi"}]]})
    dataset = workspace.import_dataset(frame, name="faq", source_name="faq.csv", format="csv")
    version = workspace.save_version(dataset.id, frame, name="clean v2")
    launch_job(
        workspace,
        client_for(cloud),
        Profile("openai"),
        model="gpt-4o-mini-2024-07-18",
        training=TRAIN,
        settings={"epochs": 3, "batch_size": "auto", "learning_rate_multiplier": 0.5, "seed": 7},
        suffix="faq",
        dataset_version_id=version.id,
        metadata={"team": "support"},
    )
    [body] = cloud.bodies["POST /v1/fine_tuning/jobs"]
    assert "hyperparameters" not in body
    assert body["method"] == {
        "type": "supervised",
        "supervised": {"hyperparameters": {"n_epochs": 3, "batch_size": "auto", "learning_rate_multiplier": 0.5}},
    }
    assert body["metadata"] == {
        "studio_version": __version__,
        "dataset": "faq",
        "dataset_version": "clean v2",
        "dataset_version_id": str(version.id),
        "team": "support",
    }
    assert (body["model"], body["training_file"], body["suffix"], body["seed"]) == (
        "gpt-4o-mini-2024-07-18",
        "file-1",
        "faq",
        7,
    )


def test_engine_options_go_to_engines_only_and_the_preview_is_the_request_sent():
    from studio.providers.jobs import job_metadata, job_request

    settings = {"epochs": 2, "lora_rank": 8, "warmup_ratio": 0.0, "packing": True, "seed": 3}
    sent = {}
    for kind in ("openai", "compatible"):
        cloud = Capturing(
            {
                "POST /v1/files": [(200, file_object("file-1"), None)],
                "POST /v1/fine_tuning/jobs": [(200, job_object(), None)],
            }
        )
        profile = Profile(kind, base_url="http://engine.example/v1" if kind == "compatible" else None)
        workspace = Workspace()
        launch_job(workspace, client_for(cloud), profile, model="m", training=TRAIN, settings=settings, suffix="s")
        [sent[kind]] = cloud.bodies["POST /v1/fine_tuning/jobs"]
        preview = job_request(
            profile,
            model="m",
            training_file="file-1",
            settings=settings,
            suffix="s",
            metadata=job_metadata(workspace, None),
        )
        assert preview == sent[kind]  # the Train page's preview is exactly what is sent
    hyper = {"n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": "auto"}
    assert sent["openai"]["method"]["supervised"]["hyperparameters"] == hyper  # OpenAI refuses unknown keys
    assert sent["compatible"]["method"]["supervised"]["hyperparameters"] == {
        **hyper,
        "lora_rank": 8,
        "warmup_ratio": 0.0,
        "packing": True,
    }


def test_bad_metadata_fails_before_any_upload():
    cloud = Capturing({})
    with pytest.raises(JobError, match="metadata holds 17 pairs; the limit is 16"):
        launch_job(
            Workspace(),
            client_for(cloud),
            Profile("openai"),
            model="gpt-4o-mini",
            training=TRAIN,
            metadata={f"k{i}": "v" for i in range(16)},
        )
    assert cloud.calls == []


def test_events_of_the_same_second_keep_the_order_the_api_lists_them_in():
    """The API lists events newest first; ids are random, so within one second only that order tells which came
    first ("New fine-tuned model created" before "The job has successfully completed")."""
    listed = [  # newest first, as OpenAI and the engine send them
        ("ftevent-a1", 20, "The job has successfully completed"),
        ("ftevent-z9", 20, "New fine-tuned model created: ft:m:x:1"),
        ("ftevent-m5", 20, "Checkpoint created at step 4"),
        ("ftevent-b2", 19, "Step 4/4: training loss=0.5"),
    ]
    body = {
        "object": "list",
        "has_more": False,
        "data": [
            {"id": i, "object": "fine_tuning.job.event", "created_at": t, "level": "info", "message": m}
            for i, t, m in listed
        ],
    }
    cloud = Cloud({"GET /v1/fine_tuning/jobs/ftjob-abc/events": [(200, body, None)]})
    got = [e.message for e in events(client_for(cloud), "ftjob-abc")]
    assert got == [m for _, _, m in reversed(listed)]


def test_a_failure_that_is_not_a_job_error_never_leaves_the_record_uploading():
    """A value the SDK cannot send (NaN is not JSON) failed after the upload with a ValueError, and the record
    stayed "uploading" forever; it is now not_started with the error."""
    cloud = Cloud({"POST /v1/files": [(200, file_object("file-1"), None)]})
    workspace = Workspace()
    nan = {"learning_rate_multiplier": float("nan")}
    with pytest.raises(ValueError, match="JSON"):
        launch_job(workspace, client_for(cloud), Profile("openai"), model="gpt-x", training=TRAIN, settings=nan)
    [record] = list_jobs(workspace)
    assert record.status == "not_started" and record.error.startswith("ValueError: ")
    assert record.training_file == "file-1"
