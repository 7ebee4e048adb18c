"""A canary API key in the app's environment and typed into the password fields never reaches a page or the disk.

Real ``streamlit run`` with ``OPENAI_API_KEY=<canary>``, real Chromium: every page is visited, the canary is
typed into the Train page's key field (and the Playground's), and neither the HTML nor the visible text of any
page, nor the workspace afterwards, holds it — whole or as any 10-character piece of its secret part.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from playwright.sync_api import expect

from studio.storage.workspace import Workspace, import_file
from studio.testing.server import TestServer
from tests.browser.conftest import StreamlitServer
from tests.engine_support import write_chat_file
from tests.test_security import files_leaking, leaks

PAGES = ("", "Dataset", "Cost", "Train", "Playground")


# The HTML of the page, except the value of the password fields themselves: the browser must hold what was typed
# there (React mirrors it into the input's value attribute), and nothing else may.
WITHOUT_PASSWORD_VALUES = """() => {
    const copy = document.documentElement.cloneNode(true);
    copy.querySelectorAll('input[type=password]').forEach(input => input.setAttribute('value', ''));
    return copy.outerHTML;
}"""


def _settle(page) -> None:
    """Wait until Streamlit has finished the script run the last action started."""
    page.wait_for_timeout(500)
    expect(page.locator("[data-testid=stStatusWidget]")).to_have_count(0, timeout=30_000)


def _check(page, canary: str, shots: Path, name: str) -> None:
    _settle(page)
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    html, text = page.evaluate(WITHOUT_PASSWORD_VALUES), page.inner_text("body")
    assert leaks(canary, html) == [], f"{name}: the canary is in the page's HTML"
    assert leaks(canary, text) == [], f"{name}: the canary is in the page's text"
    assert page.dialogs == []


@pytest.mark.timeout(300)
def test_the_canary_key_never_reaches_a_page_or_the_workspace(tmp_path, page):
    canary = f"sk-canary-{secrets.token_hex(16)}"
    shots = tmp_path / "screenshots"
    shots.mkdir()
    workspace = tmp_path / "workspace" / "studio.db"
    import_file(Workspace(workspace), write_chat_file(tmp_path / "pirate.jsonl", n=12))
    # The test server stands in for the local engine, so no page starts a real one on port 8765.
    with TestServer() as engine:
        server = StreamlitServer(workspace, env={"OPENAI_API_KEY": canary, "STUDIO_ENGINE_URL": engine.url}).start()
        try:
            for name in PAGES:
                page.goto(f"{server.url}/{name}")
                expect(page.locator("h1").first).to_be_visible(timeout=60_000)
                _check(page, canary, shots, name or "home")

            page.goto(f"{server.url}/Train")
            expect(page.locator("h1").first).to_be_visible(timeout=60_000)
            sidebar = page.get_by_test_id("stSidebar")
            sidebar.get_by_text("OpenAI", exact=True).click()  # the provider radio: the key field appears
            field = page.get_by_label("API key (kept in this browser session only)")
            field.fill(canary)
            field.press("Enter")
            _check(page, canary, shots, "train-typed")
            assert field.get_attribute("type") == "password" and field.input_value() == canary  # typed, masked
            sidebar.get_by_text("OpenAI-compatible", exact=True).click()  # another provider; the typed key stays
            _check(page, canary, shots, "train-other-provider")

            page.goto(f"{server.url}/Playground")
            expect(page.locator("h1").first).to_be_visible(timeout=60_000)
            field = page.get_by_label("API key (kept in memory only)")
            field.fill(canary)
            field.press("Enter")
            _check(page, canary, shots, "playground-typed")
            for name in PAGES:  # after typing, every page again: session state must not echo the key anywhere
                page.goto(f"{server.url}/{name}")
                expect(page.locator("h1").first).to_be_visible(timeout=60_000)
                _check(page, canary, shots, f"{name or 'home'}-after")
        finally:
            server.stop()
    assert len(list(shots.glob("*.png"))) == 2 * len(PAGES) + 3
    assert files_leaking(canary, workspace.parent) == {}
