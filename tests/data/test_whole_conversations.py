"""Loaders keep every turn or say what they did not keep; single-turn exports never write a conversation cut short."""

from __future__ import annotations

import io
import json

import openpyxl
import pytest

from studio.data.loader import load_dataset
from studio.data.readers import unescape_ooxml
from studio.data.writers import export_bytes, unrepresentable_rows
from studio.errors import ExportError


def jsonl(*records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


# ---------------------------------------------------------------------------------------------- LLaMA-Factory

LF_RECORD = {
    "messages": [
        {"role": "system", "content": [{"type": "text", "value": "Be brief."}], "loss_weight": 0.0},
        {"role": "user", "content": [{"type": "text", "value": "Hi"}], "loss_weight": 0.0},
        {"role": "assistant", "content": [{"type": "text", "value": "Hello."}], "loss_weight": 0.0},
        {"role": "user", "content": [{"type": "text", "value": "Two"}, {"type": "text", "value": "parts"}]},
        {"role": "assistant", "content": [{"type": "text", "value": "Done."}], "loss_weight": 1.0},
    ]
}


def test_llamafactory_value_parts_load_as_text_and_loss_weight_as_weight():
    result = load_dataset("lf.jsonl", data=jsonl(LF_RECORD, LF_RECORD))
    assert result.frame["messages"][0] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello.", "weight": 0},
        {"role": "user", "content": "Two\nparts"},
        {"role": "assistant", "content": "Done.", "weight": 1},
    ]
    assert result.frame["assistant"][0] == "Done."
    warnings = "\n".join(result.warnings)
    assert "read as OpenAI's text in 2 lines" in warnings
    assert "'loss_weight' on assistant messages read as OpenAI's 'weight' in 2 lines" in warnings
    assert "'loss_weight' 0 on non-assistant messages dropped" in warnings


def test_llamafactory_image_parts_are_kept_and_said_not_converted_and_text_is_announced_once():
    image = {"type": "image", "value": "images/0.jpg"}
    record = {
        "messages": [
            {"role": "user", "content": [image, {"type": "text", "value": "What is shown?"}]},
            {"role": "assistant", "content": [{"type": "text", "value": "A bicycle."}]},
        ]
    }
    result = load_dataset("lf.jsonl", data=jsonl(record, record, {"messages": [{"role": "user", "content": "Hi"}]}))
    assert result.frame["messages"][0][0]["content"] == [image, {"type": "text", "text": "What is shown?"}]
    assert [w for w in result.warnings if "parts" in w] == [
        "text parts {'type': 'text', 'value': ...} read as OpenAI's text in 2 lines",
        "'image' parts {'type': 'image', 'value': ...} not converted (OpenAI's format has no such part; kept as is) "
        "in 2 lines",
    ]


def test_llamafactory_odd_loss_weight_is_kept_where_validation_sees_it():
    record = {
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo", "loss_weight": 0.5}]
    }
    result = load_dataset("lf.jsonl", data=jsonl(record))
    assert result.frame["messages"][0][1] == {"role": "assistant", "content": "Yo", "loss_weight": 0.5}
    assert any("'loss_weight' kept as it is" in w for w in result.warnings)


def test_openai_text_parts_are_left_alone():
    parts = [{"type": "text", "text": "Hi"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]
    record = {"messages": [{"role": "user", "content": parts}, {"role": "assistant", "content": "A part."}]}
    result = load_dataset("c.jsonl", data=jsonl(record))
    assert result.frame["messages"][0][0]["content"] == parts
    assert result.warnings == ()


# ---------------------------------------------------------------------------------------------- sharegpt


def test_sharegpt_keeps_every_turn_system_function_call_and_observation():
    record = {
        "system": "You book tables.",
        "tools": json.dumps([{"name": "book", "parameters": {"type": "object"}}]),
        "conversations": [
            {"from": "human", "value": "Hi"},
            {"from": "gpt", "value": "Hello, how can I help?"},
            {"from": "human", "value": "A table for 2"},
            {"from": "function_call", "value": json.dumps({"name": "book", "arguments": {"people": 2}})},
            {"from": "observation", "value": '{"ok": true}'},
            {"from": "gpt", "value": "Booked."},
            {"from": "human", "value": "Thanks"},
            {"from": "gpt", "value": "You're welcome.", "weight": 0},
        ],
    }
    result = load_dataset("s.json", data=json.dumps([record]).encode())
    messages = result.frame["messages"][0]
    assert [m["role"] for m in messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "tool",
        "assistant",
        "user",
        "assistant",
    ]
    call = messages[4]["tool_calls"][0]
    assert call["function"] == {"name": "book", "arguments": '{"people": 2}'}
    assert messages[5]["tool_call_id"] == call["id"]
    assert messages[8] == {"role": "assistant", "content": "You're welcome.", "weight": 0}  # turn key kept
    assert any("turn key 'weight' kept on its message in 1 item" in w for w in result.warnings)
    again = json.loads(export_bytes(result.frame, to="sharegpt"))[0]
    assert len(again["conversations"]) == 9  # the system prompt as a turn, then the 8 turns
    assert again["conversations"][-1] == {"from": "gpt", "value": "You're welcome.", "weight": 0}
    assert load_dataset("again.json", data=json.dumps([again]).encode()).frame["messages"][0] == messages


# ---------------------------------------------------------------------------------------------- unmapped keys


@pytest.mark.parametrize(
    "name,records",
    [
        (
            "c.jsonl",
            [
                {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "foo": i}
                for i in range(3)
            ],
        ),
        ("p.jsonl", [{"prompt": "q", "completion": "a", "foo": "x"} for _ in range(3)]),
        ("a.jsonl", [{"instruction": "q", "input": "", "output": "a", "foo": "x"} for _ in range(3)]),
        (
            "s.jsonl",
            [
                {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}], "foo": "x"}
                for _ in range(3)
            ],
        ),
        ("q.jsonl", [{"question": "q", "answer": "a", "foo": "x"} for _ in range(3)]),
    ],
)
def test_every_schema_keeps_unmapped_keys_as_metadata_and_says_so(name, records):
    records[1].pop("foo")
    result = load_dataset(name, data=jsonl(*records))
    assert result.frame["foo"].notna().sum() == 2
    assert "key 'foo' kept as metadata in 2 lines" in result.warnings


def test_a_wide_table_names_twenty_metadata_keys_and_counts_the_rest():
    header = ",".join(["question", "answer", *(f"c{i}" for i in range(25))])
    row = ",".join(["q", "a", *("x" for _ in range(25))])
    result = load_dataset("wide.csv", data=f"{header}\n{row}\n".encode())
    named = [w for w in result.warnings if w.startswith("key ")]
    assert named[0] == "key 'c0' kept as metadata in 1 line" and len(named) == 20
    assert "5 more keys kept as metadata" in result.warnings
    assert len(result.frame.columns) == 6 + 25


def test_unknown_message_keys_stay_inside_the_message():
    record = {
        "messages": [
            {"role": "user", "content": "q", "lang": "en"},
            {"role": "assistant", "content": "a", "score": 0.9},
        ]
    }
    messages = load_dataset("c.jsonl", data=jsonl(record)).frame["messages"][0]
    assert messages == record["messages"]
    exported = json.loads(export_bytes(load_dataset("c.jsonl", data=jsonl(record)).frame, to="openai-chat"))
    assert exported["messages"] == record["messages"]


# ---------------------------------------------------------------------------------------------- Excel


@pytest.mark.parametrize(
    "escaped,text",
    [
        ("a_x000D_\nb", "a\r\nb"),
        ("tab_x0009_here", "tab\there"),
        ("_x005F_x000D_", "_x000D_"),  # ECMA-376: _x005F_ escapes the underscore, so this is literal text
        ("snake_case_x", "snake_case_x"),
        ("_x000d_", "\r"),
        ("_X000D_", "_X000D_"),  # the escape is a lowercase x
    ],
)
def test_unescape_ooxml(escaped, text):
    assert unescape_ooxml(escaped) == text


def test_excel_escapes_are_decoded_in_every_text_cell():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["system_x005F_x0031_", "question", "answer"])
    sheet.append(["Be_x0020_brief", "Line one_x000D_\nline two", "1._x000D_\n2."])
    buffer = io.BytesIO()
    book.save(buffer)
    result = load_dataset("book.xlsx", data=buffer.getvalue())
    messages = result.frame["messages"][0]
    assert [m["content"] for m in messages[-2:]] == ["Line one\r\nline two", "1.\r\n2."]
    assert "system_x0031_" in result.columns


# ---------------------------------------------------------------------------------------------- exports

MULTI = {
    "messages": [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "u1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "u2"},
        {"role": "assistant", "content": "a2"},
    ]
}
SINGLE = {"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}
TOOLS = {
    "messages": [
        {"role": "user", "content": "u"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "assistant", "content": "It is 42."},
    ]
}

VISION = {
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            ],
        },
        {"role": "assistant", "content": "A bolt."},
    ]
}


def test_alpaca_export_writes_system_and_history():
    frame = load_dataset("c.jsonl", data=jsonl(MULTI)).frame
    record = json.loads(export_bytes(frame, to="alpaca"))[0]
    assert record == {"instruction": "u2", "input": "", "output": "a2", "system": "S", "history": [["u1", "a1"]]}
    again = load_dataset("a.json", data=export_bytes(frame, to="alpaca")).frame
    assert again["messages"].tolist() == frame["messages"].tolist()


@pytest.mark.parametrize(
    "to,unrepresentable",
    [
        ("prompt-completion", [1, 2, 3]),
        ("alpaca", [2, 3]),
        ("openai-chat", []),
        ("sharegpt", [3]),
        ("csv", []),
        ("parquet", []),
    ],
)
def test_unrepresentable_rows(to, unrepresentable):
    frame = load_dataset("c.jsonl", data=jsonl(SINGLE, MULTI, TOOLS, VISION)).frame
    assert [i for i, _ in unrepresentable_rows(frame, to=to)] == unrepresentable


def test_prompt_completion_export_refuses_multi_turn_unless_asked_to_skip():
    frame = load_dataset("c.jsonl", data=jsonl(SINGLE, MULTI, TOOLS, MULTI)).frame
    with pytest.raises(ExportError) as refused:
        export_bytes(frame, to="prompt-completion")
    assert str(refused.value).startswith(
        "3 rows cannot be written as prompt-completion (ids 1, 3: it has 2 rounds and the format holds one; "
        "id 2: it has tool calls); export to openai-chat or sharegpt to keep them"
    )
    data = export_bytes(frame, to="prompt-completion", skip_unrepresentable=True)
    assert [json.loads(line) for line in data.decode().splitlines()] == [{"prompt": "u", "completion": "a"}]


def test_alpaca_cannot_mark_an_untrained_earlier_turn():
    weighted = {"messages": [{**m, "weight": 0} if i == 2 else m for i, m in enumerate(MULTI["messages"])]}
    frame = load_dataset("c.jsonl", data=jsonl(weighted)).frame
    assert unrepresentable_rows(frame, to="alpaca") == [
        (0, "it has assistant turns with weight 0, which alpaca's history cannot mark")
    ]


def test_a_conversation_without_an_answer_is_not_written_with_an_empty_completion():
    frame = load_dataset("c.jsonl", data=jsonl({"messages": [{"role": "user", "content": "u"}]})).frame
    assert unrepresentable_rows(frame, to="prompt-completion") == [(0, "it does not end with an assistant answer")]
