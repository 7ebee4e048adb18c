"""Loaders and exporters over tiny inline files: every container, schema, encoding and failure mode."""

from __future__ import annotations

import io
import json

import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.data.encodings import detect_encoding
from studio.data.formats import ColumnMapping
from studio.data.loader import load_dataset
from studio.data.writers import EXPORT_FORMATS, export_bytes, export_dataset
from studio.errors import FormatError, LoadError

CHAT = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
    ]
}


def jsonl(*records) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)


# (file name, bytes, expected format, rows, (system, user, assistant) of the first row)
LOADS = [
    ("chat.jsonl", jsonl(CHAT, CHAT), "jsonl/chat", 2, ("Be brief.", "Hi", "Hello!")),
    (
        "legacy.jsonl",
        jsonl({"prompt": "2+2 ->", "completion": " 4 END"}),
        "jsonl/prompt_completion",
        1,
        (None, "2+2 ->", " 4 END"),
    ),
    (
        "alpaca.json",
        json.dumps([{"instruction": "Sum", "input": "2 and 2", "output": "4", "system": "Math"}]).encode(),
        "json/alpaca",
        1,
        ("Math", "Sum\n\n2 and 2", "4"),
    ),
    (
        "share.json",
        json.dumps(
            [
                {
                    "conversations": [
                        {"from": "system", "value": "S"},
                        {"from": "human", "value": "Q"},
                        {"from": "gpt", "value": "A"},
                    ]
                }
            ]
        ).encode(),
        "json/sharegpt",
        1,
        ("S", "Q", "A"),
    ),
    (
        "qa.json",
        json.dumps({"data": [{"question": "Q1", "answer": "A1"}, {"question": "Q2", "answer": "A2"}]}).encode(),
        "json/qa",
        2,
        (None, "Q1", "A1"),
    ),
    ("comma.csv", b"question,answer\nWhat?,This.\n", "csv/qa", 1, (None, "What?", "This.")),
    ("semi.csv", b"pregunta;respuesta;sistema\n\xc2\xbfQu\xc3\xa9?;Esto.;S\n", "csv/qa", 1, ("S", "¿Qué?", "Esto.")),
    ("tabs.tsv", b"prompt\tresponse\nA\tB\nC\tD\n", "csv/qa", 2, (None, "A", "B")),
    (
        "pipes.csv",
        b'question|answer\n"line one\nline two"|"multi\nline | with pipe"\nq2|a2\n',
        "csv/qa",
        2,
        (None, "line one\nline two", "multi\nline | with pipe"),
    ),
    ("index.csv", b",question,answer\n0,Q,A\n1,Q2,A2\n", "csv/qa", 2, (None, "Q", "A")),
    ("bom.csv", "question,answer\nQ,A\n".encode("utf-8-sig"), "csv/qa", 1, (None, "Q", "A")),
    ("utf16.csv", "question,answer\nQ,Añ\n".encode("utf-16"), "csv/qa", 1, (None, "Q", "Añ")),
    ("utf16le.jsonl", jsonl(CHAT).decode().encode("utf-16-le"), "jsonl/chat", 1, ("Be brief.", "Hi", "Hello!")),
    (
        "win.csv",
        "question,answer\n¿Qué es la tensión?,Presión “arterial” – 120€\n".encode("cp1252"),
        "csv/qa",
        1,
        (None, "¿Qué es la tensión?", "Presión “arterial” – 120€"),
    ),
    ("crlf.jsonl", jsonl(CHAT).replace(b"\n", b"\r\n"), "jsonl/chat", 1, ("Be brief.", "Hi", "Hello!")),
    ("blank-lines.jsonl", b"\n" + jsonl(CHAT) + b"\n\n", "jsonl/chat", 1, ("Be brief.", "Hi", "Hello!")),
    ("lines.json", jsonl(CHAT, CHAT), "jsonl/chat", 2, ("Be brief.", "Hi", "Hello!")),
]


@pytest.mark.parametrize("name,data,fmt,rows,first", LOADS, ids=[case[0] for case in LOADS])
def test_load_detects_format_and_rows(name, data, fmt, rows, first):
    result = load_dataset(name, data=data)
    assert result.format == fmt
    assert len(result.frame) == rows
    row = result.frame.iloc[0]
    assert tuple(None if pd.isna(v) else v for v in (row.system, row.user, row.assistant)) == first


def test_encoding_is_reported():
    assert (
        load_dataset(
            "win.csv", data="q,a\n¿Sí?,Año\n".encode("cp1252"), mapping=ColumnMapping(user="q", assistant="a")
        ).encoding
        == "cp1252"
    )
    assert detect_encoding("x".encode("utf-8-sig")) == "utf-8-sig"
    assert detect_encoding("question,answer\n".encode("utf-16-le")) == "utf-16-le"


def test_parquet_and_excel(tmp_path):
    frame = pd.DataFrame({"question": ["Q1", "Q2"], "answer": ["A1", "A2"], "topic": ["x", "y"]})
    frame.to_parquet(tmp_path / "qa.parquet")
    frame.to_excel(tmp_path / "qa.xlsx", index=False)
    for name, unit_first_row in (("qa.parquet", 1), ("qa.xlsx", 2)):
        result = load_dataset(tmp_path / name)
        assert result.schema == "qa" and len(result.frame) == 2
        assert result.frame["topic"].tolist() == ["x", "y"]
        assert result.frame["source_row"].tolist() == [unit_first_row, unit_first_row + 1]


def test_lossless_chat_keeps_tools_names_weights_and_parts():
    example = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}], "name": "ana"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Lima"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "22C"},
            {"role": "assistant", "content": "22 °C in Lima.", "weight": 1},
        ],
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
        "parallel_tool_calls": False,
        "source": "crm",
    }
    result = load_dataset("tools.jsonl", data=jsonl(example))
    row = result.frame.iloc[0]
    assert row.messages == example["messages"]
    assert row.tools == example["tools"] and row.parallel_tool_calls is False
    assert row.user == "Weather?" and row.assistant == "22 °C in Lima."
    assert row.source == "crm"
    exported = orjson.loads(export_bytes(result.frame, to="openai-chat"))
    assert exported == {k: v for k, v in example.items() if k != "source"}


def test_legacy_separators_are_stripped_only_when_asked():
    data = jsonl({"prompt": "Capital of France? ->", "completion": " Paris END"})
    kept = load_dataset("legacy.jsonl", data=data).frame.iloc[0]
    stripped = load_dataset("legacy.jsonl", data=data, strip_legacy=True).frame.iloc[0]
    assert (kept.user, kept.assistant) == ("Capital of France? ->", " Paris END")
    assert (stripped.user, stripped.assistant) == ("Capital of France?", "Paris")


def test_sharegpt_function_calls_and_tools():
    record = {
        "conversations": [
            {"from": "human", "value": "Weather in Lima?"},
            {"from": "function_call", "value": json.dumps({"name": "weather", "arguments": {"city": "Lima"}})},
            {"from": "observation", "value": "22C"},
            {"from": "gpt", "value": "It is 22 °C."},
        ],
        "tools": json.dumps([{"name": "weather", "description": "d", "parameters": {}}]),
    }
    row = load_dataset("s.json", data=json.dumps([record]).encode()).frame.iloc[0]
    call = row.messages[1]["tool_calls"][0]
    assert call["function"] == {"name": "weather", "arguments": '{"city": "Lima"}'}
    assert row.messages[2] == {"role": "tool", "content": "22C", "tool_call_id": call["id"]}
    assert row.tools == [{"type": "function", "function": {"name": "weather", "description": "d", "parameters": {}}}]


def test_explicit_format_and_mapping_override_detection():
    data = b"pregunta_cliente,texto_respuesta,ctx\nQ,A,S\n"
    with pytest.raises(FormatError, match="cannot tell the format"):
        load_dataset("odd.csv", data=data)
    mapping = ColumnMapping(user="pregunta_cliente", assistant="texto_respuesta", system="ctx")
    row = load_dataset("odd.csv", data=data, mapping=mapping).frame.iloc[0]
    assert (row.system, row.user, row.assistant) == ("S", "Q", "A")


# (file name, bytes, message fragment): each error names the file and the line/row.
BAD = [
    ("bad.jsonl", jsonl(CHAT) + b'{"messages": [}\n', "bad.jsonl line 2: not valid JSON"),
    ("array-line.jsonl", jsonl(CHAT) + b"[1, 2]\n", "array-line.jsonl line 2: expected a JSON object, got an array"),
    ("nolist.jsonl", jsonl({"messages": "hi"}), "nolist.jsonl line 1, field 'messages': must be a list"),
    ("missing.jsonl", jsonl(CHAT, {"prompt": "x"}), "missing.jsonl line 2, field 'messages': missing key"),
    ("cut.json", b'[{"instruction": "a", "output": "b"}, {"instr', "cut.json line 1: not valid JSON"),
    ("quote.csv", b'question,answer\nQ,A\n"unclosed,A2\n', "quote.csv line 3: malformed CSV"),
    ("fields.csv", b"question,answer\nQ,A\nQ2,A2,extra\n", "fields.csv line 3: expected 2 fields, saw 3"),
    ("empty.jsonl", b"", "empty.jsonl: the file is empty"),
    ("image.csv", b"\x89PNG\r\n\x1a\nrest", "image.csv line 1: is a binary file"),
    ("archive.jsonl", b"PK\x03\x04rest", "archive.jsonl line 1: is a ZIP archive"),
    ("keys.jsonl", jsonl({"foo": 1}), "keys.jsonl: cannot tell the format"),
]


@pytest.mark.parametrize("name,data,message", BAD, ids=[case[0] for case in BAD])
def test_bad_input_names_file_and_line(name, data, message):
    with pytest.raises(LoadError) as caught:
        load_dataset(name, data=data)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_lenient_mode_returns_rejects_and_loses_nothing():
    data = jsonl(CHAT) + b"not json\n" + jsonl({"messages": 3}) + jsonl(CHAT)
    result = load_dataset("mixed.jsonl", data=data, lenient=True)
    assert len(result.frame) == 2
    assert [r.row for r in result.rejects] == [2, 3]
    assert result.source_rows == 4
    assert result.frame["source_row"].tolist() == [1, 4]


def test_original_file_is_never_modified(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(jsonl(CHAT))
    before = path.read_bytes()
    result = load_dataset(path)
    export_dataset(result.frame, tmp_path / "out.jsonl", system_prompt="New")
    assert path.read_bytes() == before


def test_csv_export_neutralises_formulas():
    frame = load_dataset("f.csv", data=b'question,answer,note\n=1+1,"@SUM(A1)",-2\n').frame
    table = pd.read_csv(io.BytesIO(export_bytes(frame, to="csv")), dtype=str)
    assert table.loc[0, "user"] == "'=1+1"
    assert table.loc[0, "assistant"] == "'@SUM(A1)"
    assert table.loc[0, "note"] == "'-2"


def test_system_prompt_injected_only_where_missing():
    frame = load_dataset("x.jsonl", data=jsonl(CHAT, {"messages": CHAT["messages"][1:]})).frame
    lines = [
        orjson.loads(line) for line in export_bytes(frame, to="openai-chat", system_prompt="Be kind.").splitlines()
    ]
    assert lines[0]["messages"][0]["content"] == "Be brief."
    assert lines[1]["messages"][0] == {"role": "system", "content": "Be kind."}


# -------------------------------------------------------------------------------------- round trips

_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(str.strip)
_simple = st.fixed_dictionaries({"user": _text, "assistant": _text, "system": st.one_of(st.none(), _text)})


def _examples(rows):
    out = []
    for row in rows:
        messages = [{"role": "system", "content": row["system"]}] if row["system"] else []
        messages += [{"role": "user", "content": row["user"]}, {"role": "assistant", "content": row["assistant"]}]
        out.append({"messages": messages})
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(_simple, min_size=1, max_size=5),
    to=st.sampled_from(["openai-chat", "csv", "parquet", "sharegpt", "alpaca"]),
)
def test_roundtrip_keeps_examples_and_unicode(rows, to):
    examples = _examples(rows)
    frame = load_dataset("in.jsonl", data=jsonl(*examples)).frame
    again = load_dataset(
        f"out{'.jsonl' if to == 'openai-chat' else '.' + to if to in ('csv', 'parquet') else '.json'}",
        data=export_bytes(frame, to=to),
    ).frame
    assert again["messages"].tolist() == [e["messages"] for e in examples]


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.fixed_dictionaries({"user": _text, "assistant": _text}), min_size=1, max_size=5))
def test_prompt_completion_roundtrip(rows):
    examples = _examples([{**r, "system": None} for r in rows])
    frame = load_dataset("in.jsonl", data=jsonl(*examples)).frame
    again = load_dataset("pc.jsonl", data=export_bytes(frame, to="prompt-completion")).frame
    assert again["messages"].tolist() == [e["messages"] for e in examples]


def test_every_export_format_is_loadable(tmp_path):
    frame = load_dataset("c.jsonl", data=jsonl(CHAT)).frame
    for to in EXPORT_FORMATS:
        path = export_dataset(frame, tmp_path / f"out-{to}", to=to)
        assert len(load_dataset(path.name, data=path.read_bytes()).frame) == 1


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_jsonl_lines_are_numbered_and_set_aside_alike_whatever_ends_them(newline):
    chat = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
    lines = [json.dumps(chat).encode(), b"", b'{"messages": [', b"\xef\xbb\xbf" + json.dumps(chat).encode(), b"  "]
    result = load_dataset("mixed.jsonl", data=newline.join(lines) + newline, lenient=True)
    assert result.frame["source_row"].tolist() == [1, 4]
    assert [(r.row, r.raw) for r in result.rejects] == [(3, '{"messages": [')]
    assert result.frame["assistant"].tolist() == ["Hello!", "Hello!"]
