"""Whole conversations in real Chromium, on sample_data/support_chats.jsonl: the conversation panel edits a turn
that survives a reload and undoes; a first-turn phrase filters the grid; a PII badge names its turn; the grid's
editor says which turn a cell is; an image part survives a panel edit and a regex replace, in the exported JSONL."""

import json
import re

from playwright.sync_api import expect

from tests.browser.widgets import grid_of, upload, wait_rows
from tests.conftest import SAMPLE_DATA

CHATS = SAMPLE_DATA / "support_chats.jsonl"
DATASET = "support_chats · jsonl/chat"
TURN_2 = "Remove the wheel, take out the tube, find the hole, patch or replace the tube, then reinflate it carefully."
EDITED = "Oil the chain every 200 to 300 kilometres; this turn was edited in the conversation panel."


def only_row(page, phrase: str, example_id: int) -> None:
    """Type ``phrase`` in the live regex filter, wait until the grid shows just ``example_id``, then select it
    (which opens its conversation)."""
    page.get_by_label("Regex (RE2 syntax)").fill(phrase)
    wait_rows(page, "1 of 43 rows")
    grid = grid_of(page)
    expect(grid.locator(".ag-root")).to_have_attribute("aria-rowcount", "2", timeout=15_000)
    row = grid.locator(".ag-row[row-index='0']")
    expect(row.locator(".ag-cell[col-id='id']").first).to_have_text(str(example_id), timeout=15_000)
    row.locator("input.ag-checkbox-input").first.click()
    expect(page.get_by_text(f"Conversation · example {example_id}")).to_be_visible(timeout=20_000)


def panel_turn(page, turn: int):
    """The chat bubble of one turn in the conversation panel."""
    return page.locator("[data-testid=stChatMessage]").nth(turn)


def edit_turn(page, turn: int, text: str) -> None:
    panel_turn(page, turn).get_by_role("button", name="Edit").click()
    body = page.locator("[data-testid=stPopoverBody]").filter(has=page.get_by_label("Text")).last
    body.get_by_label("Text").fill(text)
    body.get_by_role("button", name="Save the turn").click()


def test_a_turn_edited_in_the_panel_is_saved_survives_a_reload_and_undoes(streamlit_server, page, tmp_path):
    page.goto(f"{streamlit_server.url}/Dataset")
    upload(page, CHATS, tmp_path, "1-loaded")
    wait_rows(page, "43 of 43 rows")
    only_row(page, "Dana Whitfield", 27)  # a phrase of the first user turn (the grid shows the last one)
    expect(page.locator("[data-testid=stChatMessage]")).to_have_count(7, timeout=20_000)
    expect(panel_turn(page, 2)).to_contain_text(TURN_2)

    edit_turn(page, 2, EDITED)
    expect(page.get_by_text("Saved: example 27, turn 2.")).to_be_visible(timeout=20_000)
    expect(panel_turn(page, 2)).to_contain_text(EDITED, timeout=20_000)
    page.screenshot(path=str(tmp_path / "2-saved.png"), full_page=True)

    page.reload()  # the URL names the dataset: a refresh reopens it
    only_row(page, "Dana Whitfield", 27)
    expect(panel_turn(page, 2)).to_contain_text(EDITED, timeout=20_000)

    page.get_by_role("button", name="Undo").click()
    expect(panel_turn(page, 2)).to_contain_text(TURN_2, timeout=20_000)

    adding = page.locator("[data-testid=stExpander]").filter(has_text="Add a turn")
    adding.get_by_text("Add a turn").click()
    adding.get_by_label("Text").fill("One more question about the chain.")  # typed, still focused
    adding.get_by_role("button", name="Add", exact=True).click()  # one click adds it (not a blur, then a click)
    expect(page.get_by_text("Saved: example 27, turn 7.")).to_be_visible(timeout=20_000)
    expect(page.locator("[data-testid=stChatMessage]")).to_have_count(8, timeout=20_000)
    assert page.dialogs == []


def test_filter_badge_editor_label_and_an_image_that_survives_edits_into_the_export(streamlit_server, page, tmp_path):
    page.goto(f"{streamlit_server.url}/Dataset")
    upload(page, CHATS, tmp_path, "1-loaded")
    wait_rows(page, "43 of 43 rows")

    only_row(page, "my e-mail is dana", 27)  # only in turn 1 of example 27
    grid = grid_of(page)
    badge = grid.locator(".ag-row[row-index='0'] .flag-badge.flag-pii")
    expect(badge).to_have_text("pii · turn 1 (user)", timeout=20_000)
    assert "dana.whitfield@example.com" in (badge.get_attribute("title") or "")

    grid.locator(".ag-row[row-index='0'] .ag-cell[col-id='assistant']").dblclick()
    expect(grid.locator(".turn-editor-label")).to_have_text("last assistant · turn 6 (7 turns)", timeout=15_000)
    grid.locator(".turn-editor textarea").press("Escape")
    page.screenshot(path=str(tmp_path / "2-badge.png"), full_page=True)

    only_row(page, "Which part is this", 26)  # the chat whose user turn is a text part and an image part
    expect(panel_turn(page, 1)).to_contain_text("[image_url] https://example.com/photos/derailleur.jpg")
    edit_turn(page, 1, "Which part is this, and do you stock it in black?")
    expect(page.get_by_text("Saved: example 26, turn 1.")).to_be_visible(timeout=20_000)

    page.locator(".st-key-replace_pattern input").fill("in BLACK")
    page.locator(".st-key-replace_with input").fill("in silver")
    page.locator(".st-key-replace_ignore_case").get_by_text("Ignore case").click()
    expect(page.get_by_text("1 row would change.")).to_be_visible(timeout=20_000)
    page.get_by_role("button", name="Replace in 1 row").click()
    expect(panel_turn(page, 1)).to_contain_text("do you stock it in silver?", timeout=20_000)

    page.get_by_text("Prepare the export and the splits").click()
    for split in ("train", "validation", "test"):
        with page.expect_download(timeout=60_000) as download:
            page.get_by_role("button", name=re.compile(rf"^Download {split}")).click(timeout=60_000)
        path = tmp_path / f"{split}.jsonl"
        download.value.save_as(path)
    rows = [json.loads(line) for s in ("train", "validation", "test") for line in (tmp_path / f"{s}.jsonl").open()]
    assert len(rows) == 43
    (chat,) = [r for r in rows if "derailleur.jpg" in json.dumps(r)]
    assert chat["messages"][1]["content"] == [
        {"type": "text", "text": "Which part is this, and do you stock it in silver?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/photos/derailleur.jpg", "detail": "low"}},
    ]
    assert page.dialogs == []


LIGHTHOUSE = {
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe this picture of a lighthouse."},
                {"type": "image_url", "image_url": {"url": "https://example.com/lighthouse.png"}},
            ],
        },
        {"role": "assistant", "content": "A tall white lighthouse on a rocky coast.", "weight": 0},
        {"role": "user", "content": "What colour is the roof?"},
        {"role": "assistant", "content": "The roof is red."},
    ]
}


def test_saving_a_turn_opens_no_other_turns_editor(streamlit_server, page, tmp_path):
    """A tester's report: saving turn 2 opened turn 1's Edit popover over it (an unkeyed popover is matched by
    position, and the "Saved" line shifts the positions), so a second click edited the wrong turn."""
    other = {"messages": [{"role": "user", "content": "Name a prime."}, {"role": "assistant", "content": "Seven."}]}
    path = tmp_path / "lighthouse.jsonl"
    path.write_text("".join(json.dumps(chat) + "\n" for chat in (other, LIGHTHOUSE)))
    page.goto(f"{streamlit_server.url}/Dataset")
    upload(page, path, tmp_path, "1-loaded")
    page.get_by_label("Regex (RE2 syntax)").fill("lighthouse")
    wait_rows(page, "1 of 2 rows")
    grid = grid_of(page)
    expect(grid.locator(".ag-root")).to_have_attribute("aria-rowcount", "2", timeout=15_000)
    grid.locator(".ag-row[row-index='0'] input.ag-checkbox-input").first.click()
    expect(page.get_by_text("Conversation · example 1")).to_be_visible(timeout=20_000)
    expect(page.locator("[data-testid=stChatMessage]")).to_have_count(4, timeout=20_000)

    edited = "What colour is the lighthouse roof, exactly?"
    edit_turn(page, 2, edited)
    expect(page.get_by_text("Saved: example 1, turn 2.")).to_be_visible(timeout=20_000)
    expect(panel_turn(page, 2)).to_contain_text(edited, timeout=20_000)
    page.wait_for_timeout(1_000)  # the rerun's last deltas
    page.screenshot(path=str(tmp_path / "2-saved.png"), full_page=True)
    texts = page.locator("[data-testid=stPopoverBody]").get_by_label("Text")
    assert [texts.nth(i).input_value() for i in range(texts.count())] in ([], [edited])
