"""Playground helpers that only the Streamlit pages need: widget values by key, markdown rendering, the "use this
model" snippets (the Train page shows them too)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

from studio.i18n import Translator
from studio.playground.metrics import COUNTED, TOOL_METRIC_KEYS, WordDiff
from studio.playground.targets import Target, usage_snippets
from ui.markdown import escape_markdown


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


def diff_markdown(diff: WordDiff) -> str:
    """A :class:`~studio.playground.metrics.WordDiff` as escaped markdown: removed words struck through in red,
    added words in green, unchanged stretches cut to "…" away from the changes."""
    parts = []
    for op, text in diff.runs:
        escaped = escape_markdown(text).replace("…", ":gray[…]")
        parts.append(
            escaped
            if op == "same"
            else f":red-background[~~{escaped}~~]"
            if op == "del"
            else f":green-background[{escaped}]"
        )
    return " ".join(p for p in parts if p)


# Outside code, what Streamlit's markdown would turn into something else than the model wrote: "$" starts LaTeX,
# ":name[" / ":name:" are Streamlit's colour, icon and emoji directives, "<" opens HTML (shown as text anyway).
_LITERAL = re.compile(r"[$<]|:(?=[\w/-]+[\[:])")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)


def _plain(text: str) -> str:
    """Markdown outside code: Streamlit's extras escaped, each line break kept (models write one per line)."""
    out, last = [], 0
    for span in _CODE_SPAN.finditer(text):  # code spans show their text as is
        out.append(_LITERAL.sub(lambda m: "\\" + m.group(0), text[last : span.start()]))
        out.append(span.group(0))
        last = span.end()
    out.append(_LITERAL.sub(lambda m: "\\" + m.group(0), text[last:]))
    return re.sub(r"(?<!\n)\n(?!\n)", "  \n", "".join(out))


def answer_markdown(text: str) -> str:
    """A model's answer as the markdown it wrote (lists, bold, tables, code blocks), safe to render: no HTML
    (``st.markdown`` without ``unsafe_allow_html`` never renders it, and "<" is escaped), no LaTeX from "$",
    no Streamlit directives; single line breaks kept. Works on a partial answer (a stream): an unclosed code
    fence runs to the end."""
    blocks: list[str] = []
    plain: list[str] = []
    fence: str | None = None
    for line in text.split("\n"):
        opened = _FENCE.match(line)
        if fence is None and opened:
            if plain:
                blocks.append(_plain("\n".join(plain)))
            plain, fence = [line], opened.group(1)
        elif fence is not None:
            plain.append(line)
            closing = line.strip()
            if closing.startswith(fence) and not closing.strip(fence[0]):  # the fence's character, as long or longer
                blocks.append("\n".join(plain))
                plain, fence = [], None
        else:
            plain.append(line)
    if plain or not blocks:
        blocks.append("\n".join(plain) if fence is not None else _plain("\n".join(plain)))
    return "\n".join(blocks)


def usage_code(target: Target, tr: Translator) -> None:
    """The "use this model" snippets (openai SDK, LangChain, curl); the LangChain one says what it needs."""
    for kind, code in usage_snippets(target).items():
        if kind == "langchain":
            st.caption(tr("playground.langchain_needs"))
        st.code(code, language="bash" if kind == "curl" else "python")


# How each number of the test-set tables reads (st.column_config.NumberColumn's printf formats; "percent" shows
# 0.87 as 87%): shares of answers as percentages, similarity on its 0-1 scale, tokens, seconds, dollars.
_SHARES = ("exact_match", "contains", "regex", *(k for k in TOOL_METRIC_KEYS if k not in COUNTED))
_FORMATS = {
    **dict.fromkeys(_SHARES, "percent"),
    "similarity": "%.2f / 1",
    **dict.fromkeys(("tokens_in", "tokens_out"), "%.0f tokens"),
    **dict.fromkeys(("latency_p50", "latency_p95", "latency_s"), "%.2f s"),
    "cost": "$%.6f",
    **dict.fromkeys(("rows", "errors", *COUNTED), "%d"),
}
# The chart's axis: Vega-Lite number formats and units.
_AXES = {**dict.fromkeys(_SHARES, (".0%", "")), "similarity": (".2f", " (0–1)"), "cost": ("$.4f", " (USD)")}
_AXES.update(dict.fromkeys(("latency_p50", "latency_p95"), (".2f", " (s)")))


def number_columns(columns: Sequence[str], tr: Translator) -> dict[str, Any]:
    """``column_config`` giving every metric column of a Playground table its unit; a per-target column
    ``"<target> · <metric>"`` reads as its metric. Keys are the headers as shown (:meth:`Translator.columns`)."""
    formats = {**_FORMATS, "length": f"%.0f {tr('playground.unit_chars')}"}  # mean answer length
    config = {}
    for column in columns:
        fmt = formats.get(column.rsplit(" · ", 1)[-1])
        if fmt is not None:
            config[tr.label("columns", column)] = st.column_config.NumberColumn(format=fmt)
    return config


def metric_axis(metric: str, tr: Translator) -> tuple[str, str]:
    """(Vega-Lite number format, title) of the chart axis for ``metric``: ``(".0%", "exact_match")``; the title
    in ``tr``'s language with its unit."""
    fmt, unit = _AXES.get(metric, ("~s", ""))
    return fmt, f"{tr.label('columns', metric)}{unit}"
