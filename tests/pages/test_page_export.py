"""AppTest of the Dataset page's export panel: what a single-turn format cannot hold is said row by row."""

from tests.pages.apptest import open_chats, open_page

CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
TOOLS = {
    "messages": [
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "c1", "content": "r"},
        {"role": "assistant", "content": "A"},
    ]
}
UNANSWERED = {"messages": [{"role": "user", "content": "Q?"}]}
SINGLE = {"messages": [{"role": "user", "content": "Why?"}, {"role": "assistant", "content": "Because."}]}


def export_as(tmp_path, chats, to):
    _, session, _ = open_chats(tmp_path, chats, "export")
    at = open_page("dataset", dataset=session)
    at.toggle(key="export_open").set_value(True).run()
    at.selectbox(key="export_format").set_value(to).run()
    assert not at.exception
    return at


def test_each_refused_row_gets_its_own_reason(tmp_path):
    at = export_as(tmp_path, [TOOLS, UNANSWERED, SINGLE, TOOLS], "alpaca")
    said = " ".join(w.value for w in at.warning)
    assert "ids 0, 3: it has tool calls; id 1: it does not end with an assistant answer" in said
    assert any(c.key == "skip_unrepresentable" for c in at.checkbox)


def test_no_row_left_to_write_is_refused_without_an_empty_download(tmp_path):
    at = export_as(tmp_path, [TOOLS, UNANSWERED], "alpaca")
    said = " ".join(w.value for w in at.warning)
    assert "No example can be written as alpaca" in said and "Export to openai-chat / sharegpt" in said
    assert not any(c.key == "skip_unrepresentable" for c in at.checkbox)
    assert not [b for b in at.get("download_button") if str(b.proto.id).find("download_") >= 0]
