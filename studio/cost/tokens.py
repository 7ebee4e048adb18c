"""Exact, offline token counts for chat fine-tuning examples.

Encodings
    ``o200k_base`` and ``cl100k_base`` are real :class:`tiktoken.Encoding` objects built offline
    (:mod:`studio.cost.bpe`). Model → encoding: gpt-4o*, gpt-4.1*, gpt-5*, o1/o3/o4 → o200k_base; gpt-4*, gpt-3.5*,
    babbage-002 and davinci-002 → cl100k_base; a local engine model uses the tokenizer registered for it with
    :func:`register_tokenizer`, else o200k_base flagged as approximate.

Counting modes (``count_example_tokens`` / ``count_tokens``)
    ``exact`` — OpenAI's chat conventions, per example::

        3                                        reply priming (<|start|>assistant<|message|>)
        + Σ messages  3                          <|start|>{role}<|message|> … <|end|>
                      + len(role)
                      + len(content)             a string, or the text of every ``text`` part of a list
                      + 1 + len(name)            when the message has a ``name``
                      + Σ tool_calls 3 + len(function.name) + len(function.arguments)
                      + 3 + len(function_call.name) + len(function_call.arguments)   (legacy)
        + tools                                  the formula of OpenAI's cookbook "How to count tokens with
                                                 tiktoken" (``num_tokens_for_tools``): per function
                                                 F + len("name:description") + (3 + Σ properties
                                                 3 + len("key:type:description") + enum items) and 12 once,
                                                 F = 7 for o200k_base, 10 otherwise; nested schemas the formula
                                                 ignores (``properties``/``items`` inside a property) add the
                                                 length of their compact JSON.

    ``tool_call_id``, ``weight`` and ids are not rendered into the model's prompt and are not counted; image parts
    of list-valued content are not counted (their cost depends on the image size). OpenAI does not publish how tool
    calls are rendered, so tool-call examples are a close estimate rather than a promise.

    ``cookbook`` — the notebook "Data preparation and analysis for chat model fine-tuning"
    (``num_tokens_from_messages``), kept bit for bit so users can reconcile: per message 3 + the encoded length of
    every value + 1 per ``name`` key, then 3 per conversation; example-level ``tools`` are ignored, as there. Where
    the notebook crashes we don't: a non-string value (``None``, ``weight``, list content, ``tool_calls``) counts as
    its JSON text (``json.dumps``, default separators, ``ensure_ascii=False``), and text that looks like a special
    token (``<|endoftext|>``) counts as ordinary text instead of raising.

Speed: ``encode_ordinary`` per text in a plain loop; large inputs are split over worker processes (one per core),
since tiktoken's thread-pooled batch API is slower on short texts (:mod:`studio.cost.parallel`).
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import tiktoken

from studio.core.training import DEFAULT_BASE_MODEL, models_dir
from studio.cost.bpe import ENCODINGS, EncodingName, get_encoding
from studio.cost.parallel import map_parts, shared_items, slices, worker_count

CountingMode = Literal["exact", "cookbook"]
COUNTING_MODES: tuple[CountingMode, ...] = ("exact", "cookbook")
# The cookbook notebook counts with cl100k_base.
COOKBOOK_ENCODING: EncodingName = "cl100k_base"

# Longest prefix wins; "ft:gpt-4o-mini:org::id" is looked up by its base model.
_MODEL_PREFIXES: tuple[tuple[str, EncodingName], ...] = (
    ("gpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),
    ("babbage-002", "cl100k_base"),  # the GPT base models count with cl100k_base (tiktoken's model table)
    ("davinci-002", "cl100k_base"),
)

# Inputs smaller than this are counted in-process: a worker pool costs more than it saves.
PARALLEL_MIN_EXAMPLES = 20_000


def _base_model(model: str) -> str:
    model = model.strip()
    if model.startswith("ft:"):
        return model[3:].split(":", 1)[0]
    return model


def is_local_model(model: str) -> bool:
    """True for the local engine's models ("local…" or a Hugging Face id such as "HuggingFaceTB/SmolLM2-135M")."""
    return model.startswith("local") or "/" in model


def encoding_name_for_model(model: str) -> EncodingName:
    """ "o200k_base" or "cl100k_base" for an OpenAI model name; o200k_base for anything else."""
    base = _base_model(model)
    best: tuple[int, EncodingName] | None = None
    for prefix, name in _MODEL_PREFIXES:
        if (base == prefix or base.startswith(prefix + "-")) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), name)
    return best[1] if best else "o200k_base"


def encoding_for_model(model: str) -> tiktoken.Encoding:
    """The tiktoken Encoding OpenAI uses for ``model`` (o200k_base for models it cannot place)."""
    return get_encoding(encoding_name_for_model(model))


# --- local engine tokenizers ---------------------------------------------------------------------------------

_TOKENIZERS: dict[str, Callable[[str], int]] = {}


@dataclass(frozen=True)
class TextCounter:
    """How a model's texts are measured: ``count(text) -> tokens``; ``approximate`` when it isn't the model's own."""

    name: str
    count: Callable[[str], int]
    approximate: bool


def register_tokenizer(model_prefix: str, count_fn: Callable[[str], int]) -> None:
    """Use ``count_fn(text) -> int`` (e.g. a Hugging Face tokenizer) for models starting with ``model_prefix``."""
    if not model_prefix:
        raise ValueError("model_prefix must not be empty")
    _TOKENIZERS[model_prefix] = count_fn


def text_counter(model: str) -> TextCounter:
    """The token counter for ``model``: a registered tokenizer, else the model's tiktoken encoding.

    Local engine models without a registered tokenizer fall back to o200k_base with ``approximate=True``.
    """
    matches = [prefix for prefix in _TOKENIZERS if model.startswith(prefix)]
    if matches:
        prefix = max(matches, key=len)
        return TextCounter(name=prefix, count=_TOKENIZERS[prefix], approximate=False)
    if is_local_model(model):
        pulled = _pulled_tokenizer(DEFAULT_BASE_MODEL if model.startswith("local") else model)
        if pulled is not None:
            return pulled
    name = encoding_name_for_model(model)
    return TextCounter(name=name, count=_text_length(get_encoding(name)), approximate=is_local_model(model))


# Words whose counts are remembered per counter (about 100 bytes each) and the longest word remembered: long
# "words" (base64, URLs) rarely repeat.
_WORD_MEMO_SIZE = 1 << 19
_WORD_MEMO_CHARS = 64
# A space between two characters that are not whitespace (Python's ``\s`` includes every character of Unicode's
# White_Space, which tiktoken's patterns use).
_WORD_SPACE = re.compile(r"(?<=\S) (?=\S)")


class _WordMemo(dict[str, int]):
    """``memo[word]``: tokens of ``prefix + word``, encoded on first use (bounded: see :data:`_WORD_MEMO_SIZE`).

    A dict, so a hit is a C-level lookup (``map(memo.__getitem__, words)`` runs without Python frames)."""

    def __init__(self, encode: Callable[[str], list[int]], prefix: str) -> None:
        super().__init__()
        self.encode, self.prefix = encode, prefix

    def __missing__(self, word: str) -> int:
        size = len(self.encode(self.prefix + word))
        if len(word) <= _WORD_MEMO_CHARS and len(self) < _WORD_MEMO_SIZE:
            self[word] = size
        return size


def _text_length(encoding: tiktoken.Encoding) -> Callable[[str], int]:
    """``len(encoding.encode_ordinary(text))``, summed over words, each word encoded once per counter.

    Exact for o200k_base and cl100k_base: in both split patterns a space can sit inside a piece only as the
    piece's first character or inside a run of whitespace, so a space whose neighbours are both non-whitespace
    always starts a piece, and the pieces (hence the tokens) on either side do not depend on each other. A text
    is cut at such spaces; a word keeps its leading space (``" word"``). Texts that are printable (no whitespace
    but the space) and have no double space are cut with ``str.split``, others with :data:`_WORD_SPACE`.
    Counting this way is ~3× faster on prose, whose words repeat (tests check it against tiktoken).
    """
    encode = encoding.encode_ordinary
    first, rest = _WordMemo(encode, ""), _WordMemo(encode, " ")
    first_word, next_word = first.__getitem__, rest.__getitem__
    cut = _WORD_SPACE.split

    def count(text: str) -> int:
        words = text.split(" ") if text.isprintable() and "  " not in text else cut(text)
        if len(words) == 1:
            return first_word(text)
        return first_word(words[0]) + sum(map(next_word, itertools.islice(words, 1, None)))

    return count


def count_text_tokens(text: str, *, encoding: str | tiktoken.Encoding = "o200k_base") -> int:
    """Tokens in ``text`` (special-token lookalikes count as ordinary text)."""
    enc = get_encoding(encoding) if isinstance(encoding, str) else encoding
    return len(enc.encode_ordinary(text))


def turn_token_counts(messages: Sequence[Any], *, encoding: str = "o200k_base") -> list[int]:
    """Tokens of each turn's text and tool-call arguments in ``encoding`` (the chat format's few tokens of
    overhead per message left out): what the conversation panel shows per turn."""
    from studio.core.chat import content_text

    enc = get_encoding(encoding)
    out = []
    for message in messages:
        if not isinstance(message, Mapping):
            out.append(0)
            continue
        text = content_text(message.get("content"))
        calls = [c.get("function", {}) for c in message.get("tool_calls") or [] if isinstance(c, Mapping)]
        text += "".join(f"{c.get('name', '')}{c.get('arguments', '')}" for c in calls if isinstance(c, Mapping))
        out.append(len(enc.encode_ordinary(text)))
    return out


# --- per-example formulas ------------------------------------------------------------------------------------


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


# Texts that repeat across a dataset (system prompts, tool lists) are counted once; bounded so unique texts
# cannot grow it without limit.
_MEMO_SIZE = 4096


class _TextMemo(dict[str, int]):
    """``memo[text]``: ``n(text)``, remembered for the first :data:`_MEMO_SIZE` texts."""

    def __init__(self, n: Callable[[str], int]) -> None:
        super().__init__()
        self.n = n

    def __missing__(self, text: str) -> int:
        size = self.n(text)
        if len(self) < _MEMO_SIZE:
            self[text] = size
        return size


def _memoized(n: Callable[[str], int]) -> Callable[[str], int]:
    return _TextMemo(n).__getitem__


_REPEATING_ROLES = frozenset({"system", "developer"})


def _cookbook_counter(n: Callable[[str], int]) -> Callable[[Any], int]:
    repeated = _memoized(n)

    def count(example: Any) -> int:
        messages = example.get("messages") if isinstance(example, Mapping) else None
        total = 3
        if not isinstance(messages, list):
            return total
        for message in messages:
            total += 3
            if not isinstance(message, Mapping):
                continue
            role = message.get("role")
            system = isinstance(role, str) and role in _REPEATING_ROLES
            for key, value in message.items():
                text = _as_text(value)
                total += repeated(text) if (system or key == "role") else n(text)
                if key == "name":
                    total += 1
        return total

    return count


def _exact_counter(n: Callable[[str], int], *, function_init: int) -> Callable[[Any], int]:
    repeated = _memoized(n)
    tool_memo: dict[str, int] = {}

    def content_tokens(content: Any) -> int:
        if isinstance(content, str):
            return n(content)
        if isinstance(content, list):
            total = 0
            for part in content:
                if isinstance(part, str):
                    total += n(part)
                elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                    total += n(part["text"])
            return total
        return 0 if content is None else n(_as_text(content))

    def call_tokens(call: Any) -> int:
        if not isinstance(call, Mapping):
            return 0
        name, arguments = call.get("name"), call.get("arguments")
        return 3 + (n(name) if isinstance(name, str) else 0) + (n(_as_text(arguments)) if arguments is not None else 0)

    def extra_tokens(message: Mapping[str, Any]) -> int:
        total = 0
        name = message.get("name")
        if isinstance(name, str):
            total += 1 + n(name)
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            for call in calls:
                if isinstance(call, Mapping):
                    total += call_tokens(call.get("function"))
        if message.get("function_call") is not None:
            total += call_tokens(message.get("function_call"))
        return total

    def count(example: Any) -> int:
        if type(example) is not dict and not isinstance(example, Mapping):  # dict first: ABC checks are slow
            return 0
        messages = example.get("messages")
        total = 3
        if isinstance(messages, list):
            for message in messages:
                total += 3
                if type(message) is not dict and not isinstance(message, Mapping):
                    continue
                role = message.get("role")
                content = message.get("content")
                if isinstance(role, str):
                    total += repeated(role)
                    if isinstance(content, str):
                        total += repeated(content) if role in _REPEATING_ROLES else n(content)
                    else:
                        total += content_tokens(content)
                else:
                    total += content_tokens(content)
                if len(message) > 2:  # name, tool calls: rare, so off the hot path
                    total += extra_tokens(message)
        tools = example.get("tools")
        if isinstance(tools, list) and tools:
            key = json.dumps(tools, ensure_ascii=False, sort_keys=True, default=str)
            size = tool_memo.get(key)
            if size is None:
                size = _tools_tokens(tools, n, function_init=function_init)
                if len(tool_memo) < _MEMO_SIZE:
                    tool_memo[key] = size
            total += size
        return total

    return count


def _tools_tokens(tools: Sequence[Any], n: Callable[[str], int], *, function_init: int) -> int:
    """OpenAI cookbook's ``num_tokens_for_tools``, made total over malformed or nested definitions."""
    total = 12  # end of the tool list
    for tool in tools:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(function, Mapping):
            total += n(_as_text(tool))
            continue
        total += function_init
        description = str(function.get("description") or "").removesuffix(".")
        total += n(f"{function.get('name', '')}:{description}")
        parameters = function.get("parameters")
        properties = parameters.get("properties") if isinstance(parameters, Mapping) else None
        if not isinstance(properties, Mapping) or not properties:
            continue
        total += 3
        for key, schema in properties.items():
            total += 3
            schema = schema if isinstance(schema, Mapping) else {}
            enum = schema.get("enum")
            if isinstance(enum, list):
                total += -3 + sum(3 + n(_as_text(item)) for item in enum)
            p_type = schema.get("type", "")
            p_desc = str(schema.get("description") or "").removesuffix(".")
            total += n(f"{key}:{p_type if isinstance(p_type, str) else _as_text(p_type)}:{p_desc}")
            nested = {k: schema[k] for k in ("properties", "items") if k in schema}
            if nested:
                total += n(json.dumps(nested, ensure_ascii=False, separators=(",", ":")))
    return total


def example_counter(
    *, encoding: str | tiktoken.Encoding | Callable[[str], int] = "o200k_base", mode: CountingMode = "exact"
) -> Callable[[Any], int]:
    """A function ``example -> tokens`` for one encoding and counting mode (reuse it over many examples)."""
    if mode not in COUNTING_MODES:
        raise ValueError(f"unknown counting mode {mode!r}; choose one of {', '.join(COUNTING_MODES)}")
    if callable(encoding) and not isinstance(encoding, tiktoken.Encoding):
        n, function_init = encoding, 7
    else:
        enc = get_encoding(encoding) if isinstance(encoding, str) else encoding
        n, function_init = _text_length(enc), (7 if enc.name == "o200k_base" else 10)
    return _cookbook_counter(n) if mode == "cookbook" else _exact_counter(n, function_init=function_init)


def count_example_tokens(
    example: Mapping[str, Any],
    *,
    encoding: str | tiktoken.Encoding = "o200k_base",
    mode: CountingMode = "exact",
) -> int:
    """Tokens of one chat example (``{"messages": [...], "tools"?: [...]}``) under ``mode``; never raises on shape."""
    return example_counter(encoding=encoding, mode=mode)(example)


def _count_slice(start: int, stop: int, items: Sequence[Any] | None, encoding: str, mode: CountingMode) -> np.ndarray:
    count = example_counter(encoding=encoding, mode=mode)
    source = shared_items(start, stop, items)
    return np.fromiter((count(example) for example in source), dtype=np.int64, count=len(source))


def count_tokens(
    examples: Iterable[Any],
    *,
    encoding: str | tiktoken.Encoding | Callable[[str], int] = "o200k_base",
    mode: CountingMode = "exact",
    workers: int | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> np.ndarray:
    """Token count of every example, as an int64 array in input order.

    Inputs of :data:`PARALLEL_MIN_EXAMPLES` or more are split over ``workers`` processes (default: one per core)
    when ``encoding`` is a tiktoken encoding; a custom counter function always runs in this process.
    ``on_progress(fraction)`` is called as parts finish.
    """
    items = examples if isinstance(examples, Sequence) else list(examples)
    workers = worker_count(workers)
    name = encoding if isinstance(encoding, str) else getattr(encoding, "name", None)
    if len(items) < PARALLEL_MIN_EXAMPLES or workers == 1 or name not in ENCODINGS:
        count = example_counter(encoding=encoding, mode=mode)
        out = np.fromiter((count(example) for example in items), dtype=np.int64, count=len(items))
        if on_progress:
            on_progress(1.0)
        return out
    get_encoding(name)  # load once here so forked workers inherit it
    tasks = [(start, stop, name, mode) for start, stop in slices(len(items), workers=workers)]
    parts = map_parts(_count_slice, tasks, workers=workers, items=items, on_progress=on_progress)
    return np.concatenate(parts)


@functools.cache
def _pulled_tokenizer(name: str) -> TextCounter | None:
    """The exact counter of a model the local engine has pulled (its ``tokenizer.json`` under
    :func:`~studio.core.training.models_dir`, read with Hugging Face ``tokenizers``); None when it is not there or
    ``tokenizers`` (the engine extra) is not installed."""
    path = models_dir() / name.replace("/", "--") / "tokenizer.json"
    if not path.is_file():
        return None
    try:
        from tokenizers import Tokenizer
    except ImportError:
        return None
    tokenizer = Tokenizer.from_file(str(path))
    return TextCounter(
        name=name, count=lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids), approximate=False
    )
