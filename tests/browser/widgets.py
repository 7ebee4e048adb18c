"""Chromium helpers the browser tests share: the Dataset page's row count and grid, an upload, a selectbox choice.

Selectors and traps measured on Streamlit 1.67 / streamlit-aggrid 1.2 are in ``../shared/GRID_NOTES.md``.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

ROWS = re.compile(r"^(\d+) of (\d+) rows$")
GRID = "iframe[title='st_aggrid.AgGrid.agGrid']"


def shown(page: Page) -> tuple[int, int]:
    """(rows shown, rows in the dataset) from the Dataset page's "N of M rows" line."""
    text = page.get_by_text(ROWS).inner_text()
    match = ROWS.match(text.strip())
    assert match, text
    a, b = match.groups()
    return int(a), int(b)


def wait_rows(page: Page, expected: str) -> None:
    expect(page.get_by_text(ROWS)).to_have_text(expected, timeout=30_000)


def grid_of(page: Page):
    """The grid's frame once Streamlit has removed any stale copy from the previous run."""
    expect(page.locator(GRID)).to_have_count(1, timeout=30_000)
    return page.frame_locator(GRID)


def upload(page: Page, path: Path, shots: Path, name: str) -> None:
    """Upload ``path`` on the Dataset page, import it, wait for the grid and screenshot it as ``shots/name.png``."""
    page.locator("[data-testid=stFileUploader]").first.locator("input[type=file]").set_input_files(str(path))
    page.get_by_role("button", name="Import into the workspace").click()
    # expect() finds the iframe again if a rerun replaces it (wait_for would keep waiting on the detached one).
    expect(page.frame_locator(GRID).locator(".ag-root")).to_be_visible(timeout=30_000)
    page.screenshot(path=str(shots / f"{name}.png"))


def choose(page: Page, label: str, option: str, *, tries: int = 3) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` by typing it and clicking the matching entry.

    A rerun that lands between the click and the typing closes the menu and leaves the typed text in a closed box
    (measured: about one run in three right after an upload). So each try opens the menu again and gives it 5 s;
    only the last try's failure is raised.
    """
    box = page.locator("[data-testid=stSelectbox]").filter(has_text=label)
    field = box.locator("input")
    entry = page.get_by_role("option", name=option, exact=True)
    for attempt in range(tries):
        field.click()
        field.fill(option)
        try:
            entry.click(timeout=5_000 if attempt < tries - 1 else 15_000)
            return
        except PlaywrightError:
            if attempt == tries - 1:
                raise
            field.press("Escape")
