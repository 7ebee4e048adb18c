"""kill -9 the Streamlit server right after edits the UI acknowledged; a restarted app still has every one."""

import json

from playwright.sync_api import expect

from studio.editing.editor import DatasetEditor
from studio.storage.workspace import Workspace, import_file
from tests.browser.conftest import StreamlitServer

GRID = "iframe[title='st_aggrid.AgGrid.agGrid']"


def edit(page, row: int, text: str) -> None:
    expect(page.locator(GRID)).to_have_count(1, timeout=30_000)
    grid = page.frame_locator(GRID)
    grid.locator(f".ag-row[row-index='{row}'] .ag-cell[col-id='assistant']").dblclick()
    box = grid.locator("textarea").first
    box.fill(text)
    box.press("Enter")


def test_acknowledged_edits_survive_kill_9(tmp_path, page):
    data = tmp_path / "faq.jsonl"
    data.write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": f"Question {i}?"},
                        {"role": "assistant", "content": f"Answer {i}."},
                    ]
                }
            )
            + "\n"
            for i in range(5)
        )
    )
    workspace = tmp_path / "workspace" / "studio.db"
    info, _ = import_file(Workspace(workspace), data)
    server = StreamlitServer(workspace).start()
    page.goto(f"{server.url}/Dataset")
    page.locator("[data-testid=stSelectbox]").filter(has_text="Workspace dataset").click()
    page.get_by_role("option", name="faq · jsonl/chat").click()
    acknowledged = {}
    for row in range(3):
        text = f"Edited answer {row}, acknowledged before the crash."
        edit(page, row, text)
        expect(page.get_by_text(f"Saved: example {row}, assistant.")).to_be_visible(timeout=20_000)
        acknowledged[row] = text
    server.stop(kill=True)  # SIGKILL: no shutdown hooks, no flush

    frame = DatasetEditor(Workspace(workspace), info.id).frame.set_index("id")
    assert {row: frame.at[row, "assistant"] for row in acknowledged} == acknowledged
    restarted = StreamlitServer(workspace).start()
    try:
        page.goto(f"{restarted.url}/Dataset")
        page.locator("[data-testid=stSelectbox]").filter(has_text="Workspace dataset").click()
        page.get_by_role("option", name="faq · jsonl/chat").click()
        expect(page.locator(GRID)).to_have_count(1, timeout=30_000)
        cell = page.frame_locator(GRID).locator(".ag-row[row-index='2'] .ag-cell[col-id='assistant']")
        expect(cell).to_have_text(acknowledged[2], timeout=30_000)
        page.screenshot(path=str(tmp_path / "after-restart.png"))
    finally:
        restarted.stop()
