"""How deep JSON values nest: values past :data:`MAX_DEPTH` levels crash recursive counters and exporters, so
readers and validators reject them (pure Python: no pandas, so the fast validation path stays light)."""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 200


def deeper_than(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists/dicts in ``value`` nest more than ``limit`` levels (iterative: safe on any depth)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return False


def may_be_deep(text: str | bytes) -> bool:
    """Cheap pre-check before :func:`deeper_than`: enough brackets to nest past :data:`MAX_DEPTH`."""
    if isinstance(text, bytes):
        return text.count(b"[") + text.count(b"{") > MAX_DEPTH
    return text.count("[") + text.count("{") > MAX_DEPTH
