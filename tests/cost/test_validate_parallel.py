"""The parallel file scan gives what a plain sequential reading gives: same rows, tokens, findings, verdict.

The reference reads the file the simplest way (``json.loads`` per line, ``check_example``, tiktoken on every whole
text), so a fault in the byte ranges, the workers, the word memo or the compact findings shows up as a difference.
"""

import json

import pandas as pd
import pytest

from studio.cost import tokens
from studio.cost import validation as validate
from studio.cost.bpe import get_encoding
from studio.cost.format_checks import check_example
from studio.cost.validation import validate_file

SYSTEM = {"role": "system", "content": "You are a careful clinic assistant."}
GOOD = {
    "messages": [
        SYSTEM,
        {"role": "user", "content": "How much water should I drink each day?"},
        {"role": "assistant", "content": "About two litres for most adults, more in hot weather."},
    ]
}
NO_SYSTEM = {
    "messages": [{"role": "user", "content": "Fever  and\tchills?"}, {"role": "assistant", "content": "Rest.\nDrink."}]
}
EMPTY_ANSWER = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}]}
TOOLS = {
    "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "Sunny"},
        {"role": "assistant", "content": [{"type": "text", "text": "It is sunny."}], "weight": 1},
    ],
    "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
}
HUGE = {"messages": [SYSTEM, {"role": "user", "content": "word " * 30_000}, {"role": "assistant", "content": "ok"}]}
DEEP = b'{"messages": ' + b"[" * 250 + b"]" * 250 + b"}"


def _lines(repeat: int) -> list[bytes]:
    records = [GOOD, NO_SYSTEM, EMPTY_ANSWER, TOOLS, ["not", "an", "object"], {"prompt": "x"}]
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in records]
    lines += [b"", b"   ", b"{not json", DEEP, json.dumps(HUGE).encode(), "ünïcödé 🙂".encode()]
    return lines * repeat


def _reference(path) -> tuple[list[int], list[int], list[tuple[int, str, str]]]:
    """(line of each example, its tokens, (line, key, message) findings) read the plain way."""
    encoding = get_encoding("o200k_base")
    count = tokens.example_counter(encoding=lambda text: len(encoding.encode_ordinary(text)))
    text = path.read_bytes().decode("utf-8-sig")
    rows, counts, findings = [], [], []
    for line_number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        rows.append(line_number)
        try:
            example = json.loads(line)
        except ValueError:
            findings.append((line_number, "data_type", "not JSON"))
            counts.append(0)
            continue
        if line.count("[") + line.count("{") > 200:
            findings.append((line_number, "data_type", "too deep"))
            counts.append(0)
            continue
        findings += [(line_number, key, message) for key, message in check_example(example)]
        counts.append(count(example))
    return rows, counts, findings


def _write(path, lines: list[bytes], *, newline: bytes = b"\n", bom: bool = False, final_newline: bool = True):
    data = newline.join(lines) + (newline if final_newline else b"")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


@pytest.mark.parametrize(
    "shape",
    [
        {},
        {"newline": b"\r\n"},
        {"bom": True},
        {"final_newline": False},
        {"newline": b"\r\n", "bom": True, "final_newline": False},
    ],
    ids=["lf", "crlf", "bom", "no-final-newline", "crlf-bom-no-final-newline"],
)
def test_parallel_scan_equals_sequential_reference(tmp_path, monkeypatch, shape):
    path = _write(tmp_path / "data.jsonl", _lines(40), **shape)
    rows, counts, findings = _reference(path)
    sequential = validate_file(path, model="gpt-4o-mini", workers=1)
    monkeypatch.setattr(validate, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(validate, "_PART_BYTES", 8192)  # many ranges, cut inside the huge lines' neighbourhood
    parallel = validate_file(path, model="gpt-4o-mini", workers=2)
    for report in (sequential, parallel):
        assert report.rows == len(rows)
        assert report.tokens.tolist() == counts
        per_row = report.findings.dropna(subset=["row"])
        per_row = per_row[per_row["key"] != "over_token_limit"]
        assert per_row["row"].tolist() == [row for row, _, _ in findings]
        assert per_row["key"].tolist() == [key for _, key, _ in findings]
        ours = [m for m, k in zip(per_row["message"], per_row["key"], strict=True) if k != "data_type"]
        assert ours == [m for _, k, m in findings if k != "data_type"]
    pd.testing.assert_frame_equal(parallel.findings, sequential.findings)
    assert parallel.summary() == sequential.summary()
    assert parallel.ok is sequential.ok is False
    assert sequential.errors["missing_content"] == 40
    assert sequential.errors["data_type"] == 40 * 4  # a list, two lines that are not JSON, one too deep


def test_bad_lines_keep_their_file_line_numbers_across_ranges(tmp_path, monkeypatch):
    path = _write(tmp_path / "data.jsonl", _lines(30), newline=b"\r\n", bom=True)
    monkeypatch.setattr(validate, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(validate, "_PART_BYTES", 4096)
    report = validate_file(path, workers=2)
    bad = report.findings[report.findings["message"].str.contains("not valid JSON")]
    assert bad["row"].tolist() == sorted([9 + 12 * k for k in range(30)] + [12 + 12 * k for k in range(30)])
    assert all(m.startswith(f"line {row} is not valid JSON") for row, m in zip(bad["row"], bad["message"], strict=True))


def test_summary_without_findings_frame_imports_no_pandas(tmp_path):
    """The CLI's fast path: a report's counts need no pandas; the findings frame is built when read."""
    import subprocess
    import sys

    path = _write(tmp_path / "data.jsonl", _lines(2))
    probe = (
        "import sys\n"
        "from studio.cost.validation import validate_file\n"
        "from studio.cost.estimate import estimate_cost\n"
        f"report = validate_file({str(path)!r}, model='gpt-4o-mini')\n"
        "estimate_cost(report.tokens, model='gpt-4o-mini')\n"
        "print(report.summary()['errors'], 'pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert out.strip().endswith("False")
