"""The Dataset page's import panel in real Chromium: what was detected (format, encoding with its confidence, the
columns), changing the encoding and the columns before import, then importing."""

from playwright.sync_api import expect

from tests.browser.widgets import ROWS, choose

ROWS_CP1251 = [
    ("Привет, как дела?", "Хорошо, спасибо! Всё отлично."),
    ("Где находится библиотека?", "Библиотека на второй улице."),
    ("Который час?", "Время кататься на велосипеде."),
]


def test_detected_encoding_and_columns_can_be_changed_before_import(streamlit_server, page, tmp_path):
    path = tmp_path / "chitchat.csv"
    path.write_bytes(("prompt,text\n" + "".join(f'"{q}","{a}"\n' for q, a in ROWS_CP1251)).encode("cp1251"))
    page.goto(f"{streamlit_server.url}/Dataset")
    page.locator("[data-testid=stFileUploader]").first.locator("input[type=file]").set_input_files(str(path))
    expect(page.get_by_text("Detected csv/qa, encoding cp1251 (confidence")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Columns: user = prompt, assistant = text")).to_be_visible()
    page.get_by_text("Format, encoding and columns").click()
    choose(page, "Text encoding", "cp1252")  # wrong on purpose: the page reloads the upload with it
    expect(page.get_by_text("Detected csv/qa, encoding cp1252")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("decoded as cp1252 (as asked)", exact=False)).to_be_visible()
    choose(page, "Text encoding", "cp1251")
    choose(page, "Question / user column", "text")
    choose(page, "Answer / assistant column", "prompt")
    expect(page.get_by_text("Columns: user = text, assistant = prompt")).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="Import into the workspace").click()
    expect(page.get_by_text(ROWS)).to_have_text("3 of 3 rows", timeout=30_000)
