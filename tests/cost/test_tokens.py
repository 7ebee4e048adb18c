"""Offline tiktoken encodings, the model → encoding map, and the exact / cookbook counting formulas."""

import hashlib
import json
import socket

import numpy as np
import pytest
import tiktoken
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.cost import bpe, tokens
from studio.cost.bpe import get_encoding
from studio.cost.tokens import count_example_tokens, count_tokens, encoding_for_model

# Token ids published in OpenAI's cookbook "How to count tokens with tiktoken" (and tiktoken's README).
PUBLISHED = [
    ("cl100k_base", "tiktoken is great!", [83, 1609, 5963, 374, 2294, 0]),
    ("o200k_base", "tiktoken is great!", [83, 8251, 2488, 382, 2212, 0]),
    ("cl100k_base", "antidisestablishmentarianism", [519, 85342, 34500, 479, 8997, 2191]),
    ("o200k_base", "antidisestablishmentarianism", [493, 129901, 376, 160388, 21203, 2367]),
    ("cl100k_base", "2 + 2 = 4", [17, 489, 220, 17, 284, 220, 19]),
    ("o200k_base", "2 + 2 = 4", [17, 659, 220, 17, 314, 220, 19]),
    ("cl100k_base", "お誕生日おめでとう", [33334, 45918, 243, 21990, 9080, 33334, 62004, 16556, 78699]),
    ("o200k_base", "お誕生日おめでとう", [8930, 9697, 243, 128225, 8930, 17693, 4344, 48669]),
]

SPANISH = "¿Dónde está la biblioteca? Mañana cumpleaños, niño."
EMOJI = "I love pizza 🍕🎉👍🏽"
# English, Spanish and emoji counts; the Spanish and emoji ones are cross-checked below against bpe-openai's
# independent Rust tokenizer.
COUNTS = [
    ("cl100k_base", "hello world", 2),
    ("o200k_base", "hello world", 2),
    ("cl100k_base", SPANISH, 19),
    ("o200k_base", SPANISH, 13),
    ("cl100k_base", EMOJI, 15),
    ("o200k_base", EMOJI, 10),
]


@pytest.mark.parametrize("name,text,ids", PUBLISHED)
def test_published_token_ids(name, text, ids):
    encoding = get_encoding(name)
    assert isinstance(encoding, tiktoken.Encoding) and encoding.name == name
    assert encoding.encode(text) == ids
    assert encoding.decode(ids) == text


@pytest.mark.parametrize("name,text,count", COUNTS)
def test_counts_in_english_spanish_and_emoji(name, text, count):
    assert tokens.count_text_tokens(text, encoding=name) == count


@pytest.mark.filterwarnings("ignore::DeprecationWarning:bpe_openai.*")
@pytest.mark.parametrize("name", tokens.ENCODINGS)
def test_agrees_with_bpe_openai_rust_tokenizer(name):
    import bpe_openai

    rust = bpe_openai.get_encoding(name)
    for text in (SPANISH, EMOJI, "  indented\n\n\tcode();  \r\n", "ÅÄÖ ñ ü 中文 عربى 🇪🇸"):
        assert get_encoding(name).encode_ordinary(text) == rust.encode_ordinary(text)


def test_unknown_encoding_is_refused():
    with pytest.raises(ValueError, match="unknown encoding 'p50k_base'"):
        get_encoding("p50k_base")


def test_builds_offline_from_the_wheel_and_caches_verified(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    bpe._build_encoding.cache_clear()
    try:
        assert get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    finally:
        bpe._build_encoding.cache_clear()
    cached = tmp_path / "fine-tuning-studio" / "tiktoken" / "cl100k_base.tiktoken"
    data = cached.read_bytes()
    assert hashlib.sha256(data).hexdigest() == bpe._SPECS["cl100k_base"]["sha256"]
    cached.write_bytes(b"tampered")  # a corrupt cache is ignored and rewritten
    assert bpe._bpe_file("cl100k_base", bpe._SPECS["cl100k_base"]["sha256"]) == data
    assert cached.read_bytes() == data


@pytest.mark.parametrize(
    "model,name",
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o1", "o200k_base"),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("ft:gpt-3.5-turbo-0125:acme::x", "cl100k_base"),
        ("babbage-002", "cl100k_base"),
        ("davinci-002", "cl100k_base"),
        ("ft:davinci-002:acme::x", "cl100k_base"),
        ("gpt-4.1-2025-04-14", "o200k_base"),
        ("gpt-4.1-mini-2025-04-14", "o200k_base"),
    ],
)
def test_model_to_encoding(model, name):
    assert encoding_for_model(model).name == name


def test_local_models_use_a_registered_tokenizer_else_approximate(monkeypatch):
    monkeypatch.setattr(tokens, "_TOKENIZERS", {})
    fallback = tokens.text_counter("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert (fallback.name, fallback.approximate) == ("o200k_base", True)
    assert not tokens.text_counter("gpt-4o").approximate
    tokens.register_tokenizer("HuggingFaceTB/", lambda text: len(text.split()))
    own = tokens.text_counter("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert (own.approximate, own.count("three little words")) == (False, 3)


def user(text, **extra):
    return {"role": "user", "content": text, **extra}


# Exact mode: 3 per reply + per message (3 + role + content [+ 1 + name]); "user"/"assistant"/"system" are one
# token and "hello world" two in both encodings; tool calls add 3 + name + arguments.
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
EXACT = [
    ({"messages": [user("hello world")]}, 3 + 3 + 1 + 2),
    ({"messages": [user("hello world", name="bob")]}, 3 + 3 + 1 + 2 + 1 + 1),
    ({"messages": [user("hello world"), {"role": "assistant", "content": "hello world", "weight": 0}]}, 3 + 6 + 6),
    ({"messages": [user([{"type": "text", "text": "hello world"}, {"type": "image_url", "image_url": {}}])]}, 9),
    (
        {"messages": [user("hi"), {"role": "assistant", "content": None, "tool_calls": [CALL]}]},
        3 + (3 + 1 + 1) + (3 + 1 + 3 + 2 + 5),
    ),
    ({"messages": "not a list"}, 3),
    ([1, 2, 3], 0),
]


@pytest.mark.parametrize("name", tokens.ENCODINGS)
@pytest.mark.parametrize("example,expected", EXACT)
def test_exact_counts(name, example, expected):
    assert count_example_tokens(example, encoding=name, mode="exact") == expected


def test_exact_counts_tools_with_openais_function_formula():
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather now.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "City name."},
                    "unit": {"type": "string", "description": "", "enum": ["c", "f"]},
                },
            },
        },
    }
    bare = {"messages": [user("hello world")]}
    enc = get_encoding("o200k_base")
    n = lambda text: len(enc.encode_ordinary(text))  # noqa: E731
    expected = (
        7
        + n("get_weather:Weather now")
        + 3
        + (3 + n("city:string:City name"))
        + (3 + n("unit:string:") - 3 + 3 + n("c") + 3 + n("f"))
        + 12
    )
    assert count_example_tokens({**bare, "tools": [tool]}) - count_example_tokens(bare) == expected


def cookbook_num_tokens_from_messages(messages, encoding, tokens_per_message=3, tokens_per_name=1):
    """Verbatim from OpenAI's notebook "Data preparation and analysis for chat model fine-tuning"."""
    num_tokens = 0
    for message in messages:
        num_tokens += tokens_per_message
        for key, value in message.items():
            num_tokens += len(encoding.encode(value))
            if key == "name":
                num_tokens += tokens_per_name
    num_tokens += 3
    return num_tokens


COOKBOOK = [  # hand-computed: 3 per message + every value + 1 per name, + 3
    ({"messages": [user("hello world")]}, 3 + 1 + 2 + 3),
    (
        {"messages": [{"role": "system", "content": "hi"}, user("hello world", name="bob")]},
        (3 + 1 + 1) + (3 + 1 + 2 + 1 + 1) + 3,
    ),
    # where the notebook would crash, non-strings count as their JSON text: "0" and "null" are one token each
    (
        {"messages": [user("hi"), {"role": "assistant", "content": "hi", "weight": 0}]},
        (3 + 1 + 1) + (3 + 1 + 1 + 1) + 3,
    ),
    ({"messages": [user(None)]}, 3 + 1 + 1 + 3),
    ({"messages": [user([{"type": "text", "text": "hi"}])]}, 3 + 1 + 14 + 3),
]


@pytest.mark.parametrize("example,expected", COOKBOOK)
def test_cookbook_counts_by_hand(example, expected):
    assert count_example_tokens(example, encoding="cl100k_base", mode="cookbook") == expected


def test_cookbook_mode_reconciles_with_the_notebook_on_a_file(tmp_path):
    lines = [
        {
            "messages": [
                {"role": "system", "content": "You are terse."},
                user("¿Qué hora es?"),
                {"role": "assistant", "content": "Las 5 🕔"},
            ]
        },
        {
            "messages": [
                user("Hi", name="ana"),
                {"role": "assistant", "content": "Hello, Ana!"},
                user("Bye"),
                {"role": "assistant", "content": "See you."},
            ]
        },
    ]
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n", encoding="utf-8")
    examples = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    ours = count_tokens(examples, encoding="cl100k_base", mode="cookbook")
    theirs = [cookbook_num_tokens_from_messages(e["messages"], get_encoding("cl100k_base")) for e in examples]
    assert ours.tolist() == theirs


def test_parallel_counts_equal_in_process_counts(monkeypatch):
    examples = [
        {"messages": [user(f"question {i} " * (i % 7)), {"role": "assistant", "content": SPANISH}]} for i in range(300)
    ]
    serial = count_tokens(examples, workers=1)
    monkeypatch.setattr(tokens, "PARALLEL_MIN_EXAMPLES", 10)
    seen = []
    parallel = count_tokens(iter(examples), workers=2, on_progress=seen.append)
    assert isinstance(parallel, np.ndarray) and parallel.dtype == np.int64
    assert parallel.tolist() == serial.tolist()
    assert seen[-1] == 1.0


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown counting mode 'fast'"):
        count_example_tokens({"messages": []}, mode="fast")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["role", "content", "name", "tool_calls", "function", "arguments", "text", "type", "tools"]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(example=st.dictionaries(st.sampled_from(["messages", "tools", "x"]), json_values, max_size=3) | json_values)
def test_any_json_counts_without_crashing(example):
    for mode in tokens.COUNTING_MODES:
        assert count_example_tokens(example, mode=mode) >= 0


def test_a_warmed_encoding_is_built_once_and_shared(monkeypatch):
    import threading

    bpe._build_encoding.cache_clear()
    monkeypatch.setattr(bpe, "_WARMED", set())
    builds = []
    real = bpe._bpe_file
    monkeypatch.setattr(bpe, "_bpe_file", lambda *a: builds.append(a[0]) or real(*a))
    try:
        bpe.warm_encoding("cl100k_base")
        bpe.warm_encoding("cl100k_base")  # a second call starts nothing
        callers = [threading.Thread(target=get_encoding, args=("cl100k_base",)) for _ in range(3)]
        for caller in callers:
            caller.start()
        assert get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
        for caller in callers:
            caller.join()
        assert builds == ["cl100k_base"]
    finally:
        bpe._build_encoding.cache_clear()
