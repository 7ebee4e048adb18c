"""The engine's lifecycle: an engine the app starts stops with it; a foreign engine is reported, not used;
`studio engine stop` stops the engine on the port and says which one it was."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from studio import __version__
from studio.providers.profiles import probe_engine
from tests.engine_support import EngineProcess, free_port
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_stopping_studio_app_stops_the_engine_it_started(tmp_path):
    engine_port, app_port = free_port(), free_port()
    env = {
        **os.environ,
        "STUDIO_ENGINE_URL": f"http://127.0.0.1:{engine_port}/v1",
        "STUDIO_ENGINE_PRELOAD": "",
        "STUDIO_ENGINE_HOME": str(tmp_path / "engine"),
        "PYTHONPATH": str(ROOT),
    }
    app = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "studio.cli",
            "--workspace",
            str(tmp_path / "ws" / "studio.db"),
            "app",
            "--headless",
            "--port",
            str(app_port),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: _listening(engine_port) and _listening(app_port),
            timeout=120,
            message="the app and the engine it starts listening",
        )
        health = httpx.get(f"http://127.0.0.1:{engine_port}/health", timeout=5).json()
        assert health["version"] == __version__ and health["home"] == str((tmp_path / "engine").resolve())
        app.send_signal(signal.SIGTERM)
        app.wait(timeout=60)
        wait_until(lambda: not _listening(engine_port), timeout=30, message="the engine port closed")
        assert not _listening(app_port)
    finally:
        if app.poll() is None:
            os.killpg(app.pid, signal.SIGKILL)


@pytest.fixture
def other_engine(tmp_path):
    """An engine another checkout left running (its own folder)."""
    engine = EngineProcess(tmp_path / "other-checkout" / "engine")
    yield engine
    engine.stop()


def test_an_engine_of_another_folder_is_reported_not_used_and_can_be_stopped(other_engine, monkeypatch, tmp_path):
    url = f"{other_engine.base_url}/v1"
    monkeypatch.setenv("STUDIO_ENGINE_HOME", str(tmp_path / "this-checkout" / "engine"))
    found = probe_engine(url, accept_foreign=False)
    assert not found.reachable and found.foreign
    assert str((tmp_path / "other-checkout" / "engine").resolve()) in found.detail
    assert f"pid {found.pid}" in found.detail and "studio engine stop" in found.detail
    assert probe_engine(url, accept_foreign=True).reachable  # told to use it ($STUDIO_ENGINE_URL): it is used
    done = subprocess.run(
        [sys.executable, "-m", "studio.cli", "engine", "stop", "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0 and f"pid {found.pid}" in done.stdout
    wait_until(lambda: not probe_engine(url).version, timeout=30, message="the stopped engine gone")
