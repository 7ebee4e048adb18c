"""Playground test sets: each row becomes a :class:`Case`, the whole conversation up to its reference answer.

A case is everything before the row's last assistant turn (system, earlier turns, tool calls and tool results),
plus the example's ``tools`` and ``parallel_tool_calls``; the reference is that last assistant turn: its text, or
its tool calls (OpenAI's ``[{"id", "type": "function", "function": {"name", "arguments"}}]``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from studio.core.chat import content_text
from studio.playground.targets import CompareError

if TYPE_CHECKING:
    from studio.storage.workspace import DatasetInfo, VersionInfo, Workspace


@dataclass(frozen=True)
class Case:
    """One test prompt: the conversation up to the reference answer, and that answer (None when absent).

    ``reference`` is the reference turn's text (None when it has none); ``reference_tool_calls`` its tool calls
    (None when it calls nothing). ``tools`` / ``parallel_tool_calls`` are sent with every request for the case.
    """

    index: int
    messages: tuple[Mapping[str, Any], ...]
    reference: str | None = None
    reference_tool_calls: tuple[Mapping[str, Any], ...] | None = None
    tools: tuple[Mapping[str, Any], ...] | None = None
    parallel_tool_calls: bool | None = None

    @property
    def prompt(self) -> str:
        """The last user message, for tables."""
        return next((content_text(m.get("content")) for m in reversed(self.messages) if m.get("role") == "user"), "")

    def request_options(self) -> dict[str, Any]:
        """The case's ``tools`` and ``parallel_tool_calls`` as request keyword arguments (empty when it has none)."""
        options: dict[str, Any] = {}
        if self.tools:
            options["tools"] = [dict(t) for t in self.tools]
            if self.parallel_tool_calls is not None:
                options["parallel_tool_calls"] = self.parallel_tool_calls
        return options


def _cell(frame: pd.DataFrame, column: str, position: int) -> Any:
    if column not in frame.columns:
        return None
    value = frame[column].iloc[position]
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _listed(value: Any) -> tuple[Any, ...] | None:
    """A list-like cell (a list, or an array when the file was Parquet) as a tuple; None when absent or empty."""
    if value is None or isinstance(value, str | bytes | Mapping):
        return None
    items = tuple(value)
    return items or None


def cases_from_frame(frame: pd.DataFrame) -> list[Case]:
    """Test cases from a canonical frame: the reference is the last assistant turn (its text or its tool calls),
    the prompt everything before it; the row's ``tools`` and ``parallel_tool_calls`` go with the case."""
    cases = []
    for position, messages in enumerate(frame["messages"]):
        messages = list(messages or [])
        tools = _cell(frame, "tools", position)
        parallel = _cell(frame, "parallel_tool_calls", position)
        extra: dict[str, Any] = {
            "tools": _listed(tools),
            "parallel_tool_calls": bool(parallel) if parallel is not None else None,
        }
        last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
        if last is None:
            cases.append(Case(position, tuple(messages), **extra))
            continue
        answer = messages[last]
        calls = answer.get("tool_calls")
        calls = _listed(calls)
        text = content_text(answer.get("content"))
        reference = text if text or calls is None else None
        cases.append(Case(position, tuple(messages[:last]), reference, calls, **extra))
    if not cases:
        raise CompareError("the test set has no rows")
    return cases


def load_cases(path: str | Path, *, data: bytes | None = None) -> list[Case]:
    """Test cases from any file :func:`studio.data.loader.load_dataset` reads."""
    from studio.data.loader import load_dataset

    return cases_from_frame(load_dataset(path, data=data).frame)


@dataclass(frozen=True)
class TestSetVersion:
    """A workspace version offered as a test set: its dataset, the version, and whether it is a saved test split."""

    __test__ = False  # not a pytest class

    dataset: DatasetInfo
    version: VersionInfo
    test_split: bool

    @property
    def label(self) -> str:
        """``dataset · version (N rows)``, for menus and as the run's source."""
        return f"{self.dataset.name} · {self.version.name} ({self.version.rows:,})"


def workspace_test_sets(workspace: Workspace) -> list[TestSetVersion]:
    """Every workspace version a test set can come from: saved *test* splits first (the natural choice: held out
    from training), newest first, then every other version, newest first."""
    from studio.quality.splits import version_split

    found = [
        TestSetVersion(dataset, version, (version_split(version.name) or ("",))[0] == "test")
        for dataset in workspace.datasets()
        for version in workspace.versions(dataset.id)
    ]
    return sorted(found, key=lambda t: (not t.test_split, -t.version.id))


def version_cases(workspace: Workspace, version_id: int) -> list[Case]:
    """Test cases from a saved workspace version (see :func:`cases_from_frame`)."""
    return cases_from_frame(workspace.load_version(version_id))


def with_system(messages: Sequence[Mapping[str, Any]], system_prompt: str) -> list[dict[str, Any]]:
    """``messages`` with ``system_prompt`` as the only system message; unchanged when the prompt is blank."""
    out = [dict(m) for m in messages]
    if not system_prompt.strip():
        return out
    return [{"role": "system", "content": system_prompt}] + [m for m in out if m.get("role") != "system"]


def parse_tools(text: str) -> list[dict[str, Any]]:
    """Tools typed as JSON (the chat tab): ``[]`` for blank text, else a list of OpenAI function tools, each
    ``{"type": "function", "function": {"name", "description"?, "parameters"?}}`` whose ``parameters`` is a valid
    JSON Schema. Raises :class:`CompareError` naming the tool and the field."""
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    if not text.strip():
        return []
    try:
        tools = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CompareError(f"tools: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if isinstance(tools, dict):
        tools = [tools]
    if not isinstance(tools, list):
        raise CompareError("tools: expected a JSON list of function tools")
    names = set()
    for i, tool in enumerate(tools, 1):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type", "function") != "function":
            raise CompareError(f'tools: tool {i} needs "type": "function" and a "function" object')
        name = function.get("name")
        if not isinstance(name, str) or not name.strip():
            raise CompareError(f'tools: tool {i}\'s function needs a "name"')
        if name in names:
            raise CompareError(f"tools: tool {i} repeats the name {name!r}")
        names.add(name)
        schema = function.get("parameters", {})
        if not isinstance(schema, dict):
            raise CompareError(f"tools: {name}.parameters must be a JSON Schema object")
        try:
            validator_for(schema).check_schema(schema)
        except SchemaError as exc:
            raise CompareError(f"tools: {name}.parameters is not a valid JSON Schema ({exc.message})") from None
        tool.setdefault("type", "function")
    return tools
