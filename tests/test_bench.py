"""The benchmark machinery on a tiny size: it runs, measures in fresh processes and writes its two files.

No timing is asserted anywhere: benchmarks report, they do not pass or fail.
"""

from __future__ import annotations

import json

import pytest

from bench.__main__ import main, select
from bench.calibration import pirate_markers, shows_style
from bench.cases import CASES, GROUPS
from bench.harness import Measured, Sample, run_once, tree_rss_mb
from bench.report import markdown


def test_a_cheap_group_writes_results_md_and_json(tmp_path, capsys):
    assert main(["--only", "regex,rules", "--size", "1k", "--repeat", "1", "--out", str(tmp_path)]) == 0

    document = json.loads((tmp_path / "results.json").read_text())
    assert document["command"] == f"python -m bench --only regex,rules --size 1k --repeat 1 --out {tmp_path}"
    assert document["machine"]["cores"] >= 1 and document["versions"]["pandas"]
    rows = {(r["group"], r["measurement"]): r for r in document["results"]}
    assert {g for g, _ in rows} == {"regex", "rules"} and all(r["size"] == "1k" for r in rows.values())
    regex = rows["regex", "regex filter over system/user/assistant"]
    assert regex["ours"]["rows"] == regex["baseline"]["rows"] == 1000
    assert regex["ours"]["matched"] == regex["baseline"]["matched"]  # RE2 filter and re loop agree
    assert regex["ratio"] > 0 and regex["ours"]["peak_rss_mb"] > 0 and len(regex["load_average"]) == 3
    assert regex["met"] is None  # a smoke size is never judged against the 100k goal

    text = (tmp_path / "RESULTS.md").read_text()
    assert "| group | measurement | size | ours (CPU · peak RSS) | baseline | ratio | goal | met? |" in text
    assert "regex filter over system/user/assistant | 1k" in text and " cores, " in text
    assert "python -m bench --only regex,rules" in text


def test_a_partial_run_keeps_the_other_groups_rows(tmp_path):
    main(["--only", "regex", "--size", "1k", "--repeat", "1", "--out", str(tmp_path)])
    first = json.loads((tmp_path / "results.json").read_text())["results"]
    main(["--only", "rules", "--size", "1k", "--repeat", "1", "--out", str(tmp_path)])
    groups = [r["group"] for r in json.loads((tmp_path / "results.json").read_text())["results"]]
    assert len(first) == 1 and sorted(groups) == ["regex", "rules", "rules"]


def test_selection_by_group_size_and_slowness():
    assert {c.group for c in select(None, False, None)} == set(GROUPS)
    assert all(not c.slow for c in select(None, True, None))
    assert [c.size for c in select("tokens:1M", False, None)] == ["1M"]
    small = select("load,playground", False, "1k")
    assert [c.size for c in small] == [  # 1M and 100k collapse into one
        "1k",
        "20 prompts",
        "20 prompts",
        "2 targets",
        "4 targets",
        "2 × SmolLM2-135M",
        "4 × SmolLM2-135M",
        "4 prompts",
    ]
    with pytest.raises(SystemExit, match="unknown group"):
        select("nope", False, None)


class _Figures(dict):
    """A task's extra figures as a check sees them: any figure a check names reads 0."""

    def __missing__(self, key):
        return 0


def test_every_case_names_a_real_task_and_a_checkable_goal():
    import importlib

    for case in CASES:
        for target in filter(None, (case.ours, case.baseline)):
            module, _, function = target.partition(":")
            assert callable(getattr(importlib.import_module(module), function)), target
        if case.check is not None:
            names = {
                "w": 1.0,
                "c": 1.0,
                "m": 1.0,
                "x": _Figures(),
                "bw": 1.0,
                "bc": 1.0,
                "bm": 1.0,
                "bx": _Figures(),
                "r": 1.0,
            }
            assert isinstance(eval(case.check, {"__builtins__": {}}, names), bool), case.check


def test_a_failing_task_becomes_an_error_row(tmp_path):
    with pytest.raises(RuntimeError, match="exited with"):
        run_once("bench.tasks:no_such_task", "1k")
    from bench import __main__ as cli
    from bench.cases import Case

    broken = Case("regex", "broken", "1k", "bench.tasks:no_such_task", goal="≤ 1 s", check="w <= 1")
    rows = cli.run([broken], repeat=1)
    assert rows[0]["error"].endswith("exited with 1") and rows[0]["met"] is None
    cli.write(rows, tmp_path, "python -m bench")
    assert "| regex | broken | 1k | error: " in (tmp_path / "RESULTS.md").read_text()


def test_checks_see_extra_figures_and_ratio_can_be_a_slowdown():
    from bench.__main__ import _row
    from bench.cases import Case

    def measured(wall, **extra):
        return Measured((Sample(wall_s=wall, cpu_s=wall, process_cpu_s=wall, peak_rss_mb=10, extra=extra),))

    faults = Case("playground", "faults", "20 prompts", "x:y", check="x['lost_rows'] == 0", ratio=None)
    assert _row(faults, measured(1.0, lost_rows=0), None, [])["met"] is True
    assert _row(faults, measured(1.0, lost_rows=2), None, [])["met"] is False
    step = Case("engine", "step", "5 steps", "x:y", "x:z", check="r <= 1.1", ratio="w / bw", ratio_name="ours ÷ bare")
    row = _row(step, measured(1.2), measured(1.0), [])
    assert row["ratio"] == pytest.approx(1.2) and row["met"] is False
    row.update(date="2026-01-01 00:00 UTC", command="python -m bench")
    text = markdown(
        {
            "machine": {"cores": 2, "ram_gb": 1, "cpu": "x", "python": "3", "platform": "p"},
            "versions": {},
            "results": [row],
        }
    )
    assert "1.20× ours ÷ bare" in text and "**NO**" in text


def test_both_sides_can_come_from_one_run_of_a_task():
    """A task that runs both sides in turn (the packing case) gives the baseline's figure under another name."""
    from bench.__main__ import _row
    from bench.cases import Case

    sample = Sample(wall_s=1, cpu_s=1, process_cpu_s=1, peak_rss_mb=10, extra={"fast": 3.0, "slow": 2.0, "r": 1.4})
    one_run = Measured((sample,))
    pair = Case(
        "engine",
        "pairs",
        "1 epoch",
        "x:y",
        "x:y",
        check="r >= 1.3",
        metric="fast",
        baseline_metric="slow",
        ratio="x['r']",
    )
    row = _row(pair, one_run, one_run, [])
    assert (row["value"], row["baseline_value"], row["ratio"], row["met"]) == (3.0, 2.0, 1.4, True)


def test_tree_rss_counts_the_current_process():
    import os

    assert tree_rss_mb(os.getpid()) > 1


def test_style_markers_are_counted_as_words():
    assert pirate_markers("Arr, matey! Ye be fine, aye.") == 4
    assert pirate_markers("Yesterday the array of years was hearty-free") == 1  # whole words only: hearty
    assert not shows_style("To boil an egg, place it in water. Yes, really.")
