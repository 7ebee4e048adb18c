"""Exact, offline token counts for chat fine-tuning examples.

Encodings
    ``o200k_base`` and ``cl100k_base`` are real :class:`tiktoken.Encoding` objects built from the BPE files shipped
    in the ``bpe-openai`` wheel, checked against the sha256 that tiktoken itself pins. Nothing is downloaded; the
    unzipped file is cached under ``$XDG_CACHE_HOME/fine-tuning-studio/tiktoken`` (re-verified on every load).
    Model → encoding: gpt-4o*, gpt-4.1*, gpt-5*, o1/o3/o4 → o200k_base; gpt-4*, gpt-3.5*, babbage-002 and
    davinci-002 → cl100k_base; a local engine model uses the tokenizer registered for it with
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
since tiktoken's thread-pooled batch API is slower on short texts.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import multiprocessing
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import tiktoken

CountingMode = Literal["exact", "cookbook"]
COUNTING_MODES: tuple[CountingMode, ...] = ("exact", "cookbook")
EncodingName = Literal["o200k_base", "cl100k_base"]
ENCODINGS: tuple[EncodingName, ...] = ("o200k_base", "cl100k_base")
# The cookbook notebook counts with cl100k_base.
COOKBOOK_ENCODING: EncodingName = "cl100k_base"

# Copied from tiktoken_ext/openai_public.py (tiktoken 0.14): file hashes, split patterns and special tokens.
_SPECS: dict[str, dict[str, Any]] = {
    "cl100k_base": {
        "sha256": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        "pat_str": r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
        "special_tokens": {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    },
    "o200k_base": {
        "sha256": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "pat_str": "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        "special_tokens": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    },
}

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


_BUILD_LOCK = threading.Lock()


def get_encoding(name: str) -> tiktoken.Encoding:
    """The tiktoken Encoding ``name`` ("o200k_base" or "cl100k_base"), built offline once per process (a caller
    that arrives while another thread builds it waits for that build)."""
    with _BUILD_LOCK:
        return _build_encoding(name)


_WARMED: set[str] = set()


def warm_encoding(name: str = "o200k_base") -> None:
    """Build ``name`` in a background thread (~0.35 s) once per process, so the first token count a page shows
    does not wait for it; later calls do nothing."""
    if name not in _WARMED:
        _WARMED.add(name)
        threading.Thread(target=get_encoding, args=(name,), name=f"warm-{name}", daemon=True).start()


@cache
def _build_encoding(name: str) -> tiktoken.Encoding:
    spec = _SPECS.get(name)
    if spec is None:
        raise ValueError(f"unknown encoding {name!r}; choose one of {', '.join(ENCODINGS)}")
    data = _bpe_file(name, spec["sha256"])
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name=name, pat_str=spec["pat_str"], mergeable_ranks=ranks, special_tokens=spec["special_tokens"]
    )


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fine-tuning-studio" / "tiktoken"


def _bpe_file(name: str, sha256: str) -> bytes:
    """The verified ``.tiktoken`` file: from the cache if intact, else unzipped from the bpe-openai wheel."""
    cached = _cache_dir() / f"{name}.tiktoken"
    try:
        data = cached.read_bytes()
        if hashlib.sha256(data).hexdigest() == sha256:
            return data
    except OSError:
        pass
    packed = resources.files("bpe_openai.data").joinpath(f"{name}.tiktoken.gz").read_bytes()
    data = gzip.decompress(packed)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise RuntimeError(f"bpe_openai/data/{name}.tiktoken.gz has sha256 {actual}, expected {sha256}")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cached.parent, delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, cached)
    except OSError:
        pass  # a read-only home only costs the unzip on the next start
    return data


def _base_model(model: str) -> str:
    model = model.strip()
    if model.startswith("ft:"):
        return model[3:].split(":", 1)[0]
    return model


def is_local_model(model: str) -> bool:
    """True for the local engine's models ("local…" or a Hugging Face id such as "HuggingFaceTB/SmolLM2-135M")."""
    return model.startswith("local") or "/" in model


def encoding_name_for_model(model: str) -> EncodingName:
    """"o200k_base" or "cl100k_base" for an OpenAI model name; o200k_base for anything else."""
    base = _base_model(model)
    best: tuple[int, EncodingName] | None = None
    for prefix, name in _MODEL_PREFIXES:
        if base == prefix or base.startswith(prefix + "-"):
            if best is None or len(prefix) > best[0]:
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
    name = encoding_name_for_model(model)
    return TextCounter(name=name, count=_text_length(get_encoding(name)), approximate=is_local_model(model))


def _text_length(encoding: tiktoken.Encoding) -> Callable[[str], int]:
    encode = encoding.encode_ordinary
    return lambda text: len(encode(text))


def count_text_tokens(text: str, *, encoding: str | tiktoken.Encoding = "o200k_base") -> int:
    """Tokens in ``text`` (special-token lookalikes count as ordinary text)."""
    enc = get_encoding(encoding) if isinstance(encoding, str) else encoding
    return len(enc.encode_ordinary(text))


# --- per-example formulas ------------------------------------------------------------------------------------


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


# Texts that repeat across a dataset (system prompts, tool lists) are counted once; bounded so unique texts
# cannot grow it without limit.
_MEMO_SIZE = 4096


def _memoized(n: Callable[[str], int]) -> Callable[[str], int]:
    memo: dict[str, int] = {}

    def count(text: str) -> int:
        size = memo.get(text)
        if size is None:
            size = n(text)
            if len(memo) < _MEMO_SIZE:
                memo[text] = size
        return size

    return count


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
        return (
            3
            + (n(name) if isinstance(name, str) else 0)
            + (n(_as_text(arguments)) if arguments is not None else 0)
        )

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
        if not isinstance(example, Mapping):
            return 0
        messages = example.get("messages")
        total = 3
        if isinstance(messages, list):
            for message in messages:
                total += 3
                if not isinstance(message, Mapping):
                    continue
                role = message.get("role")
                if isinstance(role, str):
                    total += repeated(role)
                content = message.get("content")
                if isinstance(content, str) and isinstance(role, str) and role in _REPEATING_ROLES:
                    total += repeated(content)
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


# --- many examples -------------------------------------------------------------------------------------------

# Under the "fork" start method, workers read shared items from this inherited global instead of a pickle.
_SHARED: Sequence[Any] = ()


def shared_items(start: int, stop: int, items: Sequence[Any] | None) -> Sequence[Any]:
    """Inside a worker of :func:`map_parts`: ``items`` when they were pickled, else the inherited slice."""
    return _SHARED[start:stop] if items is None else items


def pool_context() -> multiprocessing.context.BaseContext:
    """Process start method for worker pools: fork on Linux (workers inherit loaded encodings), else the default."""
    if sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def worker_count(workers: int | None = None) -> int:
    """Worker processes to use: ``workers`` if given, else one per available core."""
    if workers is not None:
        return max(1, workers)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def map_parts(
    fn: Callable[..., Any],
    tasks: Sequence[tuple[Any, ...]],
    *,
    workers: int,
    items: Sequence[Any] | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> list[Any]:
    """``[fn(*task) for task in tasks]`` over a process pool, results in task order.

    With ``items``, every task starts with ``(start, stop)`` and ``fn`` receives a third argument: the pickled
    slice, or None under fork, where :func:`shared_items` reads the parent's list without copying it.
    """
    global _SHARED
    context = pool_context()
    forked = context.get_start_method() == "fork"
    results: dict[int, Any] = {}
    _SHARED = items if (items is not None and forked) else ()
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {}
            for index, task in enumerate(tasks):
                if items is not None:
                    start, stop, *rest = task
                    task = (start, stop, None if forked else list(items[start:stop]), *rest)
                futures[pool.submit(fn, *task)] = index
            for done, future in enumerate(as_completed(futures), 1):
                results[futures[future]] = future.result()
                if on_progress:
                    on_progress(done / len(tasks))
    finally:
        _SHARED = ()
    return [results[index] for index in range(len(tasks))]


def _count_slice(start: int, stop: int, items: Sequence[Any] | None, encoding: str, mode: CountingMode) -> np.ndarray:
    count = example_counter(encoding=encoding, mode=mode)
    source = shared_items(start, stop, items)
    return np.fromiter((count(example) for example in source), dtype=np.int64, count=len(source))


def slices(total: int, *, workers: int, minimum: int = 5_000) -> list[tuple[int, int]]:
    """About eight ``(start, stop)`` slices per worker (for progress and load balance), none below ``minimum``."""
    step = max(minimum, -(-total // (workers * 8)))
    return [(start, min(start + step, total)) for start in range(0, total, step)]


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
    if len(items) < PARALLEL_MIN_EXAMPLES or workers == 1 or name not in _SPECS:
        count = example_counter(encoding=encoding, mode=mode)
        out = np.fromiter((count(example) for example in items), dtype=np.int64, count=len(items))
        if on_progress:
            on_progress(1.0)
        return out
    get_encoding(name)  # load once here so forked workers inherit it
    tasks = [(start, stop, name, mode) for start, stop in slices(len(items), workers=workers)]
    parts = map_parts(_count_slice, tasks, workers=workers, items=items, on_progress=on_progress)
    return np.concatenate(parts)
