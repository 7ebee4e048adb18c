"""Playground test sets: each row becomes a :class:`Case`, the conversation up to its reference answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from studio.core.chat import content_text
from studio.playground.targets import CompareError


@dataclass(frozen=True)
class Case:
    """One test prompt: the conversation up to the reference answer, and that answer (None when absent)."""

    index: int
    messages: tuple[Mapping[str, Any], ...]
    reference: str | None = None

    @property
    def prompt(self) -> str:
        """The last user message, for tables."""
        return next((content_text(m.get("content")) for m in reversed(self.messages) if m.get("role") == "user"), "")


def cases_from_frame(frame: pd.DataFrame) -> list[Case]:
    """Test cases from a canonical frame: the reference is the last assistant turn, the prompt what precedes it."""
    cases = []
    for position, messages in enumerate(frame["messages"]):
        messages = list(messages or [])
        last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
        if last is None:
            cases.append(Case(position, tuple(messages)))
        else:
            cases.append(Case(position, tuple(messages[:last]), content_text(messages[last].get("content"))))
    if not cases:
        raise CompareError("the test set has no rows")
    return cases


def load_cases(path: str | Path, *, data: bytes | None = None) -> list[Case]:
    """Test cases from any file :func:`studio.data.loader.load_dataset` reads."""
    from studio.data.loader import load_dataset

    return cases_from_frame(load_dataset(path, data=data).frame)


def with_system(messages: Sequence[Mapping[str, Any]], system_prompt: str) -> list[dict[str, Any]]:
    """``messages`` with ``system_prompt`` as the only system message; unchanged when the prompt is blank."""
    out = [dict(m) for m in messages]
    if not system_prompt.strip():
        return out
    return [{"role": "system", "content": system_prompt}] + [m for m in out if m.get("role") != "system"]
