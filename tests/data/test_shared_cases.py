"""The shared conversation cases (../shared/cases/conversations/README.md) that loading, export and validation own:
05 (alpaca history), 11 (Excel line breaks) and 02 (tool content as a list)."""

import json

from studio.cost.validation import validate_file
from studio.data.loader import load_dataset
from studio.data.writers import export_bytes
from tests.conftest import SHARED_CASES

CASES = SHARED_CASES / "conversations"


def test_05_alpaca_history_loads_as_system_and_three_rounds_in_order():
    path = CASES / "05-alpaca-history.json"
    records = json.loads(path.read_text(encoding="utf-8"))
    frame = load_dataset(path).frame
    assert len(frame) == len(records)
    for record, messages in zip(records, frame["messages"], strict=True):
        rounds = [*record["history"], [record["instruction"], record["output"]]]
        expected = [{"role": "system", "content": record["system"]}]
        for user, assistant in rounds:
            expected += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        assert messages == expected
        assert len(messages) == 7


def test_05_openai_export_keeps_every_turn_and_alpaca_export_round_trips():
    path = CASES / "05-alpaca-history.json"
    frame = load_dataset(path).frame
    exported = [json.loads(line) for line in export_bytes(frame, to="openai-chat").decode().splitlines()]
    assert [e["messages"] for e in exported] == frame["messages"].tolist()
    again = json.loads(export_bytes(frame, to="alpaca"))
    assert again == json.loads(path.read_text(encoding="utf-8"))


def test_11_excel_cells_hold_real_line_breaks_never_x000D():
    frame = load_dataset(CASES / "11-excel-multiline-cells.xlsx").frame
    texts = [str(m["content"]) for messages in frame["messages"] for m in messages]
    assert texts and not any("_x000D_" in t or "_x000d_" in t for t in texts)
    assert any("\r\n" in t for t in frame["assistant"])


def test_02_tool_list_content_is_an_error_on_the_tool_message_only():
    report = validate_file(CASES / "02-tool-list-content.jsonl")
    findings = report.findings
    errors = findings[findings["severity"] == "error"]
    assert set(errors["key"]) == {"invalid_tool_content"}
    # "an error on the `tool` message (index 2 …)": named messages[2], its index, as the studio numbers turns
    assert (errors["message"] == "messages[2]: a tool message's content must be a string, got list").all()
    assert errors["row"].tolist() == list(range(1, 11))
