"""Which dataset is open, in real Chromium: an import while another dataset is open opens the new one for good
(the picker names it, a filter does not switch back, an edit lands in it), and every page names it."""

import re

from playwright.sync_api import expect

from studio.storage.workspace import Workspace
from tests.browser.widgets import GRID, ROWS, grid_of, upload, wait_rows
from tests.conftest import SAMPLE_DATA


def test_an_import_while_another_dataset_is_open_stays_open_and_takes_the_edits(streamlit_server, page, tmp_path):
    page.goto(f"{streamlit_server.url}/Dataset")
    upload(page, SAMPLE_DATA / "medical_faq_dirty.csv", tmp_path, "1-first")
    wait_rows(page, "238 of 238 rows")
    page.get_by_text("Open data", exact=True).click()  # the panel folds once a dataset is open
    upload(page, SAMPLE_DATA / "style_demo.jsonl", tmp_path, "2-second")
    wait_rows(page, "60 of 60 rows")
    picker = page.locator("[data-testid=stSelectbox]").filter(has_text="Workspace dataset").locator("input")
    expect(picker).to_have_value(re.compile("^style_demo"), timeout=15_000)

    page.get_by_label("Regex (RE2 syntax)").fill("e")  # any rerun: the picker used to switch back here
    expect(page.get_by_text(ROWS)).to_contain_text("of 60 rows", timeout=15_000)
    expect(picker).to_have_value(re.compile("^style_demo"))
    page.get_by_label("Regex (RE2 syntax)").fill("")
    wait_rows(page, "60 of 60 rows")

    cell = grid_of(page).locator(".ag-row[row-index='0'] .ag-cell[col-id='assistant']")
    cell.dblclick()
    editor = page.frame_locator(GRID).locator("textarea").first
    editor.fill("Edited after the second import.")
    editor.press("Enter")
    expect(page.get_by_text("Saved: example 0, assistant.")).to_be_visible(timeout=20_000)
    workspace = Workspace(streamlit_server.workspace)
    by_name = {d.name: d for d in workspace.datasets()}
    from studio.editing.editor import DatasetEditor

    edited = DatasetEditor(workspace, by_name["style_demo"].id).frame["assistant"].iloc[0]
    untouched = DatasetEditor(workspace, by_name["medical_faq_dirty"].id).frame["assistant"].iloc[0]
    assert edited == "Edited after the second import." and untouched != edited

    page.get_by_role("link", name="Cost").click()  # another page of the same session names dataset and version
    expect(page.get_by_text("style_demo · original", exact=False).first).to_be_visible(timeout=30_000)


def test_a_picked_dataset_s_grid_loads_while_it_opens_and_is_kept_when_its_rows_come(streamlit_server, page):
    from studio.storage.workspace import import_file

    workspace = Workspace(streamlit_server.workspace)
    first, _ = import_file(workspace, SAMPLE_DATA / "medical_faq_dirty.csv")
    import_file(workspace, SAMPLE_DATA / "style_demo.jsonl")  # the newest: the page decodes it ahead of a pick
    grid_scripts: list[str] = []  # the grid's 4.7 MB script: fetched once per iframe Streamlit builds
    page.on("request", lambda r: grid_scripts.append(r.url) if "AgGrid" in r.url and "/js/main." in r.url else None)
    page.goto(f"{streamlit_server.url}/Dataset")
    page.locator("[data-testid=stSelectbox]").filter(has_text="Workspace dataset").click()
    page.get_by_role("option", name=f"{first.name} · {first.format}", exact=True).click()
    wait_rows(page, "238 of 238 rows")
    expect(grid_of(page).locator(".ag-row[row-index='0'] .ag-cell[col-id='id']")).to_have_text("0", timeout=30_000)
    # not decoded when picked: the page drew an empty grid first, then the rows in that same grid (one iframe)
    assert len(grid_scripts) == 1, grid_scripts
