"""Every message a rule gives reads back as its structured reason and is written in Spanish with no English word
left: the words of a Spanish finding are words of the ``[es]`` message strings or data the finding quotes."""

import json
import re

import pytest

from studio.data.frame import build_frame
from studio.quality.messages import FINDINGS, SLOTS, WHATS, Reason, finding_message, read_reason, turn_label
from studio.quality.rules import analyze
from tests.message_words import locale, quoted, template_words, words

RULES_TOML = locale("rules")


# Words of the Spanish strings; those the English strings use too only when they are Spanish as well (an English
# sentence pasted into [es] does not make its words Spanish).
BOTH = {"a", "no", "final", "personal", "variable", "url", "token", "dni", "nie"}
SPANISH_WORDS = (template_words(RULES_TOML, "es") - template_words(RULES_TOML, "en")) | BOTH


def keys(reason: Reason) -> set[str]:
    return {reason.key}.union(*(keys(v) for v in reason.values.values() if isinstance(v, Reason)))


def chat(user, answer="A full answer that ends the way a finished sentence does."):
    turns = [] if user is None else [{"role": "user", "content": user}]
    return turns + ([] if answer is None else [{"role": "assistant", "content": answer}])


CALL = {"id": "c", "type": "function", "function": {"name": "book", "arguments": json.dumps({"to": "kim@example.com"})}}
# (what the finding should read as, the rule, conversations, the rule's parameters); the finding is the last
# conversation's
CASES = [
    ("no_user", "empty", [chat(None)], None),
    ("user_blank", "empty", [chat("   ")], None),
    ("no_answer", "empty", [chat("Is it raining?", None)], None),
    ("answer_blank", "empty", [chat("Is it raining?", " ")], None),
    ("both_blank", "empty", [chat(" ", "")], None),
    ("in_turn", "empty", [chat("Hi?", "") + chat("And now?")], None),
    ("too_short", "too_short", [chat("How long should I sleep?", "Short.")], None),
    ("in_turn", "too_short", [chat("Hi?", "Yes.") + chat("And now?")], None),
    ("ellipsis", "truncated", [chat("Why?", "Because the chain was never oiled and then...")], None),
    ("mid_sentence", "truncated", [chat("Why?", "Because the chain was never oiled in all those years")], None),
    ("connector", "truncated", [chat("Why?", "Because the chain was never oiled and")], None),
    ("exact", "exact_duplicate", [chat("What is a fever?")] * 2, None),
    ("normalized", "normalized_duplicate", [chat("What is a fever?"), chat("what is a FEVER")], None),
    ("near", "near_duplicate", [chat("What is a fever?"), chat("what is a FEVER")], None),
    ("duplicate_prompt", "duplicate_prompt", [chat("What is a fever?"), chat("What is a fever?", "Hot.")], None),
    ("found", "placeholder", [chat("Hi {{name}}, how are you today?")], None),
    ("found", "placeholder", [chat("See <link> for the details of the plan.")], None),
    ("found", "placeholder", [chat("Question: what is a fever?")], None),
    ("found", "placeholder", [chat("Lorem ipsum dolor sit amet, please answer.")], None),
    ("found", "pii", [chat("Write to ana.perez@example.com please.")], None),
    ("found", "pii", [chat("Open https://x.example.com/a?token=abc123 now")], None),
    ("found", "pii", [chat("My card is 4111 1111 1111 1111, charge it.")], None),
    ("found", "pii", [chat("Mi DNI es 12345678Z, gracias.")], None),
    ("found", "pii", [chat("Call +34 612 345 678 tomorrow.")], None),
    ("found", "pii", [[{"role": "system", "content": "Escalate to boss@example.com."}, *chat("Hi?")]], None),
    ("found", "pii", [chat("Hi, I am Dana, dana@example.com") + chat("And my chain?")], None),
    ("found", "pii", [[*chat("Book it", None), {"role": "assistant", "content": None, "tool_calls": [CALL]}]], None),
    ("found", "pii", [[*chat("Who?", None), {"role": "tool", "content": "lee@example.org"}, *chat("Ok?")[1:]]], None),
    ("found", "blocklist", [chat("You stupid machine, answer me now.")], None),
    ("uppercase", "uppercase", [chat("WHY IS MY BIKE CHAIN SO NOISY TODAY?")], None),
    ("regex", "regex", [chat("Is ZX-81 in stock?")], {"pattern": "ZX-\\d+"}),
]


def finding(rule, conversations, params):
    frame = build_frame([{"messages": m} for m in conversations], list(range(1, len(conversations) + 1)))
    issues = analyze(frame, rules=[rule], params={rule: params} if params else None).issues
    found = issues[issues["id"] == len(conversations) - 1]
    assert len(found) == 1, f"{rule} found nothing in {conversations[-1]}"
    return str(found["message"].iat[0])


@pytest.fixture(scope="module")
def messages():
    return [(expected, finding(rule, conversations, params)) for expected, rule, conversations, params in CASES]


def test_every_rule_message_reads_back_and_is_spanish_with_no_english_word_left(messages):
    seen: set[str] = set()
    for expected, message in messages:
        reason = read_reason(message)
        assert reason is not None and reason.key == expected, message
        assert reason.text("en") == message  # the English the rules wrote is exactly what the structure says
        spanish = finding_message(message, "es")
        english_left = words(spanish) - SPANISH_WORDS - quoted(reason)
        assert not english_left, f"{english_left} in {spanish!r} (from {message!r})"
        seen |= keys(reason)
    # every template the rules use is in the table (the other two are for badges and columns outside a turn)
    templates = {k.removeprefix("msg_") for k in RULES_TOML["en"] if k.startswith("msg_")}
    assert templates - seen == {"role_tool_calls", "tool_call_any"}
    assert set(FINDINGS) | {"in_turn"} <= seen and {f"what_{w}" for w in WHATS} <= seen


def test_a_finding_names_its_turn_in_spanish(messages):
    spanish = {finding_message(m, "es") for _, m in messages}
    assert "correo electrónico 'dana@example.com' en turno 0 (usuario)" in spanish
    assert "correo electrónico 'kim@example.com' en turno 1 (llamada a herramienta book)" in spanish
    assert "correo electrónico 'lee@example.org' en turno 1 (herramienta)" in spanish
    assert "turno 1 (asistente): la respuesta está vacía" in spanish
    assert turn_label(1, "user", "es") == "turno 1 (usuario)"
    assert turn_label(4, "tool_calls", "es") == "turno 4 (llamada a herramienta)"
    assert turn_label(4, "tool_calls") == "turn 4 (tool call)"


@pytest.mark.parametrize(
    "reason",
    [
        # quoted data that looks like the message around it is still read as data
        Reason(
            "found", {"what": Reason("what_email"), "snippet": "'a in turn 1 (user)'", "where": Reason("role_user")}
        ),
        Reason(
            "in_turn",
            {
                "at": Reason("turn", {"turn": "3", "role": Reason("tool_call", {"name": "f): x"})}),
                "finding": Reason("regex", {"pattern": "a: b in user", "where": Reason("role_assistant")}),
            },
        ),
        Reason("connector", {"word": "y"}),
        Reason("near", {"cluster": "12", "size": "3", "threshold": "0.85"}),
    ],
)
def test_a_reason_written_in_english_reads_back_as_itself(reason):
    assert read_reason(reason.text("en")) == reason


def test_a_message_no_template_reads_is_shown_as_it_is():
    assert read_reason("something a plugin rule said") is None
    assert finding_message("something a plugin rule said", "es") == "something a plugin rule said"


def test_every_message_template_has_spanish_with_the_same_placeholders():
    for key, english in RULES_TOML["en"].items():
        if key.startswith("msg_"):
            spanish = RULES_TOML["es"][key]
            assert set(re.findall(r"\{(\w+)\}", spanish)) == set(re.findall(r"\{(\w+)\}", english)), key
    for slot, options in SLOTS.items():
        assert all(f"msg_{k}" in RULES_TOML["en"] for k in options), slot
