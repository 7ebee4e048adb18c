"""Data shown inside Streamlit markdown (captions, labels, headings) as the characters it holds.

Streamlit renders ``st.caption``/``st.markdown`` bodies as GitHub-flavoured markdown with its own directives
(``:red[…]``, ``:material/…:``, LaTeX between ``$``). Dataset text, model answers and names are data: escaped here,
they never become emphasis, links (an e-mail or a URL is not auto-linked), HTML, LaTeX or directives.
"""

from __future__ import annotations

# Every ASCII character that starts markdown, a directive, LaTeX, an HTML entity or an autolink (``@``, ``:``, ``.``).
_MARKDOWN_SPECIAL = set("\\`*_{}[]()<>#+-.!|~=$:&@")


def escape_markdown(text: str) -> str:
    """``text`` as markdown that Streamlit shows literally; newlines become hard line breaks. Character by
    character, so escaping stream chunks one by one gives the same result as escaping the whole text."""
    return "".join("  \n" if c == "\n" else f"\\{c}" if c in _MARKDOWN_SPECIAL else c for c in text)
