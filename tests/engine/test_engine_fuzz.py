"""Schemathesis fuzzes the engine's OpenAPI schema: whatever a client sends, the engine never answers 5xx.

The app is the real ``create_app`` (``run_jobs=False``: jobs are recorded, no worker trains) with the tiny random
Llama registered, driven in-process through its ASGI interface. A file and a job exist before the run, and a
share of the cases use their real ids (and the tiny model's name), so fuzzing reaches past the 404s into the
handlers: listing with odd ``after``/``limit`` values, job transitions, chat generation with odd messages.
Bounded: at most 25 examples per operation, chat answers capped at 4 tokens.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.engine_support import TINY, cli_app, write_chat_file

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("torch")
pytest.importorskip("peft")

pytest_plugins = ("tests.engine_fixtures",)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

MAX_EXAMPLES = 25
CHAT_MAX_TOKENS = 4
ROLES = ("user", "system", "assistant", "developer", "tool")


@pytest.fixture(scope="module")
def engine_app(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The engine app over a fresh home, with one uploaded file and one recorded (never started) job."""
    from fastapi.testclient import TestClient

    home = tmp_path_factory.mktemp("fuzz-engine")
    app = cli_app(home, models={TINY: str(tiny_model_dir)}, run_jobs=False)
    chat = write_chat_file(home.parent / "fuzz-train.jsonl", n=10)
    with TestClient(app) as client:
        uploaded = client.post(
            "/v1/files", files={"file": ("train.jsonl", chat.read_bytes())}, data={"purpose": "fine-tune"}
        )
        assert uploaded.status_code == 200, uploaded.text
        file_id = uploaded.json()["id"]
        job = client.post("/v1/fine_tuning/jobs", json={"model": TINY, "training_file": file_id})
        assert job.status_code == 200, job.text
        app.state.fuzz_ids = {"file_id": file_id, "job_id": job.json()["id"], "model_id": TINY}
    return app


@pytest.fixture(scope="module")
def engine_schema(engine_app):
    return schemathesis.openapi.from_asgi("/openapi.json", engine_app)


# Every operation of the schema, listed so a new route shows up here (test_every_operation_is_fuzzed).
OPERATIONS = [
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{model_id}"),
    ("DELETE", "/v1/models/{model_id}"),
    ("POST", "/v1/models/{model_id}/export"),
    ("POST", "/v1/files"),
    ("GET", "/v1/files"),
    ("GET", "/v1/files/{file_id}"),
    ("DELETE", "/v1/files/{file_id}"),
    ("GET", "/v1/files/{file_id}/content"),
    ("POST", "/v1/fine_tuning/jobs"),
    ("GET", "/v1/fine_tuning/jobs"),
    ("GET", "/v1/fine_tuning/jobs/{job_id}"),
    ("POST", "/v1/fine_tuning/jobs/{job_id}/cancel"),
    ("POST", "/v1/fine_tuning/jobs/{job_id}/pause"),
    ("POST", "/v1/fine_tuning/jobs/{job_id}/resume"),
    ("GET", "/v1/fine_tuning/jobs/{job_id}/events"),
    ("GET", "/v1/fine_tuning/jobs/{job_id}/checkpoints"),
    ("POST", "/v1/chat/completions"),
    ("GET", "/health"),
]


def test_every_operation_is_fuzzed(engine_schema):
    found = {(op.ok().method.upper(), op.ok().path) for op in engine_schema.get_all_operations()}
    assert found == set(OPERATIONS)


def _use_real_ids(case) -> bool:
    """Deterministically about half of the cases (by their content), so both 404 and found paths are fuzzed."""
    digest = hashlib.sha256(repr((case.path_parameters, case.query, case.body)).encode()).digest()
    return digest[0] % 2 == 0


def _steer(case, ids: dict[str, str]) -> None:
    real = _use_real_ids(case)
    if real and case.path_parameters:
        for name in case.path_parameters:
            if name in ids:
                case.path_parameters[name] = ids[name]
    if case.operation.path == "/v1/chat/completions" and isinstance(case.body, dict):
        if real:  # a known model and valid roles: the fuzzed content, stop and sampling values reach generation
            case.body["model"] = TINY
            if isinstance(case.body.get("messages"), list):
                case.body["messages"] = [
                    {**m, "role": ROLES[i % len(ROLES)]} if isinstance(m, dict) else m
                    for i, m in enumerate(case.body["messages"])
                ]
        # Fuzz the values, not the CPU: a 2-layer model generating 512 tokens per example is all cost, no cover.
        for name in ("max_tokens", "max_completion_tokens"):
            value = case.body.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > CHAT_MAX_TOKENS:
                case.body[name] = CHAT_MAX_TOKENS
        if not isinstance(case.body.get("max_tokens"), int) and "max_completion_tokens" not in case.body:
            case.body["max_tokens"] = CHAT_MAX_TOKENS
    if case.operation.path == "/v1/models/{model_id}/export" and isinstance(case.body, dict):
        # Fuzz the values, not the CPU: an adapter export of the base model is refused before any model loads.
        case.body["format"] = "adapter"
    if (
        case.operation.path == "/v1/fine_tuning/jobs"
        and case.method.upper() == "POST"
        and isinstance(case.body, dict)
        and real
    ):
        case.body["model"], case.body["training_file"] = TINY, ids["file_id"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method,path", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_request_makes_the_engine_fail(engine_app, engine_schema, method, path):
    operation = engine_schema[path][method]
    ids = engine_app.state.fuzz_ids

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case) -> None:
        _steer(case, ids)
        response = case.call_and_validate(checks=[not_a_server_error])
        if response.status_code >= 400:  # every refusal has OpenAI's shape, so the SDK raises its usual exception
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}, response.text

    fuzz()
