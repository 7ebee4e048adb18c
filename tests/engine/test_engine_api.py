"""Engine API behaviour that needs no model: bearer keys, the upload limit, a light import."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import openai
import pytest

from studio.engine.api.errors import http_status
from studio.engine.app import create_app
from studio.engine.errors import TrainingDataError
from studio.engine.service import Engine
from studio.errors import LoadError
from tests.engine_support import EngineProcess, ThreadServer, cli_app, write_chat_file


def _error(exc: openai.APIStatusError) -> dict:
    error = exc.response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_a_configured_bearer_key_is_required(tmp_path):
    with ThreadServer(cli_app(tmp_path / "engine", api_key="sk-secret", run_jobs=False)) as server:
        with pytest.raises(openai.AuthenticationError) as caught:
            server.client(api_key="sk-wrong").models.list()
        assert _error(caught.value)["code"] == "invalid_api_key"
        assert _error(caught.value)["message"] == "Incorrect API key provided."
        keyless = httpx.get(f"{server.base_url}/v1/files")  # no Authorization header: told so, as OpenAI does
        assert keyless.status_code == 401
        assert keyless.json()["error"]["message"].startswith("You didn't provide an API key. You need to provide")
        assert keyless.json()["error"]["code"] is None
        models = {m.id for m in server.client(api_key="sk-secret").models.list()}
        assert "smollm2-135m-instruct" in models
        health = httpx.get(f"{server.base_url}/health").json()  # open: it says who answers, nothing secret
        assert (health["status"], health["loaded_models"], health["home"]) == (
            "ok",
            [],
            str((tmp_path / "engine").resolve()),
        )


def test_without_a_key_any_key_is_accepted(tmp_path):
    with ThreadServer(cli_app(tmp_path / "engine", run_jobs=False)) as server:
        assert server.client(api_key="anything").files.list().data == []


def test_uploads_over_the_limit_are_413_and_leave_nothing_behind(tmp_path):
    home = tmp_path / "engine"
    big = write_chat_file(tmp_path / "big.jsonl", n=40)
    with ThreadServer(cli_app(home, max_upload_bytes=1000, run_jobs=False)) as server:
        client = server.client()
        with pytest.raises(openai.APIStatusError) as caught:
            client.files.create(file=big.open("rb"), purpose="fine-tune")
        assert caught.value.status_code == 413 and _error(caught.value)["code"] == "file_too_large"
        assert client.files.list().data == []
    assert list((home / "files").iterdir()) == []


def test_unknown_routes_and_bad_json_use_openai_error_shape(tmp_path):
    with ThreadServer(cli_app(tmp_path / "engine", run_jobs=False)) as server:
        missing = httpx.get(f"{server.base_url}/v1/nothing-here")
        assert missing.status_code == 404 and set(missing.json()["error"]) == {
            "message",
            "type",
            "param",
            "code",
        }
        bad = httpx.post(
            f"{server.base_url}/v1/fine_tuning/jobs",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
        no_model = httpx.post(f"{server.base_url}/v1/fine_tuning/jobs", json={"training_file": "file-x"})
        assert no_model.status_code == 400 and no_model.json()["error"]["param"] == "model"


def test_importing_the_engine_server_loads_no_ml_library():
    code = (
        "import sys, studio.engine.app, studio.cli.engine;"
        "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_engine_command_is_registered():
    done = subprocess.run(
        [sys.executable, "-m", "studio.cli", "engine", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "--api-key" in done.stdout and "pull" in done.stdout


# -- uploads are validated as the Cost page validates them, injected by ``studio engine`` ----------------------------


def _unknown_role_file(path):
    """Twelve good examples and one whose first message has role 'wizard': it parses and has an assistant turn
    (the engine's own check passes it), but the Cost page's validation reports it as an error."""
    write_chat_file(path)
    with open(path, "a") as handle:
        handle.write(
            json.dumps({"messages": [{"role": "wizard", "content": "hi"}, {"role": "assistant", "content": "hello"}]})
            + "\n"
        )
    return path


def test_studio_engine_refuses_an_upload_the_cost_page_refuses(tmp_path):
    bad = _unknown_role_file(tmp_path / "wizard.jsonl")
    engine = EngineProcess(tmp_path / "engine")  # `studio engine`, as users start it
    try:
        client = engine.client()
        with pytest.raises(openai.BadRequestError) as caught:
            client.files.create(file=bad.open("rb"), purpose="fine-tune")
        error = _error(caught.value)
        assert (error["type"], error["param"], error["code"]) == (
            "invalid_request_error",
            "file",
            "invalid_file_format",
        )
        assert error["message"].startswith("wizard.jsonl is not a valid fine-tuning file: line 13: ")
        assert "'wizard'" in error["message"]
        assert client.files.list().data == []
        good = client.files.create(file=write_chat_file(tmp_path / "good.jsonl").open("rb"), purpose="fine-tune")
        assert good.status == "processed"
    finally:
        engine.stop()


def test_the_injected_validator_is_what_refuses(tmp_path):
    """Without the injected validator the engine checks only the JSONL shape, so the same file is accepted."""
    bad = _unknown_role_file(tmp_path / "wizard.jsonl")
    with ThreadServer(create_app(tmp_path / "plain", run_jobs=False)) as server:
        assert server.client().files.create(file=bad.open("rb"), purpose="fine-tune").bytes == bad.stat().st_size
    with ThreadServer(cli_app(tmp_path / "validated", run_jobs=False)) as server:
        with pytest.raises(openai.BadRequestError) as caught:
            server.client().files.create(file=bad.open("rb"), purpose="fine-tune")
        assert _error(caught.value)["code"] == "invalid_file_format"


@pytest.mark.parametrize(
    "validator, message",
    [
        (
            lambda path, name: [f"line {n}: bad" for n in range(1, 6)],
            "up.jsonl is not a valid fine-tuning file: line 1: bad; line 2: bad; line 3: bad (and 2 more)",
        ),
        (lambda path, name: (_ for _ in ()).throw(LoadError("not JSONL", path=path)), "up.jsonl could not be read: "),
    ],
    ids=["problems", "unreadable"],
)
def test_validator_problems_become_a_400_naming_the_file(tmp_path, validator, message):
    engine = Engine(tmp_path / "engine", max_upload_bytes=1000, validate_upload=validator)
    upload = write_chat_file(tmp_path / "upload", n=1)
    with pytest.raises(TrainingDataError) as caught:
        engine.add_upload(upload, filename="up.jsonl", purpose="fine-tune")
    assert str(caught.value).startswith(message)
    assert (caught.value.param, caught.value.code) == ("file", "invalid_file_format")
    assert http_status(caught.value) == (400, "invalid_request_error")
    assert engine.store.list_files().items == [] and upload.exists()  # nothing stored, the upload left as it was


def test_an_empty_upload_is_refused_before_any_validator_runs(tmp_path):
    def validator(path, name):
        raise AssertionError("not called for an empty file")

    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    engine = Engine(tmp_path / "engine", max_upload_bytes=1000, validate_upload=validator)
    with pytest.raises(TrainingDataError, match=r"empty\.jsonl is empty"):
        engine.add_upload(empty, filename="empty.jsonl", purpose="fine-tune")
