"""The Dataset page in real Chromium: upload, live regex, duplicate groups, edit + reload, delete flagged + undo,
export, and dataset text that tries to run script."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.widgets import ROWS, choose, grid_of, shown, upload, wait_rows
from tests.conftest import SAMPLE_DATA


def test_clean_the_medical_faq_in_the_grid(streamlit_server, page, tmp_path):
    shots = tmp_path
    page.goto(f"{streamlit_server.url}/Dataset")
    upload(page, SAMPLE_DATA / "medical_faq_dirty.csv", shots, "1-loaded")
    wait_rows(page, "238 of 238 rows")

    regex = page.get_by_label("Regex (RE2 syntax)")
    regex.fill("fiebre")
    expect(page.get_by_text(ROWS)).not_to_have_text("238 of 238 rows", timeout=15_000)
    assert 0 < shown(page)[0] < 238
    page.screenshot(path=str(shots / "2-regex.png"))
    regex.fill("")
    wait_rows(page, "238 of 238 rows")

    page.get_by_text("exact", exact=True).click()
    expect(page.get_by_text(ROWS)).to_have_text("16 of 238 rows", timeout=15_000)
    grid = grid_of(page)
    expect(grid.locator(".ag-root")).to_have_attribute("aria-rowcount", "17", timeout=15_000)  # the grid caught up
    first, second = (grid.locator(f".ag-row[row-index='{i}'] .ag-cell[col-id='user']").inner_text() for i in (0, 1))
    assert first == second  # a duplicate group sits together
    page.screenshot(path=str(shots / "3-duplicates.png"))
    page.get_by_text("off", exact=True).click()
    wait_rows(page, "238 of 238 rows")
    grid = grid_of(page)
    expect(grid.locator(".ag-root")).to_have_attribute("aria-rowcount", "101", timeout=15_000)
    expect(grid.locator(".ag-row[row-index='0'] .ag-cell[col-id='id']").first).to_have_text("0", timeout=15_000)

    cell = grid.locator(".ag-row[row-index='0'] .ag-cell[col-id='assistant']")
    cell.dblclick()
    editor = grid.locator("textarea").first
    editor.fill("Gout is a form of arthritis; this answer was edited in the browser test.")
    editor.press("Enter")
    expect(page.get_by_text("Saved: example 0, assistant.")).to_be_visible(timeout=20_000)
    assert re.search(r"/Dataset\?dataset=\d+&version=\d+$", page.url)  # the URL names what is open
    page.reload()  # a refresh reopens it, with the edit
    expect(grid_of(page).locator(".ag-row[row-index='0'] .ag-cell[col-id='assistant']")).to_have_text(
        "Gout is a form of arthritis; this answer was edited in the browser test.", timeout=30_000
    )
    page.screenshot(path=str(shots / "4-edit-reloaded.png"))

    choose(page, "Delete all rows flagged by", "too_short")
    page.get_by_role("button", name="Delete 6 flagged rows").click()
    wait_rows(page, "232 of 232 rows")
    page.screenshot(path=str(shots / "5-deleted.png"))
    page.get_by_role("button", name="Undo").click()
    wait_rows(page, "238 of 238 rows")

    grid = grid_of(page)
    expect(grid.locator(".ag-row[row-index='0'] .ag-cell[col-id='id']").first).to_have_text("0", timeout=15_000)
    for row in (0, 1):
        grid.locator(f".ag-row[row-index='{row}'] input.ag-checkbox-input").first.click()
    page.get_by_role("button", name="Delete 2 selected rows").click()
    wait_rows(page, "236 of 236 rows")
    page.get_by_role("button", name="Undo").click()
    wait_rows(page, "238 of 238 rows")

    page.get_by_text("Prepare the export and the splits").click()
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile(r"^Download train")).click()
    path = tmp_path / "train.jsonl"
    download.value.save_as(path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert 150 < len(lines) < 238 and all(set(line) == {"messages"} for line in lines)
    from studio.cost.validation import validate_file

    assert validate_file(path).rows == len(lines)
    page.screenshot(path=str(shots / "6-exported.png"), full_page=True)
    assert page.dialogs == []


@pytest.mark.parametrize(
    "payload", ["<img src=x onerror=alert('xss')>", "<script>alert('xss')</script>", "[click](javascript:alert('xss'))"]
)
def test_dataset_text_never_runs_as_html(streamlit_server, page, tmp_path, payload):
    path = tmp_path / "hostile.jsonl"
    path.write_text(
        json.dumps(
            {"messages": [{"role": "user", "content": payload}, {"role": "assistant", "content": f"Answer: {payload}"}]}
        )
        + "\n"
    )
    page.goto(f"{streamlit_server.url}/Dataset")
    upload(page, path, tmp_path, "hostile")
    grid = grid_of(page)
    expect(grid.locator(".ag-row[row-index='0'] .ag-cell[col-id='user']")).to_have_text(payload)
    assert grid.locator(".ag-cell img, .ag-cell script").count() == 0
    page.wait_for_timeout(1000)
    assert page.dialogs == []
    assert [e for e in page.console_errors if "xss" in e.lower()] == []
