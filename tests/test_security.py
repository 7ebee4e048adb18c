"""Security, proven end to end: a canary key never lands anywhere, the engine guards its door and its disk, and
CSV exports never hand a spreadsheet a formula.

The canary (``sk-canary-<random hex>``) goes through every flow that takes a key — OpenAI jobs against an
HTTP-mocked cloud (which echoes the key back in its errors), Playground comparisons against a server that
requires it, the local engine started with ``--api-key`` (upload, a tiny job, chat) — and then is searched for,
whole and as any 10-character piece of its secret part, in every byte those flows leave behind.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

from studio.data.writers import EXPORT_FORMATS, export_bytes
from studio.errors import JobError
from studio.playground.compare import (
    Case,
    Params,
    RetryPolicy,
    StreamStats,
    Target,
    export_results,
    open_run,
    run_compare,
    stream_answer,
)
from studio.providers.jobs import launch_job, refresh_job, with_retries
from studio.providers.profiles import Profile, make_client
from studio.storage.workspace import Workspace, import_file
from studio.testing.server import Behaviour, TestServer
from tests.engine_support import TINY, EngineProcess, ThreadServer, cli_app, write_chat_file
from tests.waiting import wait_until

pytest_plugins = ("tests.engine_fixtures",)

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, timeout=30)
OPENAI_ERROR_KEYS = {"message", "type", "param", "code"}


def new_canary() -> str:
    return f"sk-canary-{secrets.token_hex(16)}"


def leaks(canary: str, blob: bytes | str) -> list[str]:
    """The canary, or any 10-character piece of its secret part, found in ``blob`` (UTF-8 and UTF-16)."""
    secret = canary.removeprefix("sk-canary-")
    needles = [canary] + [secret[i : i + 10] for i in range(len(secret) - 9)]
    data = blob.encode("utf-8", "surrogatepass") if isinstance(blob, str) else blob
    found = []
    for needle in needles:
        for encoded in (needle.encode(), needle.encode("utf-16-le")):
            if encoded in data:
                found.append(needle)
    return found


def files_leaking(canary: str, *folders: Path) -> dict[str, list[str]]:
    """Every file under ``folders`` (databases, -wal/-shm, uploads, logs, adapters) that holds the canary."""
    out = {}
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            found = leaks(canary, path.read_bytes())
            if found:
                out[str(path)] = found
    return out


def _dataset(workspace: Workspace, tmp_path: Path):
    info, _ = import_file(workspace, write_chat_file(tmp_path / "chat.jsonl", n=12))
    return info, workspace.load_version(info.head_version_id)


def _all_exports(frame) -> bytes:
    return b"".join(export_bytes(frame, to=fmt, system_prompt="Be brief.") for fmt in EXPORT_FORMATS)


# ---------------------------------------------------------------------------------------------- canary: OpenAI


class Cloud:
    """A scripted OpenAI cloud (real JSON shapes); it echoes the key back in its errors, as real ones do."""

    def __init__(self, canary: str) -> None:
        self.canary = canary
        self.seen_keys: list[str] = []
        masked = f"{canary[:8]}{'*' * (len(canary) - 12)}{canary[-4:]}"
        self.routes = {
            "POST /v1/files": [
                (
                    200,
                    {
                        "id": "file-abc123",
                        "object": "file",
                        "bytes": 10,
                        "created_at": 1,
                        "filename": "train.jsonl",
                        "purpose": "fine-tune",
                        "status": "processed",
                    },
                )
            ]
            * 4,
            "POST /v1/fine_tuning/jobs": [
                (
                    401,
                    _error(
                        f"Incorrect API key provided: {masked}. You can find your API key at "
                        "https://platform.openai.com/account/api-keys.",
                        "invalid_api_key",
                    ),
                ),
                (400, _error(f"Invalid 'api_key': '{canary}' is not allowed for organization org-x.", None)),
                (403, _error(f"Key {canary} lacks the scope api.fine_tuning.jobs.write", "insufficient_scope")),
                (200, _job("validating_files")),
            ],
            "GET /v1/fine_tuning/jobs/ftjob-abc": [(200, _job("succeeded"))],
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen_keys.append(request.headers.get("authorization", ""))
        status, body = self.routes[f"{request.method} {request.url.path}"].pop(0)
        return httpx.Response(status, json=body)


def _error(message: str, code: str | None) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}


def _job(status: str) -> dict:
    return {
        "id": "ftjob-abc",
        "object": "fine_tuning.job",
        "created_at": 1,
        "model": "gpt-4o-mini-2024-07-18",
        "fine_tuned_model": "ft:gpt-4o-mini:org::abc" if status == "succeeded" else None,
        "organization_id": "org",
        "result_files": [],
        "seed": 1,
        "status": status,
        "trained_tokens": None,
        "training_file": "file-abc123",
        "validation_file": None,
        "hyperparameters": {"n_epochs": 1},
        "error": None,
        "finished_at": None,
    }


def test_canary_openai_jobs_leave_no_trace(tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    canary = new_canary()
    workspace = Workspace()
    _, frame = _dataset(workspace, tmp_path)
    cloud = Cloud(canary)
    client = make_client(
        Profile("openai"), api_key=canary, max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(cloud))
    )
    training = export_bytes(frame, to="openai-chat")
    errors = []
    for expected in (r"API key was rejected \(401\)", r"Request rejected \(400\)", r"Permission denied \(403\)"):
        with pytest.raises(JobError, match=expected) as caught:
            launch_job(workspace, client, Profile("openai"), model="gpt-4o-mini-2024-07-18", training=training)
        errors.append(str(caught.value))
    record = launch_job(
        workspace, client, Profile("openai"), model="gpt-4o-mini-2024-07-18", training=training, settings={"epochs": 1}
    )
    record = refresh_job(workspace, client, record)
    assert record.status == "succeeded"
    assert set(cloud.seen_keys) == {f"Bearer {canary}"}  # the key did reach the provider, and only there

    assert [leaks(canary, e) for e in errors] == [[], [], []]  # the echoed key is scrubbed from every message
    assert "lacks the scope" in errors[2]  # ... and the rest of the provider's explanation is kept
    assert files_leaking(canary, workspace.path.parent) == {}
    assert leaks(canary, _all_exports(frame)) == []
    captured = capsys.readouterr()
    assert leaks(canary, captured.out + captured.err + caplog.text) == []
    assert leaks(canary, repr([r.__dict__ for r in caplog.records])) == []


# ---------------------------------------------------------------------------------------------- canary: compare


def test_canary_compare_runs_leave_no_trace(tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    canary = new_canary()
    workspace = Workspace()
    with TestServer(Behaviour(api_key=canary, script=(429, 503))) as server:
        targets = [
            Target("base", Profile("compatible", base_url=server.url), "base-model"),
            Target("tuned", Profile("compatible", base_url=server.url), "ft:base-model:studio:demo:abc123"),
        ]
        cases = [
            Case(i, ({"role": "user", "content": f"question {i}"},), f"base-model: question {i}") for i in range(3)
        ]
        keys = {"base": canary, "tuned": canary}
        run = open_run(workspace, targets, Params(), cases, source="canary.jsonl")
        results = run_compare(workspace, run, targets, cases, Params(), retry=FAST, api_keys=keys)
        assert results["error"].isna().all() and len(results) == 6
        stats = StreamStats()
        assert (
            "".join(
                stream_answer(targets[0], [{"role": "user", "content": "ANSWER:ok"}], Params(), stats, api_key=canary)
            )
            == "ok"
        )
        wrong = run_compare(
            workspace,
            open_run(workspace, targets, Params(seed=2), cases),
            targets,
            cases,
            Params(seed=2),
            retry=FAST,
            api_keys={"base": canary[::-1], "tuned": "sk-other"},
        )
        assert wrong["error"].str.startswith("HTTP 401").all()  # a wrong key: rows say so, without the key

    assert files_leaking(canary, workspace.path.parent) == {}
    for frame in (results, wrong):
        assert leaks(canary, export_results(frame, "csv") + export_results(frame, "jsonl")) == []
    captured = capsys.readouterr()
    assert leaks(canary, captured.out + captured.err + caplog.text) == []


# ---------------------------------------------------------------------------------------------- canary: engine


@pytest.mark.timeout(300)
def test_canary_local_engine_upload_job_and_chat_leave_no_trace(tmp_path, tiny_model_dir, caplog, capsys):
    pytest.importorskip("peft")
    caplog.set_level(logging.DEBUG)
    canary = new_canary()
    engine = EngineProcess(tmp_path / "engine", models={TINY: tiny_model_dir}, api_key=canary, threads=1)
    try:
        workspace = Workspace()
        info, frame = _dataset(workspace, tmp_path)
        profile = Profile("local", base_url=f"{engine.base_url}/v1")
        client = make_client(profile, api_key=canary, max_retries=0)
        record = launch_job(
            workspace,
            client,
            profile,
            model=TINY,
            training=export_bytes(frame, to="openai-chat"),
            settings={"epochs": 1, "batch_size": 12},
            suffix="canary",
            dataset_version_id=info.id,
        )
        record = wait_until(
            lambda: (job := refresh_job(workspace, client, record)).finished and job,
            timeout=240,
            interval=0.5,
            message="the local engine's job to finish",
        )
        assert record.status == "succeeded", record.error
        with pytest.raises(JobError, match=r"API key was rejected \(401\)"):  # the engine really checks it
            with_retries(lambda: make_client(profile, api_key=canary + "x", max_retries=0).models.list())

        targets = [Target("base", profile, TINY), Target("tuned", profile, record.fine_tuned_model)]
        cases = [Case(0, ({"role": "user", "content": "Tell me about tea."},), "tea")]
        params = Params(max_tokens=4, seed=1)
        run = open_run(workspace, targets, params, cases, source="canary")
        results = run_compare(
            workspace, run, targets, cases, params, retry=FAST, api_keys={"base": canary, "tuned": canary}
        )
        assert results["error"].isna().all(), results["error"].tolist()
        streamed = "".join(
            stream_answer(targets[1], [{"role": "user", "content": "hi"}], params, StreamStats(), api_key=canary)
        )
        assert isinstance(streamed, str)
        from studio.editing.editor import DatasetEditor
        from studio.editing.ops import FillSystemPrompt

        editor = DatasetEditor(workspace, info.id)
        editor.apply(FillSystemPrompt(text="Answer like a pirate."))
        recipe = editor.recipe().to_json()
    finally:
        engine.stop()

    assert "Answer like a pirate." in recipe and leaks(canary, recipe) == []
    assert (engine.home / "store.db").exists() and (engine.home / "server.log").stat().st_size > 0
    assert any((engine.home / "jobs").rglob("*.safetensors"))  # the grep below did read the adapters
    assert files_leaking(canary, engine.home, workspace.path.parent) == {}
    assert leaks(canary, _all_exports(editor.frame)) == []
    assert leaks(canary, export_results(results, "csv") + export_results(results, "jsonl")) == []
    captured = capsys.readouterr()
    assert leaks(canary, captured.out + captured.err + caplog.text) == []


# ---------------------------------------------------------------------------------------------- engine: the door


def test_engine_binds_loopback_by_default(tmp_path, monkeypatch):
    from studio import cli
    from studio.engine import app as server

    served = {}
    monkeypatch.setattr(server, "serve", lambda app, *, host, port: served.update(host=host, port=port))
    monkeypatch.delenv("STUDIO_ENGINE_API_KEY", raising=False)
    assert cli.main(["engine", "--home", str(tmp_path / "engine")]) == 0
    assert served == {"host": "127.0.0.1", "port": 8765}
    done = subprocess.run(
        [sys.executable, "-m", "studio.cli", "engine", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert "default 127.0.0.1" in " ".join(done.stdout.split())


def test_a_public_bind_without_a_key_is_warned_about(tmp_path, monkeypatch, capsys):
    from studio import cli
    from studio.engine import app as server

    monkeypatch.setattr(server, "serve", lambda app, *, host, port: None)
    monkeypatch.delenv("STUDIO_ENGINE_API_KEY", raising=False)
    cli.main(["engine", "--home", str(tmp_path / "engine"), "--host", "0.0.0.0"])
    assert "without --api-key" in capsys.readouterr().err
    cli.main(["engine", "--home", str(tmp_path / "engine"), "--host", "0.0.0.0", "--api-key", new_canary()])
    assert "without --api-key" not in capsys.readouterr().err


@pytest.fixture
def keyed_engine(tmp_path):
    canary = new_canary()
    home = tmp_path / "engine"
    with ThreadServer(cli_app(home, api_key=canary, run_jobs=False, max_upload_bytes=4096)) as server:
        server.canary, server.home = canary, home
        yield server


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer sk-wrong",
        "Basic {key}",
        "{key}",
        "Bearer {key}x",
        "Bearer x{key}",
        "Bearer {key_upper}",
    ],
)
@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/v1/models"),
        ("GET", "/v1/files"),
        ("POST", "/v1/files"),
        ("GET", "/v1/fine_tuning/jobs"),
        ("POST", "/v1/fine_tuning/jobs"),
        ("POST", "/v1/chat/completions"),
        ("DELETE", "/v1/models/ft:x"),
        ("GET", "/v1/files/file-0123456789abcdef01234567/content"),
    ],
)
def test_every_route_needs_the_key(keyed_engine, authorization, method, path):
    headers = {}
    if authorization is not None:
        headers["authorization"] = authorization.format(key=keyed_engine.canary, key_upper=keyed_engine.canary.upper())
    options = (
        {"files": {"file": ("t.jsonl", b"{}\n")}, "data": {"purpose": "fine-tune"}}
        if (method == "POST" and path == "/v1/files")
        else {"json": {"model": TINY, "messages": [{"role": "user"}]}}
    )
    response = httpx.request(
        method, keyed_engine.base_url + path, headers=headers, timeout=10, **(options if method == "POST" else {})
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == OPENAI_ERROR_KEYS and error["type"] == "invalid_request_error"
    if authorization:  # a key that is not the engine's
        assert error["code"] == "invalid_api_key" and error["message"] == "Incorrect API key provided."
    else:  # no key at all: said so, as OpenAI does (its code is null)
        assert error["code"] is None and error["message"].startswith("You didn't provide an API key.")
    assert leaks(keyed_engine.canary, response.content) == []
    assert list((keyed_engine.home / "files").iterdir()) == []  # nothing was stored before the key was checked


def test_the_sdk_raises_authentication_error_and_health_stays_open(keyed_engine):
    for key in ("sk-wrong", keyed_engine.canary[:-1]):
        with pytest.raises(openai.AuthenticationError) as caught:
            keyed_engine.client(api_key=key).files.list()
        assert caught.value.status_code == 401 and set(caught.value.body) >= {"message", "code"}
    assert keyed_engine.client(api_key=keyed_engine.canary).files.list().data == []
    assert httpx.get(f"{keyed_engine.base_url}/health").status_code == 200


def test_a_declared_oversize_upload_is_refused_before_it_is_read(keyed_engine):
    """A client announcing 1 TB gets 413 at once: the engine does not wait for (or buffer) the body."""
    import socket

    head = (
        f"POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {keyed_engine.canary}\r\n"
        "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 1000000000000\r\n\r\n--x\r\n"
    )
    with socket.create_connection(("127.0.0.1", keyed_engine.port), timeout=10) as sock:
        sock.sendall(head.encode())
        reply = b""
        while b'"file_too_large"' not in reply and (chunk := sock.recv(65536)):
            reply += chunk
        reply = reply.decode("latin-1")
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert '"file_too_large"' in reply
    assert list((keyed_engine.home / "files").iterdir()) == []


# ---------------------------------------------------------------------------------------------- engine: the disk


HOSTILE_NAMES = [
    "../../etc/passwd",
    "../../../../../../tmp/escape.jsonl",
    "..\\..\\escape.jsonl",
    "/etc/passwd",
    "/tmp/escape.jsonl",
    "C:\\Windows\\escape.jsonl",
    "%2e%2e%2f%2e%2e%2fescape.jsonl",
    "..%2F..%2Fescape.jsonl",
    "a/../../escape.jsonl",
    "..",
    ".",
    "a/..",
    "escape.jsonl\x00.png",
    "store.db",
    "../store.db",
]


def _tree(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


def test_hostile_upload_names_are_reduced_to_a_name_and_stored_under_an_opaque_id(tmp_path):
    home = tmp_path / "sandbox" / "engine"
    chat = write_chat_file(tmp_path / "ok.jsonl", n=10).read_bytes()
    outside_before = _tree(tmp_path) - _tree(home) if home.exists() else _tree(tmp_path)
    with ThreadServer(cli_app(home, run_jobs=False)) as server:
        client = server.client()
        ids = []
        for name in HOSTILE_NAMES:
            uploaded = client.files.create(file=(name, chat), purpose="fine-tune")
            ids.append(uploaded.id)
            assert "/" not in uploaded.filename and "\\" not in uploaded.filename, name
            assert uploaded.filename not in ("", ".", ".."), name
            assert (home / "files" / uploaded.id).read_bytes() == chat
            assert client.files.content(uploaded.id).content == chat
        with pytest.raises(openai.BadRequestError, match="Missing file upload"):  # multipart reads it as a field
            client.files.create(file=("", chat), purpose="fine-tune")
        assert httpx.get(f"{server.base_url}/health").status_code == 200
        store_db = (home / "store.db").read_bytes()
    assert len(set(ids)) == len(ids) and all(_is_opaque(i, "file") for i in ids)
    assert {p.name for p in (home / "files").iterdir()} == set(ids)  # nothing else written under files/
    assert store_db[:16] == b"SQLite format 3\x00"  # the upload named store.db did not replace the store
    outside_after = {p for p in _tree(tmp_path) if not p.is_relative_to(home)}
    assert outside_after == outside_before | {home.parent}
    assert not Path("/tmp/escape.jsonl").exists()


def _is_opaque(value: str, prefix: str) -> bool:
    head, _, tail = value.partition("-")
    return head == prefix and len(tail) == 24 and all(c in "0123456789abcdef" for c in tail)


HOSTILE_IDS = [
    "../store.db",
    "..%2Fstore.db",
    "..%252Fstore.db",
    "%2e%2e%2fstore.db",
    "file-..%2F..%2Fstore.db",
    "file-../../store.db",
    "..%5Cstore.db",
    "%2Fetc%2Fpasswd",
    "file-%00",
    "file-0123456789abcdef0123456%2F",
    "....%2F%2Fstore.db",
    "file-" + "a" * 65,
    "file-0123456789ABCDEF0123456789",
    "%2e%2e",
]


@pytest.mark.parametrize("file_id", HOSTILE_IDS)
def test_hostile_file_ids_are_404_and_read_nothing(tmp_path, file_id):
    home = tmp_path / "engine"
    (tmp_path / "secret.txt").write_text("TOP-SECRET")
    with ThreadServer(cli_app(home, run_jobs=False)) as server:
        for suffix, method in (("", "GET"), ("/content", "GET"), ("", "DELETE")):
            url = f"{server.base_url}/v1/files/{file_id}{suffix}"
            response = httpx.request(method, url, timeout=10, follow_redirects=True)
            assert response.status_code in (404, 405), (url, response.status_code)
            assert set(response.json()["error"]) == OPENAI_ERROR_KEYS
            assert b"SQLite" not in response.content and b"TOP-SECRET" not in response.content
        for route in ("fine_tuning/jobs/{}", "fine_tuning/jobs/{}/events", "fine_tuning/jobs/{}/checkpoints"):
            response = httpx.get(f"{server.base_url}/v1/{route.format(file_id)}", timeout=10, follow_redirects=True)
            assert response.status_code == 404 and set(response.json()["error"]) == OPENAI_ERROR_KEYS
        assert httpx.delete(f"{server.base_url}/v1/models/{file_id}", timeout=10).status_code in (400, 404)
    assert (home / "store.db").exists() and (tmp_path / "secret.txt").read_text() == "TOP-SECRET"


def test_job_ids_are_opaque_and_unrelated_to_their_inputs(tmp_path):
    pytest.importorskip("peft")  # creating a job checks that training could run
    with ThreadServer(cli_app(tmp_path / "engine", run_jobs=False)) as server:
        client = server.client()
        file_id = client.files.create(
            file=("../x.jsonl", write_chat_file(tmp_path / "t.jsonl").read_bytes()), purpose="fine-tune"
        ).id
        jobs = [
            client.fine_tuning.jobs.create(model="smollm2-135m-instruct", training_file=file_id, suffix="same")
            for _ in range(3)
        ]
    assert len({j.id for j in jobs}) == 3 and all(_is_opaque(j.id, "ftjob") for j in jobs)


# ---------------------------------------------------------------------------------------------- CSV formulas


FORMULAS = [
    ('=HYPERLINK("http://evil.example","click")', "equals"),
    ("+1+cmd|' /C calc'!A0", "plus"),
    ("-2+3+cmd|' /C calc'!A0", "minus"),
    ("@SUM(1+1)*cmd|' /C calc'!A0", "at"),
    ("\t=1+1", "tab"),
    ("\r=1+1", "carriage return"),
]


def _csv_cells(data: bytes) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(data.decode("utf-8"), newline="")) for cell in row]


@pytest.mark.parametrize("payload,name", FORMULAS, ids=[n for _, n in FORMULAS])
def test_formula_cells_are_neutralised_in_every_csv_the_app_exports(tmp_path, payload, name):
    """The Dataset page's exporter (import → split → export) and the Playground's compare export."""
    from studio.playground.metrics import score_rows
    from studio.quality.splits import split_frame

    rows = [
        {
            "messages": [
                {"role": "system", "content": payload},
                {"role": "user", "content": payload},
                {"role": "assistant", "content": payload},
            ],
            "note": payload,
            "id2": f"{payload}{i}",
        }
        for i in range(4)
    ]
    source = tmp_path / "formulas.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    workspace = Workspace()
    info, _ = import_file(workspace, source)
    frame = workspace.load_version(info.head_version_id)
    parts = split_frame(frame, ratios={"train": 0.5, "test": 0.5}, seed=1, keep_duplicates_together=False)
    dataset_cells = [c for part in parts.values() for c in _csv_cells(export_bytes(part, to="csv"))]

    with TestServer() as server:
        targets = [
            Target("base", Profile("local", base_url=server.url), "base-model"),
            Target(payload, Profile("local", base_url=server.url), "ft:base-model:studio:demo:abc123"),
        ]
        cases = [Case(i, ({"role": "user", "content": f"ANSWER:{payload}"},), payload) for i in range(2)]
        run = open_run(workspace, targets, Params(system_prompt=payload), cases, source=payload)
        results = run_compare(workspace, run, targets, cases, Params(system_prompt=payload), retry=FAST)
    assert (results["answer"] == payload.lstrip()).all()  # the test server strips the answer's leading space
    compare_cells = _csv_cells(export_results(score_rows(results, substring=payload), "csv"))

    for cells in (dataset_cells, compare_cells):
        assert sum(payload in c for c in cells) >= 4  # the payload is there (quoted), not dropped
        dangerous = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
        assert dangerous == [], dangerous
