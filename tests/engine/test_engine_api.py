"""Engine API behaviour that needs no model: bearer keys, the upload limit, a light import."""

from __future__ import annotations

import subprocess
import sys

import httpx
import openai
import pytest

from studio.engine.app import create_app
from tests.engine_support import ThreadServer, write_chat_file


def _error(exc: openai.APIStatusError) -> dict:
    error = exc.response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_a_configured_bearer_key_is_required(tmp_path):
    with ThreadServer(create_app(tmp_path / "engine", api_key="sk-secret", run_jobs=False)) as server:
        with pytest.raises(openai.AuthenticationError) as caught:
            server.client(api_key="sk-wrong").models.list()
        assert _error(caught.value)["code"] == "invalid_api_key"
        assert httpx.get(f"{server.base_url}/v1/files").status_code == 401
        models = {m.id for m in server.client(api_key="sk-secret").models.list()}
        assert "smollm2-135m-instruct" in models
        assert httpx.get(f"{server.base_url}/health").json() == {"status": "ok", "loaded_models": []}


def test_without_a_key_any_key_is_accepted(tmp_path):
    with ThreadServer(create_app(tmp_path / "engine", run_jobs=False)) as server:
        assert server.client(api_key="anything").files.list().data == []


def test_uploads_over_the_limit_are_413_and_leave_nothing_behind(tmp_path):
    home = tmp_path / "engine"
    big = write_chat_file(tmp_path / "big.jsonl", n=40)
    with ThreadServer(create_app(home, max_upload_bytes=1000, run_jobs=False)) as server:
        client = server.client()
        with pytest.raises(openai.APIStatusError) as caught:
            client.files.create(file=big.open("rb"), purpose="fine-tune")
        assert caught.value.status_code == 413 and _error(caught.value)["code"] == "file_too_large"
        assert client.files.list().data == []
    assert list((home / "files").iterdir()) == []


def test_unknown_routes_and_bad_json_use_openai_error_shape(tmp_path):
    with ThreadServer(create_app(tmp_path / "engine", run_jobs=False)) as server:
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
