"""The home page in real Chromium: title, page links, language switch, screenshot."""

import re

from playwright.sync_api import expect


def test_home_page_in_chromium(streamlit_server, page, tmp_path):
    page.goto(streamlit_server.url)
    expect(page.get_by_role("heading", name="Fine-Tuning Studio")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("1 · Dataset")).to_be_visible()
    page.get_by_role("button", name="Load the sample datasets").click()
    expect(page.get_by_text("Datasets in the workspace")).to_be_visible()
    page.get_by_text("Español").click()
    expect(page.get_by_text("Cuatro pasos")).to_be_visible(timeout=15_000)
    page.screenshot(path=str(tmp_path / "home.png"), full_page=True)
    assert (tmp_path / "home.png").stat().st_size > 10_000

    page.get_by_role("link", name="medical_faq_dirty").click()  # a dataset's name opens it, in this tab
    expect(page.get_by_text(re.compile(r"^238 de 238 filas$"))).to_be_visible(timeout=30_000)
    assert re.search(r"/Dataset\?dataset=\d+&version=\d+$", page.url)
    assert page.dialogs == []


def test_hostile_dataset_names_render_inert_on_home(tmp_path, page):
    from studio.storage.workspace import Workspace, import_file
    from tests.browser.conftest import StreamlitServer

    data = tmp_path / "x.csv"
    data.write_text("question,answer\n<script>alert(1)</script>,<img src=x onerror=alert(2)>\n")
    workspace = tmp_path / "ws" / "studio.db"
    import_file(Workspace(workspace), data, name="<img src=x onerror=alert('name')>")
    server = StreamlitServer(workspace).start()
    try:
        page.goto(server.url)
        expect(page.get_by_text("Datasets in the workspace")).to_be_visible(timeout=30_000)
        expect(page.get_by_text("<img src=x onerror=alert('name')>")).to_be_visible()  # the name, as typed
        page.wait_for_timeout(1500)
        assert page.dialogs == []
        assert page.locator("img[src='x']").count() == 0
    finally:
        server.stop()
