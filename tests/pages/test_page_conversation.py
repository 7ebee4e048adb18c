"""AppTest of the Dataset page's conversation panel: a selected multi-turn example, every turn shown and
editable; edits are persisted (a new editor sees them), in the recipe, and undoable."""

import pytest

from studio.editing.editor import DatasetEditor
from studio.editing.session import DatasetSession
from studio.storage.workspace import Workspace, import_file
from tests.conftest import SHARED_CASES
from tests.pages.apptest import open_chats, open_page
from ui.markdown import escape_markdown

CHAT = {
    "messages": [
        {"role": "system", "content": "You are a bike shop assistant."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Waht part is this?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/p.jpg"}},
            ],
        },
        {"role": "assistant", "content": "A rear derailleur.", "weight": 0},
        {"role": "user", "content": "Do you stock it?"},
        {"role": "assistant", "content": "Yes, we stock the 11-speed model in black and silver."},
    ]
}


@pytest.fixture
def page(tmp_path):
    workspace, session, info = open_chats(tmp_path, [CHAT])
    at = open_page("dataset", dataset=session, selected_ids=(0,))
    return at, workspace, info.id


def test_the_selected_example_shows_every_turn_with_its_role_tokens_and_parts(page):
    at, _, _ = page
    assert not at.exception
    assert len(at.chat_message) == 5
    texts = [t.value for t in at.text]
    assert "Waht part is this?" in texts and "Do you stock it?" in texts
    captions = " | ".join(c.value for c in at.caption)
    assert escape_markdown("[image_url] https://example.com/p.jpg") in captions  # a part label is data
    assert "turn 2 · assistant" in captions and "context, not trained (weight 0)" in captions
    assert "5 turns" in captions


def test_editing_a_turn_is_saved_keeps_the_image_and_can_be_undone(page):
    at, workspace, dataset_id = page
    at.text_area(key="text_0_1").set_value("What part is this?")
    at.button(key="save_0_1").click().run()
    assert not at.exception
    assert any("Saved: example 0, turn 1." in c.value for c in at.caption)
    stored = DatasetEditor(workspace, dataset_id).frame["messages"].iat[0]  # reopened from the workspace
    assert stored[1]["content"] == [{"type": "text", "text": "What part is this?"}, CHAT["messages"][1]["content"][1]]
    assert stored[2:] == CHAT["messages"][2:]
    at.button(key="undo").click().run()
    assert DatasetEditor(workspace, dataset_id).frame["messages"].iat[0] == CHAT["messages"]


def test_a_context_turn_can_be_trained_on_and_the_change_is_in_the_recipe(page):
    at, workspace, dataset_id = page
    at.toggle(key="weight_0_2").set_value(True).run()
    assert DatasetEditor(workspace, dataset_id).frame["messages"].iat[0][2]["weight"] == 1
    assert "set_weight" in DatasetEditor(workspace, dataset_id).recipe().to_json()


def test_the_vision_case_keeps_every_image_after_the_panel_edit(tmp_path):
    workspace = Workspace()
    info, _ = import_file(workspace, SHARED_CASES / "conversations" / "17-vision-rows-grid-edit.jsonl")
    session = DatasetSession(workspace)
    session.open(info.id)
    at = open_page("dataset", dataset=session, selected_ids=(4,))
    at.text_area(key="text_4_1").set_value("What part is this? (photo 4)")
    at.button(key="save_4_1").click().run()
    assert not at.exception
    row = DatasetEditor(workspace, info.id).frame["messages"].iat[4]
    assert row[1]["content"][0]["text"] == "What part is this? (photo 4)"
    assert row[1]["content"][1]["type"] == "image_url"


def test_a_turn_added_in_the_panel_is_saved_at_the_end_and_changes_nothing_else(page):
    at, workspace, dataset_id = page
    at.selectbox(key="new_role_0").set_value("user")
    at.text_area(key="new_text_0").set_value("And the chain?").run()
    at.button(key="add_turn_0").click().run()
    assert not at.exception
    stored = DatasetEditor(workspace, dataset_id).frame["messages"].iat[0]  # reopened from the workspace
    assert stored == [*CHAT["messages"], {"role": "user", "content": "And the chain?"}]


def test_a_turn_of_text_and_images_shows_its_parts_in_order_and_an_edit_keeps_them_in_place(tmp_path):
    image_a = {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}
    image_b = {"type": "image_url", "image_url": {"url": "https://example.com/b.jpg"}}
    parts = [
        {"type": "text", "text": "Compare photo A"},
        image_a,
        {"type": "text", "text": "with photo B."},
        image_b,
        {"type": "text", "text": "Which is newer?"},
    ]
    chat = {"messages": [{"role": "user", "content": parts}, {"role": "assistant", "content": "Photo B."}]}
    workspace, session, info = open_chats(tmp_path, [chat])
    at = open_page("dataset", dataset=session, selected_ids=(0,))
    first_turn = at.chat_message[0]
    shown = [e.value for e in first_turn.children.values() if type(e).__name__ in ("Text", "Caption")]
    at_a, at_b = (
        shown.index(escape_markdown("[image_url] https://example.com/a.jpg")),
        shown.index(escape_markdown("[image_url] https://example.com/b.jpg")),
    )
    assert shown.index("Compare photo A") < at_a < shown.index("with photo B.") < at_b < shown.index("Which is newer?")

    at.button(key="save_0_0").click().run()  # saved without a change: nothing recorded
    assert not at.exception and DatasetEditor(workspace, info.id).recipe().ops == ()
    at.text_area(key="text_0_0").set_value("Compare photo A\nwith photo B, taken in 2019.\nWhich is newer?").run()
    at.button(key="save_0_0").click().run()
    stored = DatasetEditor(workspace, info.id).frame["messages"].iat[0][0]["content"]
    assert stored == [parts[0], image_a, {"type": "text", "text": "with photo B, taken in 2019."}, image_b, parts[4]]
