"""Data measurements (load, validate + tokens, cleaning rules, near-duplicates, regex filter), baselines.

Each function runs in a fresh process (:mod:`bench.worker`), takes the dataset size ("1k", "10k", "100k",
"1M"), does its setup outside the timer and returns ``{"wall_s", "cpu_s", ...figures}`` for the measured part.
"""

from __future__ import annotations

from pathlib import Path

from bench.data import chat_jsonl, multi_turn_jsonl
from bench.harness import timed, timed_call


def _figures(timing, **figures) -> dict:
    return {"wall_s": timing.wall_s, "cpu_s": timing.cpu_s, **figures}


def _frame(size: str):
    from studio.data.loader import load_dataset

    return load_dataset(chat_jsonl(size)).frame


# -- 1. load + canonicalise ---------------------------------------------------------------------------------------


def load_ours(size: str) -> dict:
    from studio.data.loader import load_dataset

    path = chat_jsonl(size)
    result, timing = timed_call(load_dataset, path)
    return _figures(timing, rows=len(result.frame), columns=len(result.frame.columns))


def load_baseline(size: str) -> dict:
    """``pandas.read_json(lines=True)``: the usual one-liner (no canonical columns, no row-level errors)."""
    import pandas as pd

    path = chat_jsonl(size)
    frame, timing = timed_call(pd.read_json, path, lines=True)
    return _figures(timing, rows=len(frame), columns=len(frame.columns))


# -- 2. validate + token statistics -------------------------------------------------------------------------------

MODEL = "gpt-4o-mini"


def tokens_ours(size: str) -> dict:
    """``validate_file`` with 2 workers; the encoding is built before the timer, as for the baseline."""
    from studio.cost.bpe import get_encoding
    from studio.cost.validation import validate_file

    path = chat_jsonl(size)
    _, encoding = timed_call(get_encoding, "o200k_base")
    report, timing = timed_call(validate_file, path, model=MODEL, workers=2)
    counts = report.tokens
    return _figures(
        timing,
        rows=int(report.rows),
        total_tokens=int(sum(counts)),
        findings=len(report.findings),
        workers=2,
        encoding_build_s=encoding.wall_s,
    )


def tokens_baseline(size: str) -> dict:
    """The OpenAI cookbook's chat fine-tuning data check: per-line ``json.loads``, format checks, then a
    ``tiktoken`` loop of 3 tokens per message + every value + 3 per reply (``num_tokens_from_messages``)."""
    import json
    from collections import defaultdict

    from studio.cost.bpe import get_encoding

    path = chat_jsonl(size)
    encoding = get_encoding("o200k_base")  # offline copy; tiktoken.get_encoding would go to the network

    def cookbook() -> tuple[int, int, dict]:
        with open(path, encoding="utf-8") as handle:
            dataset = [json.loads(line) for line in handle]
        errors: dict[str, int] = defaultdict(int)
        for example in dataset:
            if not isinstance(example, dict):
                errors["data_type"] += 1
                continue
            messages = example.get("messages")
            if not messages:
                errors["missing_messages_list"] += 1
                continue
            for message in messages:
                if "role" not in message or "content" not in message:
                    errors["message_missing_key"] += 1
                if any(k not in ("role", "content", "name", "function_call", "weight") for k in message):
                    errors["message_unrecognized_key"] += 1
                if message.get("role") not in ("system", "user", "assistant", "function"):
                    errors["unrecognized_role"] += 1
                content = message.get("content")
                if (not content and not message.get("function_call")) or not isinstance(content, str):
                    errors["missing_content"] += 1
            if not any(m.get("role") == "assistant" for m in messages):
                errors["example_missing_assistant_message"] += 1
        total = too_long = 0
        for example in dataset:
            n = 3
            for message in example.get("messages") or ():
                n += 3
                for key, value in message.items():
                    n += len(encoding.encode(value)) if isinstance(value, str) else 0
                    n += key == "name"
            total += n
            too_long += n > 65536
        return total, too_long, len(dataset), errors

    (total, too_long, rows, errors), timing = timed_call(cookbook)
    return _figures(timing, rows=rows, total_tokens=total, findings=int(sum(errors.values())), too_long=too_long)


# -- 3. cleaning rules --------------------------------------------------------------------------------------------


def rules_ours(size: str) -> dict:
    from studio.quality.rules import RULES, analyze

    frame = _frame(size)
    keys = [rule.key for rule in RULES if rule.key not in ("near_duplicate", "regex")]
    analysis, timing = timed_call(analyze, frame, rules=keys)
    return _figures(timing, rows=len(frame), rules=len(keys), flagged=int(sum(analysis.counts.values())))


def near_ours(size: str) -> dict:
    from studio.quality.near_duplicates import near_duplicate_clusters

    frame = _frame(size)
    clusters, timing = timed_call(near_duplicate_clusters, frame, threshold=0.8)
    return _figures(timing, rows=len(frame), clustered=int(clusters.duplicated(keep=False).sum()))


# -- 3a. whole conversations: `studio analyze` as a process, and the inner steps -------------------------------

NOT_NEAR = ",".join(
    (
        *("empty", "too_short", "truncated", "exact_duplicate", "normalized_duplicate", "duplicate_prompt"),
        *("placeholder", "pii", "blocklist", "uppercase"),
    )
)


def _analyze_process(path: Path, rules: str) -> dict:
    """``studio analyze PATH --rules RULES --json`` in a child process: wall, CPU (user + system) and the
    child's own peak RSS (``ru_maxrss``) as ``/usr/bin/time`` reports them."""
    import json
    import os
    import subprocess
    import sys
    import time

    command = [sys.executable, "-m", "studio.cli", "analyze", str(path), "--rules", rules, "--json"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = process.communicate()
    wall = time.perf_counter() - started
    # communicate() reaped it; its rusage is in RUSAGE_CHILDREN of this (fresh) worker process
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise RuntimeError(f"studio analyze exited {process.returncode}: {err.decode()[-2000:]}")
    report = json.loads(out)
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "process_peak_rss_mb": usage.ru_maxrss / 1024,
        "rows": report["rows"],
        "flagged": int(sum(report["counts"].values())),
        "counts": report["counts"],
        "notes": report.get("notes", {}),
        "cores": os.cpu_count(),
    }


def analyze_multi(size: str) -> dict:
    return _analyze_process(multi_turn_jsonl(size), NOT_NEAR)


def analyze_nearcopy(size: str) -> dict:
    return _analyze_process(multi_turn_jsonl(size, near_copies=True), "near_duplicate")


def rules_multi(size: str) -> dict:
    from studio.data.loader import load_dataset
    from studio.quality.rules import analyze

    frame, load = timed_call(lambda: load_dataset(multi_turn_jsonl(size)).frame)
    analysis, timing = timed_call(analyze, frame, rules=NOT_NEAR.split(","))
    return _figures(timing, rows=len(frame), load_s=load.wall_s, counts=dict(analysis.counts))


def near_nearcopy(size: str) -> dict:
    from studio.data.loader import load_dataset
    from studio.quality.near_duplicates import near_duplicates

    frame, load = timed_call(lambda: load_dataset(multi_turn_jsonl(size, near_copies=True)).frame)
    found, timing = timed_call(near_duplicates, frame, threshold=0.8)
    clusters = found.clusters
    return _figures(
        timing,
        rows=len(frame),
        load_s=load.wall_s,
        clusters=int(clusters.nunique()),
        clustered=int(clusters.duplicated(keep=False).sum()),
        compared=found.compared,
        capped_buckets=found.capped_buckets,
    )


# -- 4. regex filter ----------------------------------------------------------------------------------------------

PATTERN = r"fever|fiebre|\d{3}[- ]?\d{3}"


def regex_ours(size: str) -> dict:
    """The Dataset page's filter (case-insensitive; system, user, assistant): a new pattern on a loaded frame.

    A filter with another pattern runs first, as the page would have on an earlier keystroke; ``cold_s`` is
    that first call (pattern checks, first use of the columns).
    """
    from studio.editing.grid import ViewSpec, filter_rows

    frame = _frame(size)
    _, cold = timed_call(filter_rows, frame, None, ViewSpec(regex="doctor"))
    rows, timing = timed_call(filter_rows, frame, None, ViewSpec(regex=PATTERN))
    return _figures(timing, rows=len(frame), matched=len(rows), cold_s=cold.wall_s)


def regex_baseline(size: str) -> dict:
    """A per-row Python ``re.search`` loop (case-insensitive) over the three text columns."""
    import re

    frame = _frame(size)
    pattern = re.compile(PATTERN, re.IGNORECASE)
    columns = [frame[c].tolist() for c in ("system", "user", "assistant")]
    with timed() as timing:
        rows = [
            i
            for i, texts in enumerate(zip(*columns, strict=True))
            if any(isinstance(t, str) and pattern.search(t) for t in texts)
        ]
    return _figures(timing, rows=len(frame), matched=len(rows))
