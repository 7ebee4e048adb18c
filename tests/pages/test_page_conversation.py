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
    assert "weight" not in DatasetEditor(workspace, dataset_id).frame["messages"].iat[0][2]  # absent = trained
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


CALL = {"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
TOOL_CHAT = {
    "messages": [
        {"role": "system", "content": "You tell the time."},
        {"role": "user", "content": "What time is it?"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "c1", "content": "12:00"},
        {"role": "assistant", "content": "It is noon."},
    ]
}
UNANSWERED = (
    "invalid_tool_calls: messages[{i}]: 'tool_call_id' 'c1' answers no tool call made earlier in the conversation"
)


def format_warning(at):
    """The panel's format warning as the user reads it (markdown escapes removed), or None."""
    import re

    shown = [w.value for w in at.warning if "chat format" in w.value or "formato de chat" in w.value]
    return re.sub(r"\\(.)", r"\1", shown[0]) if shown else None


@pytest.fixture
def tool_page(tmp_path):
    workspace, session, info = open_chats(tmp_path, [TOOL_CHAT])
    at = open_page("dataset", dataset=session, selected_ids=(0,))
    assert not at.exception and format_warning(at) is None  # a valid example: nothing to say
    return at, workspace, info.id


def _role_to_user(at):
    at.selectbox(key="role_0_2").set_value("user").run()
    at.button(key="setrole_0_2").click().run()


def _add_tool_turn(at):
    at.selectbox(key="new_role_0").set_value("tool")
    at.text_area(key="new_text_0").set_value("orphan result").run()
    at.button(key="add_turn_0").click().run()


@pytest.mark.parametrize(
    "edit, problems",
    [
        (  # the assistant turn that calls a tool made a user turn: it keeps its tool_calls, its result answers none
            _role_to_user,
            [
                "missing_content: messages[2]: content is null, expected text or a list of parts",
                "invalid_tool_calls: messages[2]: only assistant messages may have 'tool_calls' (and 1 more)",
            ],
        ),
        (lambda at: at.button(key="delete_0_2").click().run(), [UNANSWERED.format(i=2)]),  # the call, not its result
        (lambda at: at.button(key="up_0_3").click().run(), [UNANSWERED.format(i=2)]),  # the result above its call
        (_add_tool_turn, ["invalid_tool_calls: messages[5]: a tool message needs the 'tool_call_id' it answers"]),
    ],
    ids=["role", "delete-call", "result-above-call", "tool-turn-without-id"],
)
def test_a_panel_edit_that_breaks_the_tool_call_structure_says_so_at_once_and_stays_undoable(tool_page, edit, problems):
    """b8's F3: these edits were saved with "Saved" and nothing else; the example is now invalid for OpenAI. The
    panel says so under the turns, naming messages[i] as its turn labels number them; Undo clears it."""
    at, workspace, dataset_id = tool_page
    edit(at)
    assert not at.exception, at.exception
    assert any("Saved: example 0" in c.value for c in at.caption)  # the edit itself stays
    shown = format_warning(at)
    assert shown is not None and shown.startswith("This example is not valid OpenAI chat format")
    assert shown.split("\n")[1:] == [f"- {p}" for p in problems]
    at.button(key="undo").click().run()
    assert DatasetEditor(workspace, dataset_id).frame["messages"].iat[0] == TOOL_CHAT["messages"]
    assert format_warning(at) is None


def test_the_format_warning_is_in_the_pages_language(tmp_path):
    _, session, _ = open_chats(tmp_path, [TOOL_CHAT])
    at = open_page("dataset", dataset=session, selected_ids=(0,), lang="es")
    at.button(key="delete_0_2").click().run()
    assert not at.exception, at.exception
    assert format_warning(at).split("\n") == [
        "Este ejemplo no cumple el formato de chat de OpenAI: OpenAI rechazaría un archivo de entrenamiento que lo "
        "contenga. Si lo rompió una edición, Deshacer la revierte.",
        "- 'tool_calls' no válido: messages[2]: el 'tool_call_id' 'c1' no responde a ninguna llamada a herramienta "
        "anterior de la conversación",
    ]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_invalid_tool_call_arguments_are_refused_in_the_pages_words_and_valid_ones_saved(tmp_path, lang):
    workspace, session, info = open_chats(tmp_path, [TOOL_CHAT])
    at = open_page("dataset", dataset=session, selected_ids=(0,), lang=lang)
    at.text_area(key="args_0_2_0").set_value('{city: "Lisbon"}').run()
    at.button(key="savecall_0_2_0").click().run()
    assert not at.exception
    refused = {
        "en": "Not saved: the arguments are not valid JSON (line 1, column 2).",
        "es": "No se ha guardado: los argumentos no son JSON válido (línea 1, columna 2).",
    }
    assert [e.value for e in at.error] == [refused[lang]]  # no operation name, no parser English
    assert DatasetEditor(workspace, info.id).frame["messages"].iat[0] == TOOL_CHAT["messages"]
    at.text_area(key="args_0_2_0").set_value('{"city": "Lisbon"}').run()
    at.button(key="savecall_0_2_0").click().run()
    stored = DatasetEditor(workspace, info.id).frame["messages"].iat[0][2]["tool_calls"][0]["function"]
    assert stored == {"name": "get_time", "arguments": '{"city": "Lisbon"}'}


def test_the_panel_shows_a_rule_s_finding_under_every_turn_it_is_in_not_only_the_first(tmp_path):
    """A row's flag (and the grid's badge) names the first turn a rule flags; the conversation panel lists each
    flagged turn's own finding, so PII in turns 1, 2 and 3 is shown under each of them."""
    chat = {
        "messages": [
            {"role": "user", "content": "Please write to me at dana.w@example.com about my order."},
            {"role": "assistant", "content": "We will write to dana.w@example.com; lorem ipsum, see <link> soon."},
            {"role": "user", "content": "My colleague is sam.k@example.com, add him too please."},
            {"role": "assistant", "content": "Both of you will hear from us today about the order and its delivery."},
        ]
    }
    _, session, _ = open_chats(tmp_path, [chat])
    at = open_page("dataset", dataset=session, selected_ids=(0,))
    assert not at.exception

    def captions(turn):  # as read: markdown escapes and the word joiner before '@' taken out
        return [c.value.replace("\\", "").replace("\u2060", "") for c in at.chat_message[turn].caption]

    for turn, address in [(0, "dana.w"), (1, "dana.w"), (2, "sam.k")]:
        assert any(address + "@example.com" in c and "e-mail" in c for c in captions(turn)), (turn, captions(turn))
    assert any("<link>" in c for c in captions(1)), captions(1)
    assert not any("⚠️" in c for c in captions(3))  # a clean turn says nothing
