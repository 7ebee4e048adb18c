"""Answers rendered as the markdown a model wrote, minus what Streamlit would add (HTML, LaTeX, directives)."""

import pytest

from studio.playground.metrics import word_diff
from tests.playground.test_word_diff import TUNED, TUNED_AGAIN
from ui.playground import answer_markdown, diff_markdown


@pytest.mark.parametrize(
    "text,expected",
    [
        ("1. **Heat** a pan\n2. Flip", "1. **Heat** a pan  \n2. Flip"),  # markdown kept, one line per line
        ("para one\n\npara two", "para one\n\npara two"),
        ("It costs $5 or $10.", "It costs \\$5 or \\$10."),  # not LaTeX
        ("<img src=x onerror=alert(1)>", "\\<img src=x onerror=alert(1)>"),  # text, not an element
        ("See :red[this] and :material/home: :smile:", "See \\:red[this] and \\:material/home: \\:smile:"),
        ("use `a$b<c :red[x]` here", "use `a$b<c :red[x]` here"),  # code spans as written
        ("```python\nx = '$1'\ny = '<b>'\n```\nafter $", "```python\nx = '$1'\ny = '<b>'\n```\nafter \\$"),
        ("```\nunclosed $ <b>", "```\nunclosed $ <b>"),  # a stream cut inside a code block
        ("https://example.com/a:b at 10:30", "https://example.com/a:b at 10:30"),
    ],
)
def test_answer_markdown(text, expected):
    assert answer_markdown(text) == expected


def test_diff_markdown_marks_changes_compactly():
    shown = diff_markdown(word_diff(TUNED, TUNED_AGAIN))
    assert shown.startswith(":gray[…] flip it when it turns :red-background[~~golden\\.~~] ")
    assert ":green-background[golden brown\\.]" in shown and ":red-background[~~up,~~]" in shown
    assert "Lay yer bread" not in shown  # the unchanged start is cut
