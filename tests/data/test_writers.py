"""csv_bytes, the one CSV writer: formula-looking cells neutralised, line breaks inside cells kept in one row."""

import csv
import io

import pandas as pd
import pytest

from studio.data.frame import build_frame
from studio.data.writers import NON_TEXT, csv_bytes, export_bytes, keep_formats, unrepresentable_message


def _rows(data: bytes) -> list[list[str]]:
    """The CSV as a spreadsheet reads it (RFC 4180: quoted fields may hold line breaks)."""
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


@pytest.mark.parametrize(
    "cell",
    ["=cmd|' /C calc'!A0", "=1+1", "+1+1", "-1+1", "@SUM(A1)", "\t=1+1", "\r=1+1"],
    ids=["=cmd", "=", "+", "-", "@", "tab", "CR"],
)
def test_a_cell_a_spreadsheet_would_run_is_prefixed_with_a_quote(cell):
    rows = _rows(csv_bytes(pd.DataFrame({"answer": [cell], "safe": ["a = b"]})))
    assert rows == [["answer", "safe"], ["'" + cell, "a = b"]]


def test_a_header_a_spreadsheet_would_run_is_prefixed_too():
    assert _rows(csv_bytes(pd.DataFrame({"=HYPERLINK(x)": ["v"]})))[0] == ["'=HYPERLINK(x)"]


@pytest.mark.parametrize("newline", ["\r", "\n", "\r\n"], ids=["CR", "LF", "CRLF"])
def test_a_line_break_inside_a_cell_is_quoted_so_the_row_stays_one_row(newline):
    cell = f"first line{newline}=1+1 on the second"
    data = csv_bytes(pd.DataFrame({"answer": [cell, "next"], "n": [1, 2]}))
    assert data.endswith(b"\r\n") and data.count(b"\r\n") == 3 + (newline == "\r\n")
    assert _rows(data) == [["answer", "n"], [cell, "1"], ["next", "2"]]


def test_missing_values_are_empty_cells_and_numbers_stay_numbers():
    rows = _rows(csv_bytes(pd.DataFrame({"a": [None, "x"], "b": [float("nan"), -2.5]})))
    assert rows == [["a", "b"], ["", ""], ["x", "-2.5"]]


def test_the_dataset_csv_export_goes_through_the_same_writer():
    frame = build_frame(
        [{"messages": [{"role": "user", "content": "=1+1"}, {"role": "assistant", "content": "two\rlines"}]}], [1]
    )
    rows = _rows(export_bytes(frame, to="csv"))
    header, row = rows
    assert len(rows) == 2
    assert row[header.index("user")] == "'=1+1" and row[header.index("assistant")] == "two\rlines"


def test_the_compare_results_export_goes_through_the_same_writer():
    from studio.playground.compare import export_results

    frame = pd.DataFrame({"prompt": ["@mention"], "answer": ["a\rb"]})
    assert export_results(frame, "csv") == csv_bytes(frame)
    assert _rows(export_results(frame, "csv")) == [["prompt", "answer"], ["'@mention", "a\rb"]]


def test_refused_rows_are_grouped_by_their_own_reason():
    rows = [(0, "it has tool calls"), (1, "it has tool calls"), (2, "it does not end with an assistant answer")]
    rows += [(i, "it has tool calls") for i in range(3, 9)]
    assert unrepresentable_message(rows, "alpaca") == (
        "9 rows cannot be written as alpaca (ids 0, 1, 3, 4, 5, …: it has tool calls; "
        "id 2: it does not end with an assistant answer)"
    )


@pytest.mark.parametrize(
    "to,reasons,keep",
    [
        ("alpaca", ["it has tool calls"], ["openai-chat", "sharegpt"]),
        ("alpaca", ["it has tool calls", NON_TEXT], ["openai-chat"]),  # sharegpt cannot hold the image either
        ("sharegpt", [NON_TEXT], ["openai-chat"]),  # never the format just refused
        ("prompt-completion", ["it has 2 rounds and the format holds one"], ["openai-chat", "sharegpt"]),
    ],
)
def test_the_formats_offered_instead_hold_every_refused_row(to, reasons, keep):
    assert keep_formats(list(enumerate(reasons)), to) == keep
