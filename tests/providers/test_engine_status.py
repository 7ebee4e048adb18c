"""The local engine's status line, in every case, in English and in Spanish (the sidebar and the Train page).

A real HTTP server on a loopback port plays the engine (or another program) in each case; a closed port is the
engine that is not running.
"""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from studio import __version__
from studio.errors import EngineUnavailableError, ForeignEngineError
from studio.providers.profiles import ensure_engine, probe_engine

Routes = dict[str, tuple[int, str]]  # path → (HTTP status, body)

# English words the status sentences use; none may be left in a Spanish one (values excluded).
ENGLISH = re.compile(
    r"\b(not|running|answered|answers|another|engine|folder|it|runs|this|app|is|its|longer|exists|serves|"
    r"program|there|stop|set|to|address|models?|with)\b"
)


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[Routes] = {}

    def do_GET(self) -> None:
        status, body = self.routes.get(self.path, (404, "<html><body>Not Found</body></html>"))
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if body.startswith("{") else "text/html")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator:
    """``serve(routes)`` → the ``…/v1`` URL of a loopback server answering ``routes``; stopped after the test."""
    servers = []

    def start(routes: Routes) -> str:
        handler = type("Handler", (_Handler,), {"routes": routes})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _health(version: str, home: Path | str) -> tuple[int, str]:
    return 200, json.dumps({"version": version, "home": str(home), "pid": 4242})


def _models(n: int) -> tuple[int, str]:
    return 200, json.dumps({"object": "list", "data": [{"id": f"m{i}", "object": "model"} for i in range(n)]})


def _closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1"


def _english_left(text: str, *values: object) -> list[str]:
    """English words of ``text`` once the values and the technical tokens (a command, a variable) are taken out."""
    for value in ("studio engine stop", "STUDIO_ENGINE_URL", *sorted(map(str, values), key=len, reverse=True)):
        text = text.replace(value, " ")
    return ENGLISH.findall(text)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The engine folder this app expects ($STUDIO_ENGINE_HOME), and no $STUDIO_ENGINE_URL."""
    folder = tmp_path / "engine"
    folder.mkdir()
    monkeypatch.setenv("STUDIO_ENGINE_HOME", str(folder))
    monkeypatch.delenv("STUDIO_ENGINE_URL", raising=False)
    return folder


def test_running_engine(serve, home):
    url = serve({"/health": _health(__version__, home), "/v1/models": _models(2)})
    status = probe_engine(url)
    assert status.reachable and status.foreign is None
    assert status.detail == f"{url}: 2 models (engine pid 4242, studio {__version__}, folder {home})"
    assert status.shown("es") == f"{url}: 2 modelos (motor pid 4242, studio {__version__}, carpeta {home})"


def test_nothing_answers(home):
    url = _closed_port()
    status = probe_engine(url)
    assert not status.reachable and status.foreign is None
    assert status.detail == f"{url}: not running (ConnectError)"
    assert status.shown("es") == f"{url}: no responde (ConnectError)"  # the exception's name stays a token


def test_the_engine_answers_with_an_http_error(serve, home):
    url = serve({"/health": _health(__version__, home), "/v1/models": (401, '{"error": {"message": "no"}}')})
    status = probe_engine(url)
    assert not status.reachable and status.foreign is None
    assert status.detail.startswith(f"{url}: answered HTTP 401 (engine pid 4242")
    spanish = status.shown("es")
    assert spanish.startswith(f"{url}: respondió HTTP 401 (motor pid 4242")
    assert _english_left(spanish, url, home, __version__, "HTTP") == []


@pytest.mark.parametrize(
    ("case", "english", "spanish"),
    [
        ("version", "it runs studio 0.0.1, this app is", "ejecuta studio 0.0.1 y esta aplicación es"),
        ("gone", "no longer exists", "ya no existe"),
        ("other", "it serves", "sirve"),
    ],
)
def test_a_foreign_engine_is_named_and_not_used(serve, home, tmp_path, case, english, spanish):
    other = tmp_path / "other-checkout" / "engine"
    other.mkdir(parents=True)
    health = {
        "version": _health("0.0.1", home),
        "gone": _health(__version__, tmp_path / "deleted"),
        "other": _health(__version__, other),
    }[case]
    url = serve({"/health": health, "/v1/models": _models(1)})
    status = probe_engine(url, accept_foreign=False)
    assert not status.reachable and status.foreign
    assert english in status.detail and "pid 4242" in status.detail and "`studio engine stop`" in status.detail
    said = status.shown("es")
    assert spanish in said and "`studio engine stop`" in said
    assert _english_left(said, url, home, other, tmp_path / "deleted", __version__, "0.0.1", "studio") == []
    with pytest.raises(ForeignEngineError) as raised:  # the Train page shows it in the page's language
        ensure_engine(url)
    assert raised.value.status.shown("es") == said and str(raised.value) == status.detail


@pytest.mark.parametrize("health", [None, (200, "<html>a web app</html>")], ids=["no-health", "html-health"])
def test_another_program_on_the_port(serve, home, health):
    # No /health, or one that is not JSON (which used to raise JSONDecodeError in the sidebar): no studio engine.
    routes = {"/v1/models": (200, "<html>a web app</html>")}
    url = serve(routes if health is None else {**routes, "/health": health})
    status = probe_engine(url)
    assert not status.reachable and status.foreign == "not a studio engine" and status.pid is None
    assert status.detail.startswith(f"{url}: another program answers there, not a studio engine")
    said = status.shown("es")
    assert said.startswith(f"{url}: ahí responde otro programa, no un motor de studio")
    assert _english_left(said, url) == []


def test_an_engine_on_another_machine_is_not_started_and_says_why_in_spanish(home):
    url = _closed_port().replace("127.0.0.1", "[::1]")  # not 127.0.0.1 or localhost: not started from here
    with pytest.raises(EngineUnavailableError) as raised:
        ensure_engine(url)
    assert str(raised.value) == f"the local engine at {url} is not running, and only a loopback engine can be started"
    said = raised.value.shown("es")
    assert said.startswith(f"el motor local de {url} no responde") and _english_left(said, url) == []


def test_the_sidebar_says_the_engine_status_in_spanish(serve, home, monkeypatch):
    from tests.pages.apptest import open_page

    url = serve({"/health": _health(__version__, home), "/v1/models": (500, '{"error": {"message": "boom"}}')})
    monkeypatch.setenv("STUDIO_ENGINE_URL", url)
    at = open_page("home", lang="es")
    assert not at.exception
    [line] = [c.value for c in at.sidebar.caption if "Motor local" in c.value]
    assert f"{url}: respondió HTTP 500 (motor pid 4242" in line and "parado" in line
