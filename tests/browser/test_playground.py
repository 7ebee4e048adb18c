"""The Playground in real Chromium: two targets answer side by side, model output stays text."""

from playwright.sync_api import expect

from studio.testing.server import Behaviour, TestServer
from tests.browser.conftest import StreamlitServer

FT = "ft:base-model:studio:demo:abc123"
PAYLOAD = "<img src=x onerror=alert(1)>"


def test_single_prompt_side_by_side_renders_answers_as_text(page, tmp_path):
    with TestServer(Behaviour(chunk_delay=0.01)) as engine:
        server = StreamlitServer(tmp_path / "workspace" / "studio.db", env={"STUDIO_ENGINE_URL": engine.url}).start()
        try:
            page.goto(f"{server.url}/Playground")
            expect(page.get_by_role("heading", name="Playground: base vs fine-tuned")).to_be_visible(timeout=30_000)
            prompt = page.get_by_label("Prompt", exact=True)
            prompt.fill(f"hello {PAYLOAD} world")
            prompt.press("Control+Enter")  # commit the text area so the Run button enables
            page.get_by_role("button", name="Run", exact=True).click()

            base = page.get_by_text(f"base-model: hello {PAYLOAD} world", exact=True)
            tuned = page.get_by_text(f"{FT}: hello {PAYLOAD} world", exact=True)
            expect(base).to_be_visible(timeout=30_000)
            expect(tuned).to_be_visible(timeout=30_000)
            expect(page.get_by_text("tokens ·").first).to_be_visible()
            left, right = base.bounding_box(), tuned.bounding_box()
            assert right["x"] > left["x"] + left["width"] / 2  # side by side, not stacked
            assert abs(right["y"] - left["y"]) < 50

            assert page.locator("img[src='x']").count() == 0  # the payload is text, not an element
            page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)
            assert (tmp_path / "playground.png").stat().st_size > 10_000
            assert page.dialogs == []
            assert engine.stats()["completions"] == 2
        finally:
            server.stop()
