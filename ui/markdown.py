"""Data shown inside Streamlit markdown (captions, labels, headings) as the characters it holds.

Streamlit renders ``st.caption``/``st.markdown`` bodies as GitHub-flavoured markdown with its own directives
(``:red[…]``, ``:material/…:``, LaTeX between ``$``). Dataset text, model answers and names are data: escaped here,
they never become emphasis, links, HTML, LaTeX or directives.

An e-mail needs more than an escape: Streamlit's renderer (remark-gfm) links e-mail addresses in the text *after*
escapes are resolved, so ``dana\\@example\\.com`` still became a mailto link. A WORD JOINER (U+2060, invisible,
no width) before each ``@`` leaves no ``name@domain`` run for it to find. (A bare ``https://`` or ``www.`` URL is
still linked: it opens the address as written, never runs anything.)
"""

from __future__ import annotations

# Every ASCII character that starts markdown, a directive, LaTeX, an HTML entity or an autolink (``@``, ``:``, ``.``).
_MARKDOWN_SPECIAL = set("\\`*_{}[]()<>#+-.!|~=$:&@")
WORD_JOINER = "\u2060"
_ESCAPED = {"\n": "  \n", "@": WORD_JOINER + "\\@"}


def escape_markdown(text: str) -> str:
    """``text`` as markdown that Streamlit shows literally (plus an invisible WORD JOINER before each ``@``, so an
    e-mail is not linked); newlines become hard line breaks. Character by
    character, so escaping stream chunks one by one gives the same result as escaping the whole text."""
    return "".join(_ESCAPED.get(c) or (f"\\{c}" if c in _MARKDOWN_SPECIAL else c) for c in text)
