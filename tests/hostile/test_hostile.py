"""Every hostile file either loads correctly or fails with one line naming the file and line/row: never a traceback,
never a hang, never a silently lost row. Cases and expected outcomes are in tests/hostile/generate.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from studio.cli import main
from studio.cost.validation import validate_file
from studio.data.encodings import SNIFF_BYTES, detect_encoding
from studio.data.loader import LoadResult, load_dataset
from studio.data.writers import EXPORT_FORMATS, EXPORT_SUFFIX, export_bytes
from studio.errors import LoadError
from tests.hostile.generate import CASES, WIDE, Case, generate

ROOT = Path(__file__).resolve().parents[2]
BY_NAME = {case.name: case for case in CASES}
LOADS = [case for case in CASES if case.outcome == "loads"]
JSONL = [case for case in CASES if case.container == "jsonl"]
# A handful run through a real `studio inspect` process: one per kind of outcome.
SUBPROCESS = [
    "truncated-last-line.jsonl",
    "zip-renamed.jsonl",
    "lone-high-surrogate.jsonl",
    "png-renamed.csv",
    "truncated.parquet",
    "empty-sheet.xlsx",
    "utf16le-no-bom.jsonl",
    "zero-width-rtl.jsonl",
]
_NEWLINES = re.compile(r"\r\n|\r|\n")


def _ids(cases: list[Case]) -> list[str]:
    return [case.name for case in cases]


def _timeout(case: Case) -> pytest.MarkDecorator:
    return pytest.mark.timeout(120 if case.big else 60)  # hang guards; load times are asserted separately


def _params(cases: list[Case]) -> list:
    return [pytest.param(case, id=case.name, marks=_timeout(case)) for case in cases]


@pytest.fixture(scope="session")
def hostile_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    generate(folder)
    return folder


def _nonblank_lines(data: bytes) -> int:
    """What "rows in" means for JSONL: lines with any non-whitespace (a lone BOM counts as blank)."""
    text = data.decode(detect_encoding(data), errors="replace")
    return sum(1 for line in _NEWLINES.split(text) if line.replace("\ufeff", "").strip())


def _assert_one_line(message: str, case: Case) -> None:
    assert "\n" not in message and "\r" not in message, message
    assert "Traceback" not in message
    assert message.startswith(case.name), message


def _load(path: Path, *, lenient: bool) -> tuple[LoadResult | None, LoadError | None, float]:
    start = time.perf_counter()
    try:
        return load_dataset(path, lenient=lenient), None, time.perf_counter() - start
    except LoadError as exc:
        return None, exc, time.perf_counter() - start


# ---------------------------------------------------------------------------------------------- the catalogue


def test_catalogue_covers_every_loader_and_the_issue_list():
    assert len(CASES) >= 50
    assert len(BY_NAME) == len(CASES), "case names must be unique"
    assert {case.container for case in CASES} >= {"jsonl", "json", "csv", "tsv", "parquet", "xlsx"}
    for case in CASES:
        assert case.outcome in ("loads", "fails")
        assert (case.rows is not None) == (case.outcome == "loads"), case.name
        assert bool(case.error) == (case.outcome == "fails"), case.name
    # The wide file still crosses the limit it was made for: a header longer than what detection reads.
    header = BY_NAME["1k-columns.csv"].build().split(b"\n", 1)[0]
    assert header.count(b",") + 1 == WIDE and len(header) > SNIFF_BYTES


def test_readme_lists_every_case():
    readme = (Path(__file__).parent / "README.md").read_text()
    missing = [case.name for case in CASES if f"`{case.name}`" not in readme]
    assert not missing, f"add to tests/hostile/README.md: {missing}"


def test_generate_writes_every_file(tmp_path):
    written = generate(tmp_path, big=False)
    assert [case.name for case in written] == [case.name for case in CASES if not case.big]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(case.name for case in written)


# ---------------------------------------------------------------------------------------------- loaders


@pytest.mark.parametrize("case", _params(CASES))
def test_strict_load_loads_or_fails_with_one_line(case, hostile_dir):
    path = hostile_dir / case.name
    result, error, seconds = _load(path, lenient=False)
    assert seconds < (20 if case.big else 10), f"took {seconds:.1f}s"
    if case.outcome == "fails":
        assert error is not None, f"loaded {len(result.frame)} rows; expected: {case.error}"
        _assert_one_line(str(error), case)
        assert case.error in str(error)
        return
    assert error is None, str(error)
    assert len(result.frame) == case.rows
    assert not result.rejects
    if case.container == "jsonl":  # rows in = rows out
        assert len(result.frame) == _nonblank_lines(path.read_bytes())
    assert result.frame["source_row"].is_unique
    if case.check:
        case.check(result)


@pytest.mark.parametrize("case", _params(CASES))
def test_lenient_load_sets_bad_rows_aside_and_loses_none(case, hostile_dir):
    path = hostile_dir / case.name
    result, error, _ = _load(path, lenient=True)
    if case.outcome == "fails" and case.lenient is None:
        assert error is not None, "the whole file is unreadable: lenient mode must say so too"
        _assert_one_line(str(error), case)
        return
    assert error is None, str(error)
    expected = (case.rows, 0) if case.outcome == "loads" else case.lenient
    assert (len(result.frame), len(result.rejects)) == expected
    if case.container == "jsonl":  # rows in = rows out + rows reported
        assert len(result.frame) + len(result.rejects) == _nonblank_lines(path.read_bytes())
    assert result.source_rows == len(result.frame) + len(result.rejects)
    taken = set(result.frame["source_row"]) | {reject.row for reject in result.rejects}
    assert len(taken) == result.source_rows, "a row was both loaded and rejected, or rejected twice"
    for reject in result.rejects:
        assert reject.row >= 1 and reject.message and "\n" not in reject.message
        assert len(reject.raw) <= 500


@pytest.mark.parametrize("case", _params([case for case in LOADS if not case.big]))
def test_loaded_file_exports_to_every_format_and_reloads_unchanged(case, hostile_dir):
    frame = load_dataset(hostile_dir / case.name).frame
    for to in EXPORT_FORMATS:
        data = export_bytes(frame, to=to, skip_unrepresentable=True)  # single-turn formats skip tool-call rows
        if to in ("openai-chat", "parquet", "csv") and len(frame):  # the lossless ones
            again = load_dataset(f"export{EXPORT_SUFFIX[to]}", data=data).frame
            assert again["messages"].tolist() == frame["messages"].tolist(), to


def test_a_wide_file_is_loaded_and_exported_without_growing_a_frame_column_by_column(hostile_dir, monkeypatch):
    """What made 10,000 columns a near-hang (6 s to load, minutes to export): frames grown or retyped one column
    at a time, quadratic in the columns. Counted rather than timed, so 1,000 columns prove it."""
    from pandas.core.internals.managers import BlockManager

    calls: list[str] = []
    for name in ("insert", "iset"):  # a new column; a replaced one
        real = getattr(BlockManager, name)
        monkeypatch.setattr(
            BlockManager,
            name,
            lambda self, *a, _real=real, _name=name, **k: calls.append(_name) or _real(self, *a, **k),
        )
    probe = pd.DataFrame({"a": [1]})
    probe["b"], probe["a"] = [2], [3]
    assert calls == ["insert", "iset"], "the probe no longer sees pandas add or replace a column"
    calls.clear()
    frame = load_dataset(hostile_dir / "1k-columns.csv").frame
    for to in EXPORT_FORMATS:
        data = export_bytes(frame, to=to, skip_unrepresentable=True)
        if to in ("openai-chat", "parquet", "csv"):
            load_dataset(f"export{EXPORT_SUFFIX[to]}", data=data)
    assert len(calls) < 10, f"{len(calls)} column-by-column frame changes for {WIDE} columns"


def test_50mb_line_loads_in_bounded_time_and_memory(hostile_dir):
    """In a fresh process, so the peak RSS is this load's alone: VmHWM of its own memory (getrusage's ru_maxrss
    also counts the pytest process it was spawned from, which is 1.5 GB late in a full run)."""
    code = (
        "import re, sys, time; from studio.data.loader import load_dataset; t = time.perf_counter(); "
        "r = load_dataset(sys.argv[1]); "
        "print(len(r.frame), len(r.frame.assistant[0]), time.perf_counter() - t, "
        "int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) // 1024)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(hostile_dir / "50mb-line.jsonl")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows, length, seconds, peak_mb = done.stdout.split()
    assert (int(rows), int(length)) == (1, 27 * (50 * 1024 * 1024 // 27))
    assert float(seconds) < 10
    assert int(peak_mb) < 1500, f"peak {peak_mb} MB for a 50 MB file"


# ---------------------------------------------------------------------------------------------- validator


def _bad_json_lines(case: Case) -> list[int]:
    match = re.match(r"line (\d+): not valid JSON", case.error)
    return [int(match.group(1))] if match else []


@pytest.mark.parametrize("case", _params([case for case in JSONL if not case.big]))
def test_validate_file_never_crashes_and_names_bad_lines(case, hostile_dir):
    report = validate_file(hostile_dir / case.name, workers=1)
    findings = report.findings
    assert (findings["message"].str.contains("\n")).sum() == 0
    data_type = findings[findings["key"] == "data_type"]
    for number in _bad_json_lines(case):
        assert (data_type["row"] == number).any(), data_type
        assert data_type[data_type["row"] == number]["message"].iloc[0].startswith(f"line {number} is not valid JSON")


def test_validate_flags_numbers_as_content(hostile_dir):
    findings = validate_file(hostile_dir / "content-number.jsonl").findings
    assert findings[findings["key"] == "missing_content"]["message"].tolist() == [
        "messages[1]: content is int, expected text or a list of parts (and 1 more)"
    ]


def test_validate_rejects_lone_surrogates_and_deep_nesting_like_the_loader(hostile_dir):
    for name, line, fragment in (
        ("lone-high-surrogate.jsonl", 2, "surrogate"),
        ("nesting-1000.jsonl", 2, "nested deeper than 200 levels"),
    ):
        findings = validate_file(hostile_dir / name).findings
        bad = findings[(findings["key"] == "data_type") & (findings["row"] == line)]
        assert len(bad) == 1 and fragment in bad["message"].iloc[0]


@pytest.mark.timeout(60)
def test_validate_a_5mb_single_line_in_bounded_time(tmp_path):
    path = tmp_path / "long.jsonl"
    words = "the quick brown fox jumps over the lazy dog " * (5 * 1024 * 1024 // 44)
    path.write_text(
        json.dumps({"messages": [{"role": "user", "content": "Summarise"}, {"role": "assistant", "content": words}]})
        + "\n"
    )
    start = time.perf_counter()
    report = validate_file(path, model="gpt-4o-mini")
    assert time.perf_counter() - start < 30
    assert report.rows == 1 and report.tokens[0] > 1_000_000
    assert "over_token_limit" in report.warnings


# ---------------------------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("case", _params(CASES))
def test_cli_inspect_exits_0_or_2_with_one_line(case, hostile_dir, capsys):
    path = str(hostile_dir / case.name)
    for flags in ([], ["--lenient"], ["--json"]):
        code = main(["inspect", path, *flags])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        if case.outcome == "loads" or (flags == ["--lenient"] and case.lenient is not None):
            assert code == 0, err
            assert not err
        elif flags != ["--lenient"]:
            assert code == 2
        if code == 2:
            assert err.count("\n") == 1 and err.startswith(f"error: {case.name}"), err
            assert not out
    if case.outcome == "loads":
        report = json.loads(out)
        assert report["rows"] == case.rows


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", SUBPROCESS)
def test_cli_inspect_in_a_real_process(name, hostile_dir):
    case = BY_NAME[name]
    done = subprocess.run(
        [sys.executable, "-m", "studio.cli", "inspect", str(hostile_dir / name)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert "Traceback" not in done.stderr
    if case.outcome == "loads":
        assert done.returncode == 0 and not done.stderr
        assert f"{case.rows} rows" in done.stdout
    else:
        assert done.returncode == 2
        assert len(done.stderr.splitlines()) == 1 and case.error in done.stderr
