"""Property-based tests (hypothesis) of loaders, validators and exporters, beyond the round trips in test_io.py.

Each property says what must hold for any input: loaders raise only LoadError and never lose a row silently,
every encoding we detect gives the same dataset, the validator and token counters never raise on any JSON, and
every export reloads to the same conversations.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re

import orjson
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from studio.cost import tokens
from studio.cost.format_checks import RULES, check_example
from studio.cost.validation import check_examples, validate_bytes
from studio.data.loader import load_dataset
from studio.data.writers import EXPORT_FORMATS, EXPORT_SUFFIX, export_bytes, unrepresentable_rows
from studio.errors import LoadError

pytestmark = pytest.mark.timeout(120)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any text a user can type or paste: no lone surrogates (UTF-8 cannot hold them), everything else allowed,
# including zero-width, bidi controls, U+2028, NEL and C0 controls.
_any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_tricky_text = st.lists(
    st.one_of(
        st.characters(blacklist_categories=("Cs",)),
        st.sampled_from(
            [
                "\u200b",
                "\u200d",
                "\u2060",
                "\ufeff",
                "\u202e",
                "\u2067",
                "\u2069",
                "\u200f",
                "\u2028",
                "\u2029",
                "\x85",
                "\x0c",
                "\x1e",
                "\r",
                "\n",
                "\t",
                "\x00",
                '"',
                "\\",
                "😀",
                "e\u0301",
                "שלום",
                "مرحبا",
                "=1+1",
                "@SUM",
                "-2",
                "+3",
            ]
        ),
    ),
    max_size=12,
).map("".join)
_json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    _tricky_text,
)
_json_value = st.recursive(
    _json_scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_any_text, inner, max_size=4)),
    max_leaves=12,
)
_role = st.one_of(st.sampled_from(["system", "user", "assistant", "tool", "developer"]), _json_value)
_message = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant"]), "content": _tricky_text}),
    st.fixed_dictionaries({"role": _role, "content": _json_value}),
    st.dictionaries(_any_text, _json_value, max_size=4),
)
_chat = st.fixed_dictionaries({"messages": st.lists(_message, min_size=1, max_size=4)})


def _line(value) -> bytes:
    return orjson.dumps(value) + b"\n"


def _nonblank(data: bytes) -> int:
    return sum(1 for line in data.splitlines() if line.removeprefix(codecs.BOM_UTF8).strip())


# ---------------------------------------------------------------------------------------------- loaders


@FAST
@given(
    data=st.binary(max_size=300),
    suffix=st.sampled_from([".jsonl", ".json", ".csv", ".tsv", ".parquet", ".xlsx", ".txt", ""]),
)
def test_any_bytes_load_or_raise_load_error(data, suffix):
    for lenient in (False, True):
        try:
            result = load_dataset(f"x{suffix}", data=data, lenient=lenient)
        except LoadError as exc:
            assert "\n" not in str(exc)
            continue
        assert result.source_rows == len(result.frame) + len(result.rejects)


# One JSONL line: a chat example, any JSON value, text that is not JSON, a blank line, or a cut-off line.
_jsonl_line = st.one_of(
    _chat.map(_line),
    _json_value.map(_line),
    _tricky_text.map(lambda t: t.replace("\n", " ").replace("\r", " ").encode() + b"\n"),
    st.sampled_from([b"\n", b"  \n", b"\r\n"]),
    _chat.map(lambda c: _line(c)[: max(1, len(_line(c)) // 2)] + b"\n"),
)


@FAST
@given(lines=st.lists(_jsonl_line, min_size=1, max_size=12))
def test_lenient_jsonl_loses_no_row(lines):
    data = b"".join(lines)
    assume(_nonblank(data))
    try:
        result = load_dataset("x.jsonl", data=data, lenient=True)
    except LoadError:  # nothing parsed at all, or no recognisable format: one line, never a traceback
        return
    assert len(result.frame) + len(result.rejects) == _nonblank(data)
    rows = sorted([*result.frame["source_row"], *(r.row for r in result.rejects)])
    assert rows == sorted(set(rows))


@FAST
@given(lines=st.lists(_jsonl_line, min_size=1, max_size=12))
def test_strict_jsonl_loads_every_row_or_raises(lines):
    data = b"".join(lines)
    try:
        result = load_dataset("x.jsonl", data=data)
    except LoadError as exc:
        assert "\n" not in str(exc)
        return
    assert len(result.frame) == _nonblank(data) and not result.rejects


@FAST
@given(
    examples=st.lists(_chat, min_size=1, max_size=4),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"]),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
)
def test_every_detected_encoding_and_line_ending_gives_the_same_dataset(examples, encoding, newline):
    text = "".join(orjson.dumps(e).decode() + newline for e in examples)
    expected = load_dataset("x.jsonl", data=text.encode()).frame["messages"].tolist()
    result = load_dataset("x.jsonl", data=text.encode(encoding))
    assert result.frame["messages"].tolist() == expected
    assert result.frame["source_row"].tolist() == list(range(1, len(examples) + 1))


@FAST
@given(
    rows=st.lists(
        st.tuples(_tricky_text.filter(lambda t: "\x00" not in t), _tricky_text.filter(lambda t: "\x00" not in t)),
        min_size=1,
        max_size=6,
    ),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
)
def test_csv_cells_load_unchanged(rows, delimiter):
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(["question", "answer"])
    writer.writerows(rows)
    data = buffer.getvalue().encode()
    result = load_dataset("x.csv", data=data)
    assert result.delimiter == delimiter
    assert [(r.user, r.assistant) for r in result.frame.itertuples()] == rows


# ---------------------------------------------------------------------------------------------- validators


@FAST
@given(example=_json_value | _chat)
def test_check_example_never_raises_and_reports_known_keys_once(example):
    findings = check_example(example)
    keys = [key for key, _ in findings]
    assert set(keys) <= set(RULES) and len(keys) == len(set(keys))
    assert all(isinstance(message, str) and message for _, message in findings)


@FAST
@given(example=_json_value | _chat, mode=st.sampled_from(["exact", "cookbook"]))
def test_token_counting_never_raises(example, mode):
    # Every JSON value, not only objects: a line of a JSONL file may hold a list, a string or null.
    count = tokens.count_example_tokens(example, mode=mode)
    assert isinstance(count, int) and count >= 0
    report = check_examples([example], mode=mode, workers=1)
    assert report.rows == 1
    assert report.tokens[0] == tokens.count_example_tokens(example, encoding=report.encoding, mode=mode)


@FAST
@given(data=st.one_of(st.binary(max_size=300), st.lists(_jsonl_line, max_size=8).map(b"".join)))
def test_validate_bytes_never_raises_and_names_every_bad_line(data):
    report = validate_bytes(data, workers=1)
    lines = data.removeprefix(codecs.BOM_UTF8).split(b"\n")
    nonblank = [i for i, line in enumerate(lines, 1) if line and not line.isspace()]
    assert report.rows == len(nonblank)
    bad = {i for i in nonblank if not _parses(lines[i - 1])}
    findings = report.findings
    flagged = findings[(findings["key"] == "data_type") & findings["message"].str.match(r"line \d+ is ")]
    assert set(flagged["row"].astype(int)) == bad
    for row, message in zip(flagged["row"], flagged["message"], strict=True):
        assert message.startswith(f"line {row} is ")


def _parses(line: bytes) -> bool:
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    text = line.decode("utf-8", "replace")
    return not (text.count("[") + text.count("{") > 200 and _depth(value) > 200)


def _depth(value) -> int:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


# ---------------------------------------------------------------------------------------------- exporters


@FAST
@given(
    examples=st.lists(_chat, min_size=1, max_size=4),
    to=st.sampled_from(EXPORT_FORMATS),
    system=st.one_of(st.none(), _tricky_text),
)
def test_every_export_reloads_with_the_same_number_of_rows(examples, to, system):
    frame = load_dataset("x.jsonl", data=b"".join(_line(e) for e in examples)).frame
    # A conversation a single-turn format cannot hold is skipped only when asked, and counted (never cut short).
    skipped = unrepresentable_rows(frame, to=to)
    data = export_bytes(frame, to=to, system_prompt=system, skip_unrepresentable=True)
    if len(skipped) == len(frame):
        assert data.strip() in (b"", b"[]")
        return
    again = load_dataset(f"out{EXPORT_SUFFIX[to]}", data=data, lenient=True)
    assert len(again.frame) + len(again.rejects) == len(frame) - len(skipped)


@FAST
@given(examples=st.lists(_chat, min_size=1, max_size=4), to=st.sampled_from(["openai-chat", "csv", "parquet"]))
@example(examples=[{"messages": [{"role": "system", "content": "\r"}]}], to="csv")  # was written unquoted
def test_lossless_exports_keep_every_conversation_exactly(examples, to):
    frame = load_dataset("x.jsonl", data=b"".join(_line(e) for e in examples)).frame
    again = load_dataset(f"out{EXPORT_SUFFIX[to]}", data=export_bytes(frame, to=to)).frame
    assert again["messages"].tolist() == frame["messages"].tolist()


@FAST
@given(examples=st.lists(_chat, min_size=1, max_size=4))
def test_openai_export_is_valid_jsonl_the_validator_reads_row_for_row(examples):
    frame = load_dataset("x.jsonl", data=b"".join(_line(e) for e in examples)).frame
    data = export_bytes(frame, to="openai-chat")
    assert data.decode("utf-8").count("\n") == len(frame)
    assert [json.loads(line) for line in data.splitlines()] == [{"messages": m} for m in frame["messages"]]
    report = validate_bytes(data, workers=1)
    assert report.rows == len(frame)
    assert not (report.findings["message"].str.contains("is not valid JSON")).any()


@FAST
@given(cells=st.lists(_tricky_text, min_size=2, max_size=2))
@example(cells=["\r", ""])
def test_csv_export_neutralises_every_formula_start(cells):
    frame = load_dataset(
        "x.jsonl",
        data=_line({"messages": [{"role": "user", "content": cells[0]}, {"role": "assistant", "content": cells[1]}]}),
    ).frame
    table = list(csv.reader(io.StringIO(export_bytes(frame, to="csv").decode(), newline="")))
    header, row = table[0], table[1]
    for column in ("user", "assistant"):
        value = row[header.index(column)]
        assert not re.match(r"[=+\-@\t\r]", value), value
