"""Moderation pre-check: find the examples that would make OpenAI reject a whole training file.

OpenAI rejects a training file when too many examples fail moderation, without saying which. With an API client,
:func:`moderate_rows` sends the rows' text to the moderation endpoint in batches (retrying rate limits, timeouts
and server errors) and flags each row. Without one, :func:`blocklist_rows` applies the offline EN/ES blocklist
of the ``blocklist`` rule (:func:`studio.quality.pattern_rules.blocklist_words`): a much weaker check, and the
report says so.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from studio.core.chat import content_text
from studio.errors import ModerationError
from studio.providers.retry import RetryPolicy, explain_error

if TYPE_CHECKING:
    import openai

MODERATION_MODEL = "omni-moderation-latest"
Source = Literal["openai", "blocklist"]
RESULT_COLUMNS = ("row", "flagged", "categories")


@dataclass(frozen=True)
class ModerationReport:
    """Which rows were flagged, and by what: the OpenAI endpoint or the offline blocklist."""

    source: Source
    rows: int
    flagged: int
    results: pd.DataFrame = field(repr=False, compare=False)  # row (1-based), flagged, categories


def example_texts(examples: Iterable[Mapping[str, Any]]) -> list[str]:
    """One text per example: every message's content, one per line (what moderation should see)."""
    out = []
    for example in examples:
        messages = example.get("messages") if isinstance(example, Mapping) else None
        lines = [content_text(m.get("content")) for m in messages or [] if isinstance(m, Mapping)]
        out.append("\n".join(line for line in lines if line))
    return out


def _frame(flags: Sequence[bool], categories: Sequence[str], rows: Sequence[int] | None) -> pd.DataFrame:
    if rows is not None and len(rows) != len(flags):
        raise ValueError(f"{len(rows)} row numbers for {len(flags)} texts")
    return pd.DataFrame(
        {
            "row": pd.array(range(1, len(flags) + 1) if rows is None else list(rows), dtype="Int64"),
            "flagged": pd.array(flags, dtype="boolean"),
            "categories": pd.array(categories, dtype="string"),
        },
        columns=list(RESULT_COLUMNS),
    )


def moderate_rows(
    client: openai.OpenAI,
    texts: Sequence[str],
    *,
    rows: Sequence[int] | None = None,
    batch_size: int = 32,
    on_progress: Callable[[float], object] | None = None,
    model: str = MODERATION_MODEL,
    max_retries: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """Flag each text with ``client.moderations.create`` (an ``openai.OpenAI``), ``batch_size`` texts a call.

    Retried ``max_retries`` times under the one provider policy (:mod:`studio.providers.retry`: rate limits,
    timeouts, 408/409/5xx; Retry-After honoured, else backoff with jitter; a quota 429 never); other API errors (a
    bad key) stop at once. Empty texts are not sent and never flagged. ``rows`` labels the results
    (default 1, 2, …).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if rows is not None and len(rows) != len(texts):
        raise ValueError(f"{len(rows)} row numbers for {len(texts)} texts")
    import openai

    client = client.with_options(max_retries=0)  # the policy below counts the retries
    policy = RetryPolicy(max_attempts=max_retries + 1)
    flags = [False] * len(texts)
    categories = [""] * len(texts)
    todo = [i for i, text in enumerate(texts) if text and text.strip()]
    batches = [todo[start : start + batch_size] for start in range(0, len(todo), batch_size)]
    for done, batch in enumerate(batches, 1):
        labels = [i + 1 for i in batch] if rows is None else [rows[i] for i in batch]
        span = f"rows {labels[0]}-{labels[-1]}"
        attempts = [0]

        def request(batch: list[int] = batch, attempts: list[int] = attempts) -> Any:
            attempts[0] += 1
            return client.moderations.create(model=model, input=[texts[i] for i in batch])

        try:
            response = policy.call(request, sleep=sleep)
        except openai.APIError as exc:
            tries = f" after {attempts[0]} attempts" if attempts[0] > 1 else ""
            raise ModerationError(f"moderation of {span} failed{tries}: {explain_error(exc)}") from None
        if len(response.results) != len(batch):
            raise ModerationError(f"moderation of {span}: {len(response.results)} results for {len(batch)} texts")
        for i, result in zip(batch, response.results, strict=True):
            flags[i] = bool(result.flagged)
            named = result.categories.model_dump(by_alias=True)
            categories[i] = ", ".join(sorted(name for name, hit in named.items() if hit))
        if on_progress:
            on_progress(done / len(batches))
    if on_progress and not batches:
        on_progress(1.0)
    return _frame(flags, categories, rows)


@cache
def _blocklist_regex(languages: tuple[str, ...]) -> re.Pattern[str]:
    from studio.quality.pattern_rules import blocklist_words

    words = sorted({w.lower() for lang in languages for w in blocklist_words(lang)}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(w) for w in words) + r")(?!\w)", re.IGNORECASE)


def blocklist_rows(
    texts: Sequence[str], *, rows: Sequence[int] | None = None, languages: Sequence[str] = ("en", "es")
) -> pd.DataFrame:
    """Offline fallback: flag texts containing a blocklisted word; ``categories`` names the first word found."""
    pattern = _blocklist_regex(tuple(languages))
    flags, categories = [], []
    for text in texts:
        match = pattern.search(text or "")
        flags.append(match is not None)
        categories.append(f"blocklist: {match.group(1).lower()}" if match else "")
    return _frame(flags, categories, rows)


def moderate(
    texts: Sequence[str],
    *,
    rows: Sequence[int] | None = None,
    client: openai.OpenAI | None = None,
    batch_size: int = 32,
    on_progress: Callable[[float], object] | None = None,
) -> ModerationReport:
    """Moderate with OpenAI when a ``client`` is given, else with the offline blocklist (``source`` says which)."""
    if client is None:
        results = blocklist_rows(texts, rows=rows)
        if on_progress:
            on_progress(1.0)
        source: Source = "blocklist"
    else:
        results = moderate_rows(client, texts, rows=rows, batch_size=batch_size, on_progress=on_progress)
        source = "openai"
    return ModerationReport(source=source, rows=len(texts), flagged=int(results["flagged"].sum()), results=results)
