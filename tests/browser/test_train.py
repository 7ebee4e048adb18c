"""The Train page in Chromium: launch a tiny job on a real local engine and watch the loss chart render."""

from playwright.sync_api import expect

from studio.storage.workspace import Workspace, import_file
from tests.browser.conftest import StreamlitServer
from tests.engine_support import TINY, EngineProcess, write_chat_file

pytest_plugins = ("tests.engine_fixtures",)


def test_launch_tiny_job_and_see_the_loss_chart(tmp_path, page, tiny_model_dir):
    engine = EngineProcess(tmp_path / "engine", models={TINY: tiny_model_dir}, threads=1)
    workspace = tmp_path / "workspace" / "studio.db"
    import_file(Workspace(workspace), write_chat_file(tmp_path / "pirate.jsonl", n=12))
    server = StreamlitServer(workspace, env={"STUDIO_ENGINE_URL": f"{engine.base_url}/v1"}).start()
    try:
        page.goto(f"{server.url}/Train")
        expect(page.get_by_text("Local engine running")).to_be_visible(timeout=60_000)
        model = page.get_by_label("Base model")
        model.fill(TINY)
        model.press("Enter")
        expect(page.get_by_text("Valid training data: 12 examples")).to_be_visible(timeout=30_000)
        page.get_by_role("button", name="Upload and start the job").click()
        expect(page.get_by_text("succeeded", exact=False).first).to_be_visible(timeout=240_000)
        chart = page.locator("[data-testid=stVegaLiteChart], .vega-embed").first
        expect(chart).to_be_visible(timeout=30_000)
        expect(page.locator("code").filter(has_text=f"ft:{TINY}:").first).to_be_visible(timeout=30_000)
        page.screenshot(path=str(tmp_path / "train.png"), full_page=True)
        assert page.dialogs == []
    finally:
        server.stop()
        engine.stop()
