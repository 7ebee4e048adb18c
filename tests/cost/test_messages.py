"""Every message a format check gives is written from its template, reads back as its structured reason, is the
English ``studio validate`` prints (byte for byte; a message is named ``messages[2]``, its 0-based index in
``messages``, as the studio numbers turns everywhere), and is written in Spanish with no English
word left: the words of a Spanish finding are words of the ``[es]`` message strings, format names or quoted data."""

import ast
import re

import pytest

from studio.cost.format_checks import RULES, check_example
from studio.cost.messages import FINDINGS, KINDS, Reason, finding_message, message_index, read_reason, say
from studio.cost.validation import check_examples, validate_bytes
from tests.conftest import ROOT
from tests.message_words import locale, quoted, template_words, words

COST_TOML = locale("cost")


# The chat format's own names stay as they are in Spanish ('tool_calls', 'weight'...), and a few words are both
FORMAT = {"tool", "calls", "call", "id", "function", "name", "arguments", "role", "content", "tools", "weight"}
BOTH = {"messages", "parallel", "json", "openai", "mb", "tokens", "null", "true", "false", "o", "no", "chat", "a"}
SPANISH_WORDS = (template_words(COST_TOML, "es") - template_words(COST_TOML, "en")) | FORMAT | BOTH


def keys(reason: Reason) -> set[str]:
    return {reason.key}.union(*(keys(v) for v in reason.values.values() if isinstance(v, Reason)))


S, U, A = ({"role": r, "content": c} for r, c in (("system", "Be kind."), ("user", "Hi?"), ("assistant", "Hello.")))
CALL = {"id": "c1", "type": "function", "function": {"name": "book", "arguments": "{}"}}


def ex(*turns, **extra):
    return {"messages": [S, U, *turns], **extra}


def calls(*tool_calls, content=None):
    return {"role": "assistant", "content": content, "tool_calls": list(tool_calls)}


# (the check, an example, the English it gave before templates: what `studio validate` printed)
CASES = [
    ("data_type", ["not", "a", "dict"], "the example is list, not an object"),
    ("missing_messages_list", {"messages": []}, "'messages' is empty; expected a non-empty list"),
    ("missing_messages_list", {"messages": "Hi"}, "'messages' is string; expected a non-empty list"),
    ("missing_messages_list", {"prompt": "x"}, "'messages' is missing; expected a non-empty list"),
    ("example_unrecognized_key", {"prompt": "x"}, "top-level key 'prompt' is not part of the chat format"),
    ("data_type", ex("just text", A), "messages[2] is string, not an object"),
    ("message_missing_key", ex({"content": "x"}, A), "messages[2] has no 'role'"),
    ("unrecognized_role", ex({"role": "bot", "content": "x"}, A), "messages[2] has role 'bot'"),
    (
        "message_unrecognized_key",
        ex({"role": "assistant", "content": "x", "mood": "happy", "lang": "en"}),
        "messages[2] has unrecognized key 'mood', 'lang'",
    ),
    (
        "invalid_tool_content",
        ex(calls(CALL), {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "ok"}]}, A),
        "messages[3]: a tool message's content must be a string, got list",
    ),
    ("message_missing_key", ex({"role": "assistant"}), "messages[2] has no 'content'"),
    ("missing_content", ex({"role": "assistant", "content": []}), "messages[2]: content is an empty list"),
    (
        "missing_content",
        ex({"role": "assistant", "content": [{"type": "text", "text": ""}, {"type": "x"}]}),
        "messages[2]: content part 1 is not a non-empty text part",
    ),
    (
        "missing_content",
        {"messages": [S, {"role": "user", "content": [{"type": "audio"}]}, A]},
        "messages[1]: content part 1 is not a non-empty text part or a user image",
    ),
    ("missing_content", ex({"role": "assistant", "content": ""}), "messages[2]: content is empty"),
    *(
        ("missing_content", ex({"role": "assistant", "content": value}), f"messages[2]: content is {kind}, {tail}")
        for value, kind in ((42, "int"), (1.5, "float"), ({"t": 1}, "object"), (True, "boolean"), (None, "null"))
        for tail in ["expected text or a list of parts"]
    ),
    (
        "invalid_tool_calls",
        {"messages": [S, {"role": "user", "content": "x", "tool_calls": [CALL]}, A]},
        "messages[1]: only assistant messages may have 'tool_calls'",
    ),
    (
        "invalid_tool_calls",
        ex({"role": "assistant", "content": "x", "tool_calls": "no"}),
        "messages[2]: 'tool_calls' must be a non-empty list, got string",
    ),
    ("invalid_tool_calls", ex(calls({"id": "c"})), "messages[2]: tool call 1 needs a 'function' object"),
    (
        "invalid_tool_calls",
        ex(calls({"function": {}})),
        "messages[2]: tool call 1 needs a string 'id' and type 'function'",
    ),
    (
        "invalid_tool_calls",
        ex(calls({"id": "c", "function": {"name": 3}})),
        "messages[2]: tool call 1 needs function 'name' and 'arguments' as strings (arguments is JSON text)",
    ),
    (
        "invalid_tool_calls",
        ex(calls({"id": "c", "function": {"name": "f", "arguments": "{oops"}})),
        "messages[2]: tool call 1 'arguments' is not valid JSON: '{oops'",
    ),
    (
        "invalid_tool_calls",
        ex(calls(CALL), {"role": "tool", "content": "ok"}, A),
        "messages[3]: a tool message needs the 'tool_call_id' it answers",
    ),
    (
        "invalid_tool_calls",
        ex({"role": "tool", "tool_call_id": "zz", "content": "ok"}, A),
        "messages[2]: 'tool_call_id' 'zz' answers no tool call made earlier in the conversation",
    ),
    ("invalid_weight", ex({**A, "weight": 0.5}), "messages[2]: weight is 0.5, expected 0 or 1"),
    (
        "invalid_weight",
        ex({**A, "weight": 2}, U, {**A, "weight": True}),
        "messages[2]: weight is 2, expected 0 or 1 (and 1 more)",
    ),
    (
        "invalid_weight",
        {"messages": [S, {**U, "weight": 1}, A]},
        "messages[1]: weight is only allowed on assistant messages",
    ),
    (
        "unknown_tool",
        ex(
            calls(CALL), {"role": "tool", "tool_call_id": "c1", "content": "ok"}, A, tools=[{"function": {"name": "x"}}]
        ),
        "messages[2]: tool call 1 calls 'book', which is not in 'tools'",
    ),
    ("invalid_tools", ex(A, tools={"name": "f"}), "'tools' is object, expected a list"),
    (
        "invalid_tools",
        ex(A, tools=[{"type": "function", "function": {"name": "f"}}, {"type": "retrieval"}]),
        "tool 2 needs type 'function' and a function with a 'name'",
    ),
    ("invalid_tools", ex(A, parallel_tool_calls="yes"), "'parallel_tool_calls' is 'yes', expected true or false"),
    ("example_missing_assistant_message", {"messages": [S, U]}, "no assistant message"),
    ("missing_system_message", {"messages": [U, A]}, "no system message"),
    ("missing_user_message", {"messages": [S, A]}, "no user message"),
    (
        "example_unrecognized_key",
        ex(A, meta={"a": 1}, source="web"),
        "top-level key 'meta', 'source' is not part of the chat format",
    ),
    (
        "missing_content",
        ex({**A, "content": ""}, U, {**A, "content": ""}, U, {**A, "content": ""}),
        "messages[2]: content is empty (and 2 more)",
    ),
]


def example_findings():
    out = []
    for key, example, english in CASES:
        found = dict(check_example(example))
        assert found.get(key) == english, (key, example, found)
        out.append((key, english))
    return out


GOOD = {"messages": [S, U, A]}


def dataset_findings():
    """Findings about a file or dataset (not one example): (check, message)."""
    out = []
    lines = [b'{"messages": [oops', b'{"messages": ' + b"[" * 200 + b"]" * 200 + b"}"]
    report = validate_bytes(b"\n".join(lines) + b"\n", model="smollm2-135m-instruct")
    out += list(zip(report.findings["key"], report.findings["message"], strict=True))
    report = check_examples(
        [GOOD] * 12 + [{"messages": [S, U, {"role": "assistant", "content": "x " * 70_000}]}],
        model="gpt-4o-mini-2024-07-18",
    )
    out += list(zip(report.findings["key"], report.findings["message"], strict=True))
    return out


def test_dataset_findings_keep_their_english():
    found = dataset_findings()
    assert ("data_type", "line 1 is not valid JSON (unexpected character, expected a JSON value at column 15)") in found
    assert ("data_type", "line 2 is nested deeper than 200 levels") in found
    assert ("too_few_examples", "2 examples; OpenAI requires at least 10") in found
    assert ("few_examples", "13 examples; 50-100 usually train better") in found
    assert (
        "token_limit_not_published",
        "smollm2-135m-instruct: per-example token limit not published; over-limit rows not checked",
    ) in found
    assert any(
        k == "over_token_limit"
        and re.fullmatch(
            r"70,0\d\d tokens > 65,536 for gpt-4o-mini-2024-07-18; "
            r"OpenAI truncates the rest",
            m,
        )
        for k, m in found
    ), found
    assert say("too_large", mb=f"{600 * 1024**2 / 1024**2:,.0f}") == "600 MB; OpenAI accepts up to 512 MB"


@pytest.fixture(scope="module")
def messages():
    return [*example_findings(), *dataset_findings(), ("file_too_large", say("too_large", mb="1,024"))]


def test_every_check_message_reads_back_and_is_spanish_with_no_english_word_left(messages):
    seen: set[str] = set()
    for _, message in messages:
        reason = read_reason(message)
        assert reason is not None, f"no template reads {message!r}"
        assert reason.text("en") == message  # the English the check wrote is exactly what the structure says
        spanish = finding_message(message, "es")
        english_left = words(spanish) - SPANISH_WORDS - quoted(reason)
        assert not english_left, f"{english_left} in {spanish!r} (from {message!r})"
        seen |= keys(reason)
    templates = {k.removeprefix("msg_") for k in COST_TOML["en"] if k.startswith("msg_")}
    assert templates - seen == set(), "a template no case gives: add one"
    assert set(FINDINGS) | {"and_more"} | {f"kind_{k}" for k in KINDS} == templates
    assert {key for key, _ in messages} == set(RULES)  # every check has a case


def test_the_cost_page_examples_in_spanish():
    assert finding_message("messages[2]: content is null, expected text or a list of parts", "es") == (
        "messages[2]: el contenido es de tipo null; se espera texto o una lista de partes"
    )
    assert finding_message("messages[2]: content is empty (and 2 more)", "es") == (
        "messages[2]: el contenido está vacío (y 2 más)"
    )
    assert finding_message("'messages' is missing; expected a non-empty list", "es") == (
        "'messages': falta; se espera una lista no vacía"
    )
    assert finding_message("something a plugin said", "es") == "something a plugin said"


def test_a_finding_names_its_message_by_its_index_in_messages_as_the_panel_and_grid_do(messages):
    """The system prompt is messages[0]: the tool message of case 02 (third in the list) is messages[2], never
    "message 3"; ``message_index`` gives that index to ``studio validate --json``, None for the whole example."""
    tool_list = ex(calls(CALL), {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "ok"}]}, A)
    assert dict(check_example(tool_list))["invalid_tool_content"].startswith("messages[3]: ")
    assert (
        dict(check_example({"messages": [{"role": "system", "content": "x", "x_source": "a"}, U, A]}))[
            "message_unrecognized_key"
        ]
        == "messages[0] has unrecognized key 'x_source'"
    )
    for _, message in messages:
        values = read_reason(message).values
        inner = values.get("finding")
        named = values.get("i", inner.values.get("i") if isinstance(inner, Reason) else None)
        assert message_index(message) == (None if named is None else int(named)), message
    for lang in ("en", "es"):  # every template about one message starts with its path, in both languages
        for key, template in COST_TOML[lang].items():
            if key.startswith("msg_") and "{i}" in template:
                assert template.startswith("messages[{i}]"), (lang, key)


def test_no_check_writes_a_message_without_a_template():
    """A finding is ``(key, say(...))``: a string or f-string in its place is a message with no Spanish."""
    for name in ("format_checks.py", "validation.py"):
        tree = ast.parse((ROOT / "studio" / "cost" / name).read_text(encoding="utf-8"))
        errors = {id(n) for r in ast.walk(tree) if isinstance(r, ast.Raise) for n in ast.walk(r)}  # not findings
        errors |= {id(n.format_spec) for n in ast.walk(tree) if isinstance(n, ast.FormattedValue)}  # ",.0f"
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Tuple)
                and len(node.elts) == 2
                and isinstance(node.elts[0], ast.Constant)
                and node.elts[0].value in RULES
            ):
                assert not isinstance(node.elts[1], ast.JoinedStr | ast.Constant), f"{name}:{node.lineno}"
            if isinstance(node, ast.JoinedStr) and id(node) not in errors:  # a number format is fine
                text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                assert not words(text), f"{name}:{node.lineno}: f-string with words {text!r}"
    for key, english in ((k, v) for k, v in COST_TOML["en"].items() if k.startswith("msg_")):
        spanish = COST_TOML["es"][key]
        assert set(re.findall(r"\{(\w+)\}", spanish)) == set(re.findall(r"\{(\w+)\}", english)), key


def test_every_check_has_a_name_in_both_languages():
    for key in RULES:
        assert COST_TOML["en"][f"check_{key}"] == key and COST_TOML["es"][f"check_{key}"] != key
