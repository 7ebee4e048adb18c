"""Playground helpers that only the Streamlit page needs: widget values by key and markdown rendering."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from studio.playground.metrics import diff_words


def preset_widgets(preset: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """The Playground's target widget values (by widget key) for targets chosen elsewhere (the Train page's
    "Compare in the Playground"): each has ``name``, ``kind`` and ``model``."""
    values: dict[str, Any] = {"pg_count": len(preset)} if preset else {}
    for i, target in enumerate(preset):
        values.update(
            {
                f"pg_kind_{i}": target["kind"],
                f"pg_name_{i}": target["name"],
                f"pg_model_{i}": target["model"],
                f"pg_model_text_{i}": target["model"],
            }
        )
    return values


_MARKDOWN_SPECIAL = set("\\`*_{}[]()<>#+-.!|~=$:&")


def escape_markdown(text: str) -> str:
    """Text that Streamlit's markdown shows literally (character by character, so it is safe on stream chunks)."""
    return "".join("  \n" if c == "\n" else f"\\{c}" if c in _MARKDOWN_SPECIAL else c for c in text)


def diff_markdown(a: str, b: str) -> str:
    """The word diff as escaped markdown: removed words struck through in red, added words in green."""
    parts = []
    for op, text in diff_words(a, b):
        escaped = escape_markdown(text)
        parts.append(
            escaped
            if op == "same"
            else f":red-background[~~{escaped}~~]"
            if op == "del"
            else f":green-background[{escaped}]"
        )
    return " ".join(parts)
