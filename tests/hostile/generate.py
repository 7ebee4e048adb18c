"""Hostile and malformed dataset files for every loader, each with the outcome a user should get.

``generate(folder)`` writes every file into ``folder`` and returns the :class:`Case` list; ``CASES`` is the same
list without writing anything (for parametrising tests). Big files (50 MB) are built only when written, so nothing
large is ever committed. Run ``python -m tests.hostile.generate FOLDER`` to get the files for manual testing.

Outcomes
    ``loads``: a strict load succeeds with ``rows`` examples (lenient: the same rows, no rejects).
    ``fails``: a strict load raises ``LoadError`` whose one-line message contains ``error``; a lenient load either
    sets the bad lines aside (``lenient=(rows, rejects)``) or, when the file as a whole is unreadable
    (``lenient=None``), raises too.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

MB = 1024 * 1024

SYSTEM = {"role": "system", "content": "Be brief."}
USER = {"role": "user", "content": "Hi"}
ASSISTANT = {"role": "assistant", "content": "Hello!"}
CHAT = {"messages": [SYSTEM, USER, ASSISTANT]}
# Valid text that naive code mangles: zero-width (ZWSP, ZWNJ, ZWJ, word joiner, BOM as ZWNBSP), bidi controls
# (RLO, RLE, RLI, PDI, RLM, ALM), Hebrew/Arabic, combining marks, an emoji ZWJ sequence, line/paragraph
# separators, NEL, and an astral character.
TRICKY = (
    "a\u200bb\u200cc\u200dd\u2060e\ufefff \u202eabc\u202c \u202bשלום\u202c \u2067مرحبا\u2069 \u200f\u061c"
    " e\u0301 n\u0303 👨\u200d👩\u200d👧 x\u2028y\u2029z\x85 𝔘𝔫𝔦"
)


@dataclass(frozen=True)
class Case:
    """One hostile file: its name, what is in it, and what loading it must give."""

    name: str
    about: str
    outcome: Literal["loads", "fails"]
    build: Callable[[], bytes] = field(repr=False)
    rows: int | None = None  # loads: examples in the frame
    error: str = ""  # fails: fragment of the one-line LoadError message
    lenient: tuple[int, int] | None = None  # fails: (rows, rejects) of a lenient load; None = file unreadable
    check: Callable[[Any], None] | None = field(default=None, repr=False)  # extra assertions on the LoadResult
    big: bool = False  # tens of MB: skipped by the CLI subprocess tests

    @property
    def container(self) -> str:
        return Path(self.name).suffix.lstrip(".")


def line(record: Any) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode() + b"\n"


def jsonl(*records: Any) -> bytes:
    return b"".join(line(r) for r in records)


def chat(user: Any = "Hi", assistant: Any = "Hello!") -> dict[str, Any]:
    return {"messages": [SYSTEM, {"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def _nested(depth: int, leaf: str = "x") -> str:
    return "[" * depth + json.dumps(leaf) + "]" * depth


def _deep_chat(depth: int) -> bytes:
    """A chat line whose user content is an object nested ``depth`` levels (built as text: json.dumps recurses)."""
    content = '{"a": ' * depth + '"leaf"' + "}" * depth
    return (
        b'{"messages": [{"role": "user", "content": '
        + content.encode()
        + b'}, {"role": "assistant", "content": "ok"}]}\n'
    )


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00" + bytes(64)


def _zip(names: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in names.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _parquet(columns: dict[str, list[Any]], types: dict[str, Any] | None = None) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = None
    if types:
        schema = pa.schema([(name, types.get(name) or pa.array(values).type) for name, values in columns.items()])
    table = pa.table(columns, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _xlsx(sheets: dict[str, list[list[Any]]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


def _qa_parquet() -> bytes:
    return _parquet({"question": ["Q1", "Q2", "Q3"], "answer": ["A1", "A2", "A3"]})


def _qa_xlsx() -> bytes:
    return _xlsx({"Data": [["question", "answer"], ["Q1", "A1"], ["Q2", "A2"]]})


# ---------------------------------------------------------------------------------------------- checks


def _first_messages(expected: list[dict[str, Any]]) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert result.frame["messages"].iloc[0] == expected, result.frame["messages"].iloc[0]

    return check


def _texts(column: str, expected: list[Any]) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert [None if v is None or v != v else v for v in result.frame[column].tolist()] == expected

    return check


WIDE = 1000  # columns of 1k-columns.csv


def _wide(result: Any) -> None:
    """Every column kept: the 998 metadata columns in order, each holding its own number."""
    metadata = [c for c in result.frame.columns if c.startswith("c") and c[1:].isdigit()]
    assert metadata == [f"c{i}" for i in range(WIDE - 2)]
    assert result.frame.loc[0, metadata].tolist() == [str(i) for i in range(WIDE - 2)]


def _all(*checks: Callable[[Any], None]) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        for one in checks:
            one(result)

    return check


def _warns(fragment: str) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert any(fragment in w for w in result.warnings), result.warnings

    return check


def _source_rows(expected: list[int]) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert result.frame["source_row"].tolist() == expected

    return check


# ---------------------------------------------------------------------------------------------- the cases


def _jsonl_cases() -> list[Case]:
    good3 = jsonl(CHAT, CHAT, CHAT)
    cut = line(CHAT)[:37]
    return [
        Case(
            "truncated-last-line.jsonl",
            "3 examples, then a line cut mid-string (a crashed writer)",
            "fails",
            lambda: good3 + cut,
            error="line 4: not valid JSON",
            lenient=(3, 1),
        ),
        Case(
            "truncated-middle-line.jsonl",
            "a line cut mid-object between two good ones",
            "fails",
            lambda: line(CHAT) + cut + b"\n" + line(CHAT),
            error="line 2: not valid JSON",
            lenient=(2, 1),
        ),
        Case(
            "non-object-array.jsonl",
            "a JSON array on line 2",
            "fails",
            lambda: jsonl(CHAT, [CHAT], CHAT),
            error="line 2: expected a JSON object, got an array",
            lenient=(2, 1),
        ),
        Case(
            "non-object-lines.jsonl",
            "a string, a number, null and a boolean as lines",
            "fails",
            lambda: jsonl(CHAT, "text", 42, None, True, CHAT),
            error="line 2: expected a JSON object, got a string",
            lenient=(2, 4),
        ),
        Case(
            "messages-string.jsonl",
            "'messages' is a string",
            "fails",
            lambda: jsonl(CHAT, {"messages": "Hi there"}),
            error="line 2, field 'messages': must be a list",
            lenient=(1, 1),
        ),
        Case(
            "messages-object.jsonl",
            "'messages' is one message object, not a list",
            "fails",
            lambda: jsonl({"messages": USER}, CHAT),
            error="line 1, field 'messages': must be a list",
            lenient=(1, 1),
        ),
        Case(
            "messages-null.jsonl",
            "'messages' is null",
            "fails",
            lambda: jsonl(CHAT, CHAT, {"messages": None}),
            error="line 3, field 'messages': must be a list",
            lenient=(2, 1),
        ),
        Case(
            "messages-number.jsonl",
            "'messages' is a number",
            "fails",
            lambda: jsonl({"messages": 7}),
            error="line 1, field 'messages': must be a list",
            lenient=(0, 1),
        ),
        Case(
            "messages-of-strings.jsonl",
            "'messages' is a list of strings",
            "fails",
            lambda: jsonl(CHAT, {"messages": ["Hi", "Hello!"]}),
            error="line 2, field 'messages': message 1 is str, not an object",
            lenient=(1, 1),
        ),
        Case(
            "missing-messages.jsonl",
            "a line without 'messages' among chat lines",
            "fails",
            lambda: jsonl(CHAT, {"text": "Hi"}),
            error="line 2, field 'messages': missing key",
            lenient=(1, 1),
        ),
        Case(
            "nul-raw.jsonl",
            "a raw NUL byte inside a string",
            "fails",
            lambda: line(CHAT) + line(chat("a")).replace(b'"a"', b'"a\x00b"'),
            error="line 2: not valid JSON",
            lenient=(1, 1),
        ),
        Case(
            "nul-padding.jsonl",
            "4 KB of NUL bytes after the last line (a file pre-allocated, then a crash)",
            "fails",
            lambda: good3 + bytes(4096),
            error="line 4: not valid JSON",
            lenient=(3, 1),
        ),
        Case(
            "nul-escaped.jsonl",
            "an escaped \\u0000 inside content: valid JSON, kept as is",
            "loads",
            lambda: line(chat("a\x00b")),
            rows=1,
            check=_texts("user", ["a\x00b"]),
        ),
        Case(
            "deep-nesting.jsonl",
            "a metadata value nested 100,000 arrays deep",
            "fails",
            lambda: line(CHAT) + b'{"messages": [], "meta": ' + _nested(100_000).encode() + b"}\n",
            error="line 2: not valid JSON (depth limit exceeded",
            lenient=(1, 1),
        ),
        Case(
            "deep-messages.jsonl",
            "'messages' nested 5,000 arrays deep",
            "fails",
            lambda: b'{"messages": ' + _nested(5000).encode() + b"}\n" + line(CHAT),
            error="line 1: not valid JSON (depth limit exceeded",
            lenient=(1, 1),
        ),
        Case(
            "nesting-1000.jsonl",
            "content nested 1,000 objects deep: parses, but no exporter could write it",
            "fails",
            lambda: line(CHAT) + _deep_chat(1000),
            error="line 2: nested deeper than 200 levels",
            lenient=(1, 1),
        ),
        Case(
            "nesting-250.jsonl",
            "metadata nested 250 deep (orjson writes at most 255)",
            "fails",
            lambda: line(CHAT)[:-2] + b', "meta": ' + _nested(250).encode() + b"}\n",
            error="line 1: nested deeper than 200 levels",
            lenient=None,
        ),
        Case(
            "nesting-150.jsonl",
            "content and metadata nested 150 deep: loads and exports",
            "loads",
            lambda: _deep_chat(150)[:-2] + b', "meta": ' + _nested(150).encode() + b"}\n",
            rows=1,
        ),
        Case(
            "utf16le-no-bom.jsonl",
            "UTF-16 little-endian without a BOM",
            "loads",
            lambda: jsonl(CHAT, chat("añ€")).decode().encode("utf-16-le"),
            rows=2,
            check=_texts("user", ["Hi", "añ€"]),
        ),
        Case(
            "utf16be-no-bom.jsonl",
            "UTF-16 big-endian without a BOM",
            "loads",
            lambda: jsonl(CHAT, chat("añ€")).decode().encode("utf-16-be"),
            rows=2,
            check=_texts("user", ["Hi", "añ€"]),
        ),
        Case(
            "utf16-bom.jsonl",
            "UTF-16 with a BOM (Windows Notepad 'Unicode')",
            "loads",
            lambda: jsonl(CHAT, chat("añ€")).decode().encode("utf-16"),
            rows=2,
        ),
        Case(
            "utf16le-cjk-no-bom.jsonl",
            "UTF-16 LE without BOM, mostly Chinese text (few NUL bytes)",
            "loads",
            lambda: jsonl(chat("你好" * 400, "世界" * 900)).decode().encode("utf-16-le"),
            rows=1,
            check=_texts("assistant", ["世界" * 900]),
        ),
        Case(
            "utf16-line-separator.jsonl",
            "UTF-16 with a raw U+2028 and U+0085 inside content",
            "loads",
            lambda: jsonl(chat("x\u2028y\x85z"), CHAT).decode().encode("utf-16-le"),
            rows=2,
            check=_all(_texts("user", ["x\u2028y\x85z", "Hi"]), _source_rows([1, 2])),
        ),
        Case(
            "utf16-odd-length.jsonl",
            "UTF-16 LE cut at an odd byte (a truncated download)",
            "fails",
            lambda: jsonl(CHAT, CHAT).decode().encode("utf-16-le")[:-3],
            error="line 2: not valid JSON",
            lenient=(1, 1),
        ),
        Case("utf32-bom.jsonl", "UTF-32 with a BOM", "loads", lambda: jsonl(CHAT).decode().encode("utf-32"), rows=1),
        Case(
            "mixed-encodings.jsonl",
            "line 1 UTF-8, line 2 Windows-1252 (two exports concatenated)",
            "loads",
            lambda: line(chat("café 1")) + line(chat("café 2")).replace("é".encode(), b"\xe9") + line(CHAT),
            rows=3,
            check=_all(_texts("user", ["café 1", "café 2", "Hi"]), _warns("line 2")),
        ),
        Case("crlf.jsonl", "Windows CRLF line endings", "loads", lambda: good3.replace(b"\n", b"\r\n"), rows=3),
        Case(
            "cr-only.jsonl",
            "classic Mac CR-only line endings",
            "loads",
            lambda: good3.replace(b"\n", b"\r"),
            rows=3,
            check=_source_rows([1, 2, 3]),
        ),
        Case(
            "mixed-line-endings.jsonl",
            "LF, CRLF and CR in one file",
            "loads",
            lambda: line(CHAT) + line(CHAT)[:-1] + b"\r\n" + line(CHAT)[:-1] + b"\r" + line(CHAT),
            rows=4,
        ),
        Case(
            "bom-middle.jsonl",
            "two UTF-8-with-BOM files concatenated: a BOM at the start of line 3",
            "loads",
            lambda: codecs.BOM_UTF8 + jsonl(CHAT, CHAT) + codecs.BOM_UTF8 + jsonl(CHAT, CHAT),
            rows=4,
            check=_source_rows([1, 2, 3, 4]),
        ),
        Case(
            "zero-width-rtl.jsonl",
            "zero-width, bidi-control, RTL, combining, ZWJ-emoji and U+2028 text",
            "loads",
            lambda: jsonl(chat(TRICKY, TRICKY[::-1]), CHAT),
            rows=2,
            check=_all(_texts("user", [TRICKY, "Hi"]), _texts("assistant", [TRICKY[::-1], "Hello!"])),
        ),
        Case(
            "lone-high-surrogate.jsonl",
            "a lone high surrogate escape \\ud83d (an emoji cut in half)",
            "fails",
            lambda: line(CHAT) + b'{"messages": [{"role": "user", "content": "cut \\ud83d"}]}\n',
            error="line 2: not valid JSON (lone surrogate",
            lenient=(1, 1),
        ),
        Case(
            "lone-low-surrogate.jsonl",
            "a lone low surrogate escape \\ude00",
            "fails",
            lambda: b'{"messages": [{"role": "user", "content": "\\ude00"}]}\n' + line(CHAT),
            error="line 1: not valid JSON (lone surrogate",
            lenient=(1, 1),
        ),
        Case(
            "reversed-surrogates.jsonl",
            "a surrogate pair in the wrong order",
            "fails",
            lambda: line(CHAT) + b'{"messages": [{"role": "user", "content": "\\ude00\\ud83d"}]}\n',
            error="line 2: not valid JSON (lone surrogate",
            lenient=(1, 1),
        ),
        Case(
            "surrogate-pair.jsonl",
            "a correct surrogate pair escape: one emoji",
            "loads",
            lambda: b'{"messages": [{"role": "user", "content": "\\ud83d\\ude00"}]}\n',
            rows=1,
            check=_texts("user", ["😀"]),
        ),
        Case(
            "content-number.jsonl",
            "'content': 42 — kept as is, flagged by validation",
            "loads",
            lambda: jsonl(chat(42, 3.5)),
            rows=1,
            check=_all(_first_messages(chat(42, 3.5)["messages"]), _texts("user", ["42"])),
        ),
        Case(
            "content-odd-types.jsonl",
            "content true, null, an object, a list of numbers",
            "loads",
            lambda: jsonl(chat(True), chat(None), chat({"a": 1}), chat([1, 2])),
            rows=4,
        ),
        Case(
            "duplicate-keys.jsonl",
            "'messages' twice on a line: the last one wins, as in JSON parsers",
            "loads",
            lambda: b'{"messages": "junk", "messages": [{"role": "user", "content": "last"}]}\n',
            rows=1,
            check=_texts("user", ["last"]),
        ),
        Case(
            "duplicate-keys-bad-last.jsonl",
            "'messages' twice; the last one is not a list",
            "fails",
            lambda: b'{"messages": [{"role": "user", "content": "first"}], "messages": 3}\n' + line(CHAT),
            error="line 1, field 'messages': must be a list",
            lenient=(1, 1),
        ),
        Case("empty.jsonl", "zero bytes", "fails", lambda: b"", error="the file is empty"),
        Case(
            "whitespace-only.jsonl",
            "blank lines, spaces and tabs",
            "fails",
            lambda: b"\n  \n\t\r\n\n",
            error="the file is empty",
        ),
        Case(
            "bom-only.jsonl",
            "a UTF-8 BOM and nothing else",
            "fails",
            lambda: codecs.BOM_UTF8 + b"\n",
            error="the file is empty",
        ),
        Case(
            "zip-renamed.jsonl",
            "a ZIP archive renamed .jsonl",
            "fails",
            lambda: _zip({"train.jsonl": jsonl(CHAT)}),
            error="line 1: is a ZIP archive",
        ),
        Case("png-renamed.jsonl", "a PNG image renamed .jsonl", "fails", _png, error="line 1: is a binary file"),
        Case(
            "gzip-renamed.jsonl",
            "a gzip-compressed JSONL renamed .jsonl",
            "fails",
            lambda: gzip.compress(jsonl(CHAT), mtime=0),
            error="line 1: is gzip-compressed",
        ),
        Case(
            "trailing-garbage.jsonl",
            "an object followed by text on the same line",
            "fails",
            lambda: line(CHAT)[:-1] + b" oops\n" + line(CHAT),
            error="line 1: not valid JSON",
            lenient=(1, 1),
        ),
        Case(
            "two-objects-one-line.jsonl",
            "two objects on one line (a missing newline)",
            "fails",
            lambda: line(CHAT) + line(CHAT)[:-1] + line(CHAT),
            error="line 2: not valid JSON",
            lenient=(1, 1),
        ),
        Case(
            "pretty-printed.jsonl",
            "one object pretty-printed over several lines",
            "fails",
            lambda: json.dumps(CHAT, indent=2).encode() + b"\n",
            error="line 1: not valid JSON",
            lenient=None,
        ),
        Case(
            "all-lines-bad.jsonl",
            "no line is JSON",
            "fails",
            lambda: b"hello\nworld\n",
            error="line 1: not valid JSON",
            lenient=None,
        ),
        Case(
            "unknown-keys.jsonl",
            "objects with no recognisable keys",
            "fails",
            lambda: jsonl({"foo": 1}, {"bar": 2}),
            error="cannot tell the format",
        ),
        Case(
            "nan-literal.jsonl",
            "Python's json.dumps NaN in a metadata field (not JSON)",
            "fails",
            lambda: line(CHAT) + line(CHAT)[:-2] + b', "score": NaN}\n',
            error="line 2: not valid JSON",
            lenient=(1, 1),
        ),
        Case(
            "number-overflow.jsonl",
            "1e400 in metadata (infinity as a double)",
            "fails",
            lambda: line(CHAT) + line(CHAT)[:-2] + b', "score": 1e400}\n',
            error="line 2: not valid JSON (number",
            lenient=(1, 1),
        ),
        Case(
            "huge-integer.jsonl",
            "an integer over 64 bits in metadata (loads as a float)",
            "loads",
            lambda: line(CHAT)[:-2] + b', "big": 123456789012345678901234567890}\n',
            rows=1,
        ),
        Case(
            "tool-args-surrogate.jsonl",
            "tool-call arguments whose JSON text holds a lone surrogate escape",
            "loads",
            lambda: jsonl(
                {
                    "messages": [
                        USER,
                        {
                            "role": "assistant",
                            "tool_calls": [
                                {
                                    "id": "c1",
                                    "type": "function",
                                    "function": {"name": "f", "arguments": '{"x": "\\ud800"}'},
                                }
                            ],
                        },
                    ]
                }
            ),
            rows=1,
        ),
        Case(
            "tool-args-deep.jsonl",
            "tool-call arguments whose JSON text nests 995 deep (kept as text on export)",
            "loads",
            lambda: jsonl(
                {
                    "messages": [
                        USER,
                        {
                            "role": "assistant",
                            "tool_calls": [
                                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": _nested(995)}}
                            ],
                        },
                    ]
                }
            ),
            rows=1,
        ),
        Case(
            "bare-cr-in-content.jsonl",
            "a lone CR inside content (must survive the CSV export)",
            "loads",
            lambda: jsonl(chat("a\rb", "\r"), CHAT),
            rows=2,
            check=_texts("user", ["a\rb", "Hi"]),
        ),
        Case(
            "ansi-escapes.jsonl",
            "escaped ANSI colour codes and other C0 controls in content",
            "loads",
            lambda: jsonl(chat("\x1b[31mred\x1b[0m\x07\x08")),
            rows=1,
            check=_texts("user", ["\x1b[31mred\x1b[0m\x07\x08"]),
        ),
        Case(
            "many-lines.jsonl",
            "20,000 short lines with a bad one near the end",
            "fails",
            lambda: jsonl(*[CHAT] * 19_990) + b"{bad\n" + jsonl(*[CHAT] * 9),
            error="line 19991: not valid JSON",
            lenient=(19_999, 1),
        ),
        Case(
            "50mb-line.jsonl",
            "one example whose answer is a single 50 MB line",
            "loads",
            lambda: jsonl(chat("Summarise", "lorem ipsum dolor sit amet " * (50 * MB // 27))),
            rows=1,
            big=True,
        ),
        Case(
            "50mb-garbage-line.jsonl",
            "a 50 MB line that is not JSON after a good one",
            "fails",
            lambda: line(CHAT) + b"x" * (50 * MB) + b"\n",
            error="line 2: not valid JSON",
            lenient=(1, 1),
            big=True,
        ),
    ]


def _json_cases() -> list[Case]:
    array = json.dumps([CHAT] * 4).encode()
    pretty = json.dumps([CHAT] * 4, indent=2).encode()
    return [
        Case(
            "array-cut-in-half.json",
            "a JSON array cut in the middle",
            "fails",
            lambda: array[: len(array) // 2],
            error="line 1: not valid JSON",
        ),
        Case(
            "pretty-array-cut.json",
            "a pretty-printed array cut at line 20",
            "fails",
            lambda: b"\n".join(pretty.split(b"\n")[:20]),
            error="line 20: not valid JSON",
        ),
        Case(
            "top-level-number.json",
            "the number 42",
            "fails",
            lambda: b"42",
            error="line 1: expected an array of objects, got a number",
        ),
        Case(
            "top-level-string.json",
            "a JSON string",
            "fails",
            lambda: b'"messages"',
            error="line 1: expected an array of objects, got a string",
        ),
        Case(
            "array-of-non-objects.json",
            "an array mixing an object, a string and null",
            "fails",
            lambda: json.dumps([CHAT, "x", None, CHAT]).encode(),
            error="item 2: expected a JSON object",
            lenient=(2, 2),
        ),
        Case("empty-array.json", "[]", "fails", lambda: b"[]", error="no records"),
        Case(
            "deep-nesting.json",
            "an array nested 100,000 deep",
            "fails",
            lambda: _nested(100_000).encode(),
            error="line 1: not valid JSON (depth limit exceeded",
        ),
        Case(
            "utf16be-no-bom.json",
            "a JSON array in UTF-16 BE without BOM",
            "loads",
            lambda: json.dumps([CHAT, chat("ñ")], ensure_ascii=False).encode("utf-16-be"),
            rows=2,
        ),
        Case(
            "duplicate-keys.json",
            "an item with 'output' twice: the last one wins",
            "loads",
            lambda: b'[{"instruction": "Sum", "output": "first", "output": "last"}]',
            rows=1,
            check=_texts("assistant", ["last"]),
        ),
        Case(
            "lone-surrogate.json",
            "a lone surrogate escape inside a JSON array",
            "fails",
            lambda: b'[{"messages": [{"role": "user", "content": "\\ud800"}]}]',
            error="line 1: not valid JSON (lone surrogate",
        ),
        Case(
            "messages-not-list.json",
            "an array whose second item has 'messages' as a string",
            "fails",
            lambda: json.dumps([CHAT, {"messages": "x"}]).encode(),
            error="item 2, field 'messages': must be a list",
            lenient=(1, 1),
        ),
        Case(
            "wrapped-data.json",
            "an object holding the records under 'data'",
            "loads",
            lambda: json.dumps({"version": 2, "data": [CHAT, CHAT]}).encode(),
            rows=2,
        ),
        Case(
            "csv-renamed.json",
            "a CSV file renamed .json",
            "fails",
            lambda: b"question,answer\nQ,A\n",
            error="line 1: not valid JSON",
        ),
    ]


def _csv_cases() -> list[Case]:
    return [
        Case("header-only.csv", "a header and no rows", "loads", lambda: b"question,answer\n", rows=0),
        Case(
            "header-only-no-newline.csv",
            "a header without a final newline",
            "loads",
            lambda: b"question,answer",
            rows=0,
        ),
        Case(
            "unbalanced-quote-end.csv",
            "an opening quote never closed on the last row",
            "fails",
            lambda: b'question,answer\nQ1,A1\n"Q2,A2\nQ3,A3\n',
            error="line 3: malformed CSV",
        ),
        Case(
            "stray-quote-middle.csv",
            "a quoted field closed early, followed by text",
            "fails",
            lambda: b'question,answer\nQ1,"A1" extra\nQ2,A2\n',
            error="line 2: malformed CSV",
        ),
        Case(
            "ragged-rows.csv",
            "a row with an extra field",
            "fails",
            lambda: b"question,answer\nQ1,A1\nQ2,A2,x\nQ3,A3\n",
            error="line 3: expected 2 fields, saw 3",
            lenient=(2, 1),
        ),
        Case(
            "short-row.tsv",
            "a TSV row with a missing field",
            "fails",
            lambda: b"prompt\tresponse\nP1\tR1\nP2\n",
            error="line 3: expected 2 fields, saw 1",
            lenient=(1, 1),
        ),
        Case(
            "1k-columns.csv",
            "1,000 columns: question, answer and 998 metadata columns; the 4.9 KB header is "
            "longer than the 4 KB that encoding and binary detection read",
            "loads",
            lambda: (
                ",".join(["question", "answer"] + [f"c{i}" for i in range(WIDE - 2)])
                + "\n"
                + ",".join(["Q", "A"] + [str(i) for i in range(WIDE - 2)])
                + "\n"
            ).encode(),
            rows=1,
            check=_wide,
        ),
        Case("png-renamed.csv", "a PNG image renamed .csv", "fails", _png, error="line 1: is a binary file"),
        Case("xlsx-renamed.csv", "an Excel workbook saved with a .csv name", "loads", _qa_xlsx, rows=2),
        Case(
            "docx-renamed.csv",
            "a Word document (a ZIP) renamed .csv",
            "fails",
            lambda: _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"}),
            error="line 1: is a ZIP archive",
        ),
        Case(
            "nul-early.csv",
            "NUL bytes in the header (a binary or UTF-32 file)",
            "fails",
            lambda: b"question,answer\x00\x00\nQ,A\n",
            error="line 1: contains NUL bytes",
        ),
        Case(
            "nul-in-cell.csv",
            "one NUL byte inside a cell on line 3: kept, as an escaped \\u0000 in JSONL",
            "loads",
            lambda: b"question,answer\nQ1,A1\nQ2,A\x002\n",
            rows=2,
            check=_texts("assistant", ["A1", "A\x002"]),
        ),
        Case(
            "nul-padding.csv",
            "2 rows, then 4 KB of NUL bytes (a file pre-allocated, then a crash)",
            "fails",
            lambda: b"question,answer\nQ1,A1\nQ2,A2\n" + bytes(4096),
            error="line 4: contains NUL bytes",
        ),
        Case(
            "cr-only.csv",
            "classic Mac CR-only line endings",
            "loads",
            lambda: b"question,answer\rQ1,A1\rQ2,A2\r",
            rows=2,
        ),
        Case(
            "mixed-encodings.csv",
            "rows 2 and 4 UTF-8, row 3 Windows-1252",
            "loads",
            lambda: "question,answer\n¿Qué?,Sí\n".encode() + "¿Cómo?,Así\n".encode("cp1252") + "Año,Niño\n".encode(),
            rows=3,
            check=_all(_texts("user", ["¿Qué?", "¿Cómo?", "Año"]), _warns("line 3")),
        ),
        Case(
            "utf16le-no-bom.csv",
            "UTF-16 LE without BOM",
            "loads",
            lambda: "question,answer\nQ,Añ\n".encode("utf-16-le"),
            rows=1,
            check=_texts("assistant", ["Añ"]),
        ),
        Case(
            "quotes-inside-fields.tsv",
            "TSV with quotes inside (not around) fields",
            "loads",
            lambda: b'prompt\tresponse\nHe said "hi"\tShe said "bye"\n',
            rows=1,
            check=_texts("assistant", ['She said "bye"']),
        ),
        Case(
            "duplicate-header.csv",
            "the column 'answer' twice: both kept, the second renamed",
            "loads",
            lambda: b"question,answer,answer\nQ,A1,A2\n",
            rows=1,
            check=_all(_texts("assistant", ["A1"]), _texts("answer.1", ["A2"]), _warns("answer")),
        ),
        Case(
            "formula-cells.csv",
            "cells starting with = + - @ (kept; neutralised only on CSV export)",
            "loads",
            lambda: b'question,answer\n=1+1,"@SUM(A1)"\n',
            rows=1,
            check=_texts("user", ["=1+1"]),
        ),
        Case(
            "messages-lone-surrogate.csv",
            "a messages JSON column with a lone surrogate escape",
            "fails",
            lambda: b'messages\n"[{""role"": ""user"", ""content"": ""\\ud800""}]"\n',
            error="line 2, field 'messages': not valid JSON (lone surrogate",
            lenient=(0, 1),
        ),
        Case(
            "messages-deep.csv",
            "a messages JSON column nested 50,000 deep",
            "fails",
            lambda: b"messages\n" + _nested(50_000).encode() + b"\n",
            error="line 2, field 'messages': not valid JSON (depth limit exceeded",
            lenient=(0, 1),
        ),
        Case(
            "only-delimiters.csv",
            "commas and newlines only",
            "fails",
            lambda: b",,,\n,,,\n",
            error="cannot tell the format",
        ),
        Case(
            "zero-width-rtl.csv",
            "zero-width, bidi and RTL characters in cells",
            "loads",
            lambda: _csv([["question", "answer"], [TRICKY, TRICKY[::-1]]]),
            rows=1,
            check=_all(_texts("user", [TRICKY]), _texts("assistant", [TRICKY[::-1]])),
        ),
        Case(
            "blank-lines.csv",
            "blank lines between rows (row numbers stay those of the file)",
            "loads",
            lambda: b"question,answer\n\nQ1,A1\n\n\nQ2,A2\n",
            rows=2,
            check=_source_rows([3, 6]),
        ),
        Case(
            "20mb-cell.csv",
            "one 20 MB quoted cell with newlines and quotes",
            "loads",
            lambda: b'question,answer\nQ,"' + b'say ""hi""\n' * (20 * MB // 12) + b'"\n',
            rows=1,
            big=True,
        ),
    ]


def _parquet_cases() -> list[Case]:
    import pyarrow as pa

    return [
        Case(
            "truncated.parquet",
            "the first half of a Parquet file",
            "fails",
            lambda: _qa_parquet()[: len(_qa_parquet()) // 2],
            error="not a readable Parquet file",
        ),
        Case(
            "garbage.parquet",
            "the Parquet magic followed by garbage",
            "fails",
            lambda: b"PAR1" + b"\xde\xad\xbe\xef" * 64 + b"PAR1",
            error="not a readable Parquet file",
        ),
        Case(
            "messages-int.parquet",
            "a messages column of integers",
            "fails",
            lambda: _parquet({"messages": [1, 2]}),
            error="row 1, field 'messages': must be a list",
            lenient=(0, 2),
        ),
        Case(
            "messages-text.parquet",
            "a messages column of plain (non-JSON) text",
            "fails",
            lambda: _parquet({"messages": ["hello", "world"]}),
            error="row 1, field 'messages': must be a list",
            lenient=(0, 2),
        ),
        Case(
            "messages-json-text.parquet",
            "a messages column holding JSON text",
            "loads",
            lambda: _parquet({"messages": [json.dumps(CHAT["messages"])] * 2}),
            rows=2,
        ),
        Case(
            "messages-list-of-strings.parquet",
            "messages as list<string>",
            "fails",
            lambda: _parquet({"messages": [["Hi", "Hello"]]}),
            error="row 1, field 'messages': message 1 is str",
            lenient=(0, 1),
        ),
        Case(
            "messages-null-row.parquet",
            "messages null in row 2",
            "fails",
            lambda: _parquet({"messages": [CHAT["messages"], None, CHAT["messages"]]}),
            error="row 2, field 'messages': must be a list",
            lenient=(2, 1),
        ),
        Case(
            "empty-table.parquet",
            "a messages column and zero rows",
            "loads",
            lambda: _parquet(
                {"messages": []}, {"messages": pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))}
            ),
            rows=0,
        ),
        Case(
            "odd-metadata.parquet",
            "timestamp, binary, decimal, map and nested metadata columns",
            "loads",
            lambda: _odd_parquet(),
            rows=2,
        ),
        Case("png-renamed.parquet", "a PNG image renamed .parquet", "fails", _png, error="line 1: is a binary file"),
        Case(
            "csv-renamed.parquet",
            "a CSV file renamed .parquet",
            "fails",
            lambda: b"question,answer\nQ,A\n",
            error="not a readable Parquet file",
        ),
    ]


def _odd_parquet() -> bytes:
    import datetime
    import decimal

    import pyarrow as pa

    return _parquet(
        {
            "question": ["Q1", "Q2"],
            "answer": ["A1", "A2"],
            "when": [datetime.datetime(2024, 1, 1), None],
            "blob": [b"\x00\xff", b""],
            "price": [decimal.Decimal("1.10"), decimal.Decimal("-0.01")],
            "tags": [{"a": "1"}, {}],
            "nested": [{"x": [1, 2]}, {"x": []}],
        },
        {"tags": pa.map_(pa.string(), pa.string())},
    )


def _xlsx_cases() -> list[Case]:
    return [
        Case(
            "corrupt.xlsx",
            "a ZIP header followed by garbage",
            "fails",
            lambda: b"PK\x03\x04" + b"\x00garbage" * 50,
            error="not a readable Excel workbook",
        ),
        Case(
            "truncated.xlsx",
            "the first half of a workbook",
            "fails",
            lambda: _qa_xlsx()[: len(_qa_xlsx()) // 2],
            error="not a readable Excel workbook",
        ),
        Case(
            "empty-sheet.xlsx",
            "a workbook whose only sheet is empty",
            "fails",
            lambda: _xlsx({"Sheet1": []}),
            error="no records",
        ),
        Case(
            "empty-first-sheet.xlsx",
            "an empty first sheet, the data on the second",
            "loads",
            lambda: _xlsx({"Notes": [], "Data": [["question", "answer"], ["Q1", "A1"]]}),
            rows=1,
            check=_warns("Data"),
        ),
        Case(
            "header-only.xlsx",
            "a header row and no data",
            "loads",
            lambda: _xlsx({"S": [["question", "answer"]]}),
            rows=0,
        ),
        Case(
            "number-cells.xlsx",
            "numbers and dates as question/answer cells",
            "loads",
            lambda: _xlsx({"S": [["question", "answer"], [42, 3.5], ["When?", "2024-01-01"]]}),
            rows=2,
            check=_texts("user", ["42", "When?"]),
        ),
        Case(
            "blank-row-middle.xlsx",
            "a blank row between data rows (row numbers stay those of the sheet)",
            "loads",
            lambda: _xlsx({"S": [["question", "answer"], ["Q1", "A1"], [None, None], ["Q2", "A2"]]}),
            rows=2,
            check=_source_rows([2, 4]),
        ),
        Case("png-renamed.xlsx", "a PNG image renamed .xlsx", "fails", _png, error="line 1: is a binary file"),
        Case(
            "csv-renamed.xlsx",
            "a CSV file renamed .xlsx",
            "fails",
            lambda: b"question,answer\nQ,A\n",
            error="not a readable Excel workbook",
        ),
        Case(
            "xls-renamed.xlsx",
            "an old binary .xls (OLE2) file renamed .xlsx",
            "fails",
            lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
            error="line 1: is an old Excel .xls",
        ),
    ]


CASES: list[Case] = _jsonl_cases() + _json_cases() + _csv_cases() + _parquet_cases() + _xlsx_cases()


def generate(folder: str | Path, *, big: bool = True) -> list[Case]:
    """Write every hostile file into ``folder`` (``big=False`` skips the tens-of-MB ones); return their cases."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for case in CASES:
        if case.big and not big:
            continue
        (folder / case.name).write_bytes(case.build())
        written.append(case)
    return written


if __name__ == "__main__":
    for case in generate(sys.argv[1] if len(sys.argv) > 1 else "hostile-files"):
        print(f"{case.name:40} {case.outcome:6} {case.about}")
