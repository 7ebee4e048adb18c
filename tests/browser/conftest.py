"""Real `streamlit run` + Debian Chromium driven by Playwright (no Playwright browser download)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from studio.cli.data import app_command
from studio.testing.local import CHROMIUM, CHROMIUM_ARGS, free_port
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)
            # A real browser against a real server on 2 busy cores: one retry absorbs a timing hiccup, while a
            # real bug fails both runs. The rerun is reported in the summary ("R"), never hidden.
            item.add_marker(pytest.mark.flaky(reruns=1))


class StreamlitServer:
    """``streamlit run app.py`` on a free loopback port with its own workspace."""

    def __init__(self, workspace: Path, env: dict[str, str] | None = None) -> None:
        self.workspace = workspace
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "STUDIO_WORKSPACE": str(workspace), **(env or {})}
        self.process: subprocess.Popen | None = None

    def start(self) -> StreamlitServer:
        command = app_command(self.port, headless=True)
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(
            lambda: httpx.get(f"{self.url}/_stcore/health", timeout=1).status_code == 200,
            timeout=60,
            interval=0.3,
            ignoring=(httpx.HTTPError,),
            message=f"streamlit to answer on {self.url}",
        )
        return self

    def stop(self, *, kill: bool = False) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill() if kill else self.process.terminate()
            self.process.wait(timeout=20)


@pytest.fixture
def streamlit_server(tmp_path):
    server = StreamlitServer(tmp_path / "workspace" / "studio.db").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.dialogs = []  # type: ignore[attr-defined]
    page.console_errors = []  # type: ignore[attr-defined]
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    yield page
    context.close()
