"""Two browser sessions on one dataset (two Chromium contexts, one app): no acknowledged edit is lost.

The measured fault: A edits answer 0 ("Saved"); B, whose page never showed it, edits answer 1 and saves a version
"from B"; the head was `Answer 0.` | `B edited answer 1.`. Now B's edit merges A's in (and says so), the version
holds both, and an edit to the very cell A changed is refused with a message and B's page shows what is stored.
"""

import json

from playwright.sync_api import expect

from studio.editing.editor import DatasetEditor
from studio.storage.workspace import Workspace, import_file
from tests.browser.conftest import StreamlitServer
from tests.waiting import wait_until

GRID = "iframe[title='st_aggrid.AgGrid.agGrid']"


def open_dataset(page, url: str) -> None:
    page.goto(f"{url}/Dataset")
    page.locator("[data-testid=stSelectbox]").filter(has_text="Workspace dataset").click()
    page.get_by_role("option", name="faq · jsonl/chat").click()
    expect(page.locator(GRID)).to_have_count(1, timeout=30_000)


def cell(page, row: int):
    expect(page.locator(GRID)).to_have_count(1, timeout=30_000)
    return page.frame_locator(GRID).locator(f".ag-row[row-index='{row}'] .ag-cell[col-id='assistant']")


def edit(page, row: int, text: str) -> None:
    cell(page, row).dblclick()
    box = page.frame_locator(GRID).locator("textarea").first
    box.fill(text)
    box.press("Enter")


def test_two_sessions_never_lose_an_acknowledged_edit(tmp_path, browser):
    data = tmp_path / "faq.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                {"messages": [{"role": "user", "content": f"Q{i}?"}, {"role": "assistant", "content": f"Answer {i}."}]}
            )
            + "\n"
            for i in range(5)
        )
    )
    workspace = tmp_path / "workspace" / "studio.db"
    info, _ = import_file(Workspace(workspace), data)
    server = StreamlitServer(workspace).start()
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    try:
        a, b = (context.new_page() for context in contexts)
        open_dataset(a, server.url)
        open_dataset(b, server.url)

        edit(a, 0, "A edited answer 0.")
        expect(a.get_by_text("Saved: example 0, assistant.")).to_be_visible(timeout=20_000)
        edit(b, 1, "B edited answer 1.")
        expect(b.get_by_text("Saved: example 1, assistant. Merged with 1 change another session made")).to_be_visible(
            timeout=20_000
        )
        expect(cell(b, 0)).to_have_text("A edited answer 0.", timeout=30_000)  # B's page shows A's edit now

        name = b.get_by_placeholder("Version name")
        name.fill("from B")
        name.press("Enter")  # Streamlit takes the text on Enter; then the button is enabled
        b.get_by_role("button", name="Save version").click()
        store = Workspace(workspace)
        wait_until(
            lambda: store.version(store.dataset(info.id).head_version_id).name == "from B",
            timeout=30,
            message="the version from B",
        )
        head = DatasetEditor(store, info.id)
        assert head.frame["assistant"].tolist()[:2] == ["A edited answer 0.", "B edited answer 1."]

        edit(a, 2, "A's answer 2.")  # A's page has not seen B's version: the edit merges onto it
        expect(a.get_by_text("Saved: example 2, assistant.")).to_be_visible(timeout=20_000)
        edit(b, 2, "B's answer 2, unaware of A's.")  # the same cell: refused, B sees A's text
        expect(b.get_by_text("another session changed turn 2 of example 2 too")).to_be_visible(timeout=20_000)
        expect(cell(b, 2)).to_have_text("A's answer 2.", timeout=30_000)
        stored = DatasetEditor(Workspace(workspace), info.id).frame["assistant"].tolist()
        assert stored[:3] == ["A edited answer 0.", "B edited answer 1.", "A's answer 2."]
        b.screenshot(path=str(tmp_path / "b-refused.png"))
    finally:
        for context in contexts:
            context.close()
        server.stop()
