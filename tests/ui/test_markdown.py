"""Dataset text in a caption stays text in Streamlit's own renderer: an e-mail in a finding ("e-mail address
'dana.w@example.com' in turn 0 (user)") is no mailto link. Streamlit's markdown (remark-gfm) finds e-mail addresses
in the text after escapes are resolved, so an escaped ``\\@`` alone was still linked; the check uses the very
expression Streamlit's bundle carries."""

from __future__ import annotations

from pathlib import Path

import pytest
import regex
import streamlit
from markdown_it import MarkdownIt

from ui.markdown import WORD_JOINER, escape_markdown

# mdast-util-gfm-autolink-literal's e-mail finder, as Streamlit's StreamlitMarkdown bundle holds it (JavaScript's
# \w is ASCII: hence ASCII=True).
GFM_EMAIL = r"(?<=^|\s|\p{P}|\p{S})([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)"


def shown_text(markdown: str) -> str:
    """The text a CommonMark renderer makes of inline ``markdown``: escapes resolved, hard breaks as newlines (the
    text that remark-gfm's link finder then reads)."""
    out = []
    for token in MarkdownIt("commonmark").parseInline(markdown)[0].children or []:
        out.append("\n" if token.type in ("hardbreak", "softbreak") else token.content)
    return "".join(out)


def test_streamlit_still_links_e_mails_with_this_expression():
    bundles = (Path(streamlit.__file__).parent / "static").rglob("StreamlitMarkdown*.js")
    assert any(f"/{GFM_EMAIL}/gu" in path.read_text(encoding="utf-8") for path in bundles)


@pytest.mark.parametrize(
    "text",
    [
        "e-mail address 'dana.w@example.com' in turn 0 (user)",
        "correo electrónico 'priya.k3@example.com' en turno 4 (llamada a herramienta lookup_booking)",
        "write to a.b+c@mail.example.org, or x_y@z.io\nthanks",
    ],
)
def test_an_e_mail_in_escaped_text_is_shown_as_written_and_never_linked(text):
    shown = shown_text(escape_markdown(text))
    assert shown.replace(WORD_JOINER, "") == text
    assert regex.search(GFM_EMAIL, shown, flags=regex.ASCII) is None
    assert regex.search(GFM_EMAIL, shown_text(text), flags=regex.ASCII) is not None  # unescaped, it is linked
