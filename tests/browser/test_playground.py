"""The Playground in real Chromium: two targets stream one chat message at the same time, a follow-up goes to both
(each with its own history), and model output stays text."""

import time

from playwright.sync_api import expect

from studio.testing.server import Behaviour, TestServer
from tests.browser.conftest import StreamlitServer

FT = "ft:base-model:studio:demo:abc123"
PAYLOAD = "<img src=x onerror=alert(1)>"
WORDS = [f"w{i}" for i in range(20)]

# The answer text of each target's latest chat message, by column (targets in order).
LATEST = """() => [...document.querySelectorAll('[data-testid="stColumn"]')]
    .filter(c => c.checkVisibility() && c.querySelector('[data-testid="stChatMessage"]'))
    .map(c => {
        const messages = c.querySelectorAll('[data-testid="stChatMessage"]');
        const text = messages[messages.length - 1].querySelector('[data-testid="stMarkdownContainer"]');
        return text ? text.innerText : "";
    })"""


def _send(page, text):
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    box.press("Enter")


def test_two_targets_stream_at_once_then_a_follow_up_goes_to_both(page, tmp_path):
    # 20 words at 0.15 s each: every answer streams for about 3 s.
    with TestServer(Behaviour(chunk_delay=0.15)) as engine:
        server = StreamlitServer(tmp_path / "workspace" / "studio.db", env={"STUDIO_ENGINE_URL": engine.url}).start()
        try:
            page.goto(f"{server.url}/Playground")
            expect(page.get_by_role("heading", name="Playground: base vs fine-tuned")).to_be_visible(timeout=30_000)
            _send(page, "ANSWER: " + " ".join(WORDS))

            overlap, deadline = False, time.monotonic() + 60
            while time.monotonic() < deadline:
                texts = page.evaluate(LATEST)
                if len(texts) == 2 and texts[1].strip() and not texts[0].endswith(WORDS[-1]):
                    overlap = True  # the second target shows tokens while the first is still streaming
                if len(texts) == 2 and all(t.endswith(WORDS[-1]) for t in texts):
                    break
                time.sleep(0.05)
            assert overlap, "the second target's first token came only after the first target finished"
            assert page.evaluate(LATEST) == [" ".join(WORDS)] * 2
            assert engine.stats()["max_in_flight"] == 2

            _send(page, f"hello {PAYLOAD} world")  # the follow-up turn, to both targets
            base = page.get_by_text(f"base-model: hello {PAYLOAD} world", exact=True)
            tuned = page.get_by_text(f"{FT}: hello {PAYLOAD} world", exact=True)
            expect(base).to_be_visible(timeout=30_000)
            expect(tuned).to_be_visible(timeout=30_000)
            follow_ups = engine.requests()[-2:]
            assert sorted(b["model"] for b in follow_ups) == ["base-model", FT]
            for body in follow_ups:  # each target's own history: the first question and its own answer
                assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
                assert body["messages"][1]["content"] == " ".join(WORDS)
            expect(page.get_by_text("tokens ·")).to_have_count(4)
            left, right = base.bounding_box(), tuned.bounding_box()
            assert right["x"] > left["x"] + left["width"] / 2  # side by side, not stacked
            assert abs(right["y"] - left["y"]) < 50

            assert page.locator("img[src='x']").count() == 0  # the payload is text, not an element
            page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)
            assert (tmp_path / "playground.png").stat().st_size > 10_000
            assert page.dialogs == []
        finally:
            server.stop()


MARKDOWN_ANSWER = (
    "To make toast without a toaster:\n\n1. **Heat a dry pan** over medium heat.\n2. Flip the bread when golden.\n\n"
    "A pan costs $5 to $10. <b>not bold</b> :red[not red]\nLast line `x<y $z`"
)


def test_answers_render_as_markdown_but_never_as_html_latex_or_directives(page, tmp_path):
    with TestServer() as engine:
        server = StreamlitServer(tmp_path / "workspace" / "studio.db", env={"STUDIO_ENGINE_URL": engine.url}).start()
        try:
            page.goto(f"{server.url}/Playground")
            expect(page.get_by_role("heading", name="Playground: base vs fine-tuned")).to_be_visible(timeout=30_000)
            _send(page, "ANSWER: " + MARKDOWN_ANSWER)
            answers = page.get_by_test_id("stChatMessage").filter(has_text="To make toast")
            expect(answers).to_have_count(2, timeout=30_000)
            answer = answers.first
            expect(answer.locator("ol > li")).to_have_count(2)  # a list, not "1. … 2. …" in one paragraph
            expect(answer.locator("strong")).to_have_text("Heat a dry pan")
            text = answer.inner_text()
            assert "$5 to $10" in text and answer.locator(".katex").count() == 0  # dollars, not LaTeX
            assert "<b>not bold</b>" in text and answer.locator("b").count() == 0  # HTML shown as text
            assert ":red[not red]" in text
            assert "\nLast line" in text  # a single line break is kept
            expect(answer.locator("code")).to_have_text("x<y $z")
            page.get_by_text("Highlight differences").click()  # the two answers are the same
            expect(page.get_by_text("base and fine-tuned gave the same answer, word for word.")).to_be_visible()
            page.screenshot(path=str(tmp_path / "playground-markdown.png"), full_page=True)
        finally:
            server.stop()
