"""Playground helpers that only the Streamlit pages need: widget values by key, markdown rendering, the "use this
model" snippets (the Train page shows them too)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from studio.i18n import Translator
from studio.playground.metrics import diff_words
from studio.playground.targets import Target, usage_snippets


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


def usage_code(target: Target, tr: Translator) -> None:
    """The "use this model" snippets (openai SDK, LangChain, curl); the LangChain one says what it needs."""
    for kind, code in usage_snippets(target).items():
        if kind == "langchain":
            st.caption(tr("playground.langchain_needs"))
        st.code(code, language="bash" if kind == "curl" else "python")
