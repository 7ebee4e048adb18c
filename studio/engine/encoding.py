"""Training data: chat examples read from JSONL, rendered with the model's chat template and tokenised.

Loss is taken only on assistant turns whose ``weight`` is not 0; everything else is labelled ``-100``.
Tokenizers are duck-typed (``apply_chat_template``, ``__call__`` with offsets): nothing here imports transformers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.chat import content_text
from studio.engine.errors import TrainingDataError

_CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class EncodedExample:
    input_ids: list[int]
    labels: list[int]
    """``-100`` where no loss is taken (prompt, system, weight-0 assistant turns)."""

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != -100)


def read_examples(path: Path, *, name: str = "training_file", param: str | None = None) -> list[dict[str, Any]]:
    """Chat examples of a JSONL file (``{"messages": [...]}`` per line).

    Raises :class:`TrainingDataError` naming ``name`` and the line, with ``param`` (default ``name``) for the
    API's error object; ``UnicodeDecodeError`` for a file that is not UTF-8.
    """
    examples = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                example = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TrainingDataError(
                    f"{name} line {number}: invalid JSON ({exc.msg})", param=param or name
                ) from None
            messages = example.get("messages") if isinstance(example, dict) else None
            if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
                raise TrainingDataError(
                    f"{name} line {number}: expected an object with a 'messages' list", param=param or name
                )
            examples.append(example)
    if not examples:
        raise TrainingDataError(f"{name} has no examples", param=param or name)
    return examples


def _message_text(message: Mapping[str, Any]) -> str:
    text = content_text(message.get("content"))
    if not text and message.get("tool_calls"):
        text = json.dumps(message["tool_calls"], ensure_ascii=False)
    return text


def ensure_chat_template(tokenizer: Any) -> None:
    """Give a tokenizer without a chat template the ChatML one."""
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = _CHATML_TEMPLATE


def _render(tokenizer: Any, messages: list[dict[str, str]], *, generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def encode_example(tokenizer: Any, example: Mapping[str, Any], *, max_length: int) -> EncodedExample:
    """Token ids of the rendered conversation and labels on the trained assistant turns (truncated)."""
    raw = [m for m in example["messages"] if m.get("role") in {"system", "developer", "user", "assistant", "tool"}]
    messages = [{"role": "system" if m["role"] == "developer" else m["role"], "content": _message_text(m)} for m in raw]
    full = _render(tokenizer, messages, generation_prompt=False)
    spans: list[tuple[int, int]] = []
    cursor = 0
    for i, message in enumerate(raw):
        if message.get("role") != "assistant" or message.get("weight", 1) == 0:
            continue
        span = None
        if i > 0:
            before = _render(tokenizer, messages[:i], generation_prompt=True)
            through = _render(tokenizer, messages[: i + 1], generation_prompt=False)
            if through.startswith(before) and full.startswith(through) and len(before) >= cursor:
                span = (len(before), len(through))
        if span is None:  # a template whose renders are not prefixes of each other: train the content only
            start = full.find(messages[i]["content"], cursor)
            if start < 0:
                continue
            span = (start, start + len(messages[i]["content"]))
        spans.append(span)
        cursor = span[1]
    encoding = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True, truncation=False)
    ids = list(encoding["input_ids"])[:max_length]
    offsets = list(encoding["offset_mapping"])[:max_length]
    labels = [-100] * len(ids)
    for j, (start, end) in enumerate(offsets):
        if end > start and any(a <= start < b for a, b in spans):
            labels[j] = ids[j]
    return EncodedExample(input_ids=ids, labels=labels)


def encode_examples(
    tokenizer: Any, examples: Sequence[Mapping[str, Any]], *, max_length: int, name: str = "training_file"
) -> list[EncodedExample]:
    """Encoded examples that keep at least one trained token; TrainingDataError when none does."""
    ensure_chat_template(tokenizer)
    encoded = [encode_example(tokenizer, e, max_length=max_length) for e in examples]
    kept = [e for e in encoded if e.trained_tokens > 0]
    if not kept:
        raise TrainingDataError(
            f"{name}: no example has an assistant turn to train on (weight 0 or truncated)", param=name
        )
    return kept


def chat_file_problems(path: Path, *, name: str) -> list[str]:
    """Why the JSONL chat file at ``path`` (called ``name`` in messages) cannot be trained on; empty when it can.

    The engine's own upload check when no validator is injected (``create_app(validate_upload=...)``): the
    file must parse (:func:`read_examples`) and every example needs an assistant message to learn from.
    """
    try:
        examples = read_examples(path, name=name, param="file")
    except TrainingDataError as exc:
        return [str(exc)]
    except UnicodeDecodeError:
        return [f"{name} is not UTF-8 text"]
    return [
        f"{name} example {number}: no assistant message to learn from"
        for number, example in enumerate(examples, start=1)
        if not any(m.get("role") == "assistant" for m in example["messages"])
    ]
