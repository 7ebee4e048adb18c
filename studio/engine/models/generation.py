"""Generation: a chat completion of a loaded model, token by token (greedy or sampled, seeded, with stops).

torch is imported inside functions only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from studio.core.chat import content_text
from studio.engine.errors import ContextLengthError, InvalidValueError

if TYPE_CHECKING:
    from studio.engine.models.loading import LoadedModel

DEFAULT_MAX_TOKENS = 512
FinishReason = Literal["stop", "length"]


@dataclass
class Generation:
    """One completion: iterate for text deltas; counts and finish reason are set when iteration ends."""

    prompt_tokens: int
    completion_tokens: int = 0
    finish_reason: FinishReason = "length"
    text: str = ""
    _deltas: Iterator[str] | None = None

    def __iter__(self) -> Iterator[str]:
        assert self._deltas is not None
        return self._deltas

    def run(self) -> str:
        """Consume the whole completion and return its text."""
        for _ in self:
            pass
        return self.text


def _prompt_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    out = []
    for index, message in enumerate(messages):
        role = message.get("role")
        if role not in {"system", "developer", "user", "assistant", "tool"}:
            raise InvalidValueError(
                f"Invalid value for 'messages[{index}].role': {role!r}", param=f"messages[{index}].role"
            )
        out.append(
            {
                "role": "system" if role == "developer" else role,
                "content": content_text(message.get("content")),
            }
        )
    if not out:
        raise InvalidValueError("'messages' must contain at least one message", param="messages")
    return out


def cache_argument(model: Any) -> str:
    """``cache`` in transformers releases that renamed ``past_key_values`` (5.2x deprecates the old name)."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def encode_prompt(loaded: LoadedModel, messages: Sequence[Mapping[str, Any]]) -> tuple[Any, int]:
    """``messages`` through the model's chat template, as a (1, tokens) tensor of input ids, and how many tokens
    the context has left for the answer; :class:`ContextLengthError` when it has none."""
    prompt = loaded.tokenizer.apply_chat_template(
        _prompt_messages(messages), add_generation_prompt=True, return_dict=True, return_tensors="pt"
    )["input_ids"]
    room = loaded.context_length - prompt.shape[1]
    if room <= 0:
        raise ContextLengthError(
            f"This model's maximum context length is {loaded.context_length} tokens; the messages have "
            f"{prompt.shape[1]}.",
            param="messages",
            code="context_length_exceeded",
        )
    return prompt, int(room)


class TextAssembler:
    """Turns sampled tokens into the text a client sees, for one completion: stops at end-of-sequence, at a stop
    string (cut before it) or at ``limit`` tokens, and hands out only text that is final — never the start of a
    stop string (``len(longest stop) - 1`` characters are held back) nor half of a multi-byte character. Sets
    ``generation``'s text, token count and finish reason as it goes."""

    def __init__(
        self, generation: Generation, tokenizer: Any, eos_ids: frozenset[int], *, stop: Sequence[str], limit: int
    ) -> None:
        self.generation, self.tokenizer, self.eos_ids = generation, tokenizer, eos_ids
        self.stop, self.limit = tuple(stop), limit
        self.holdback = max((len(s) for s in self.stop), default=1) - 1
        self.ids: list[int] = []
        self.sent = 0
        self._ready: list[str] = []

    def accept(self, token: int) -> bool:
        """Take one sampled token; True when the completion is finished."""
        generation = self.generation
        if token in self.eos_ids:
            generation.finish_reason = "stop"
            return True
        self.ids.append(token)
        generation.completion_tokens = len(self.ids)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        cut = min((i for i in (text.find(s) for s in self.stop if s) if i >= 0), default=-1)
        if cut >= 0:
            generation.text = text[:cut]
            generation.finish_reason = "stop"
            return True
        generation.text = text
        ready = len(text) - self.holdback
        if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
            ready = min(ready, len(text) - 1)
        if ready > self.sent:
            self._ready.append(text[self.sent : ready])
            self.sent = ready
        if len(self.ids) >= self.limit:
            generation.finish_reason = "length"
            return True
        return False

    def take(self) -> list[str]:
        """The text made final since the last call."""
        out, self._ready = self._ready, []
        return out

    def flush(self) -> list[str]:
        """At the end: whatever was held back (the completion's text is final now)."""
        rest = self.take()
        if len(self.generation.text) > self.sent:
            rest.append(self.generation.text[self.sent :])
            self.sent = len(self.generation.text)
        return rest


def generate(
    loaded: LoadedModel,
    messages: Sequence[Mapping[str, Any]],
    *,
    max_tokens: int | None = None,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int | None = None,
    stop: Sequence[str] = (),
) -> Generation:
    """Start a completion of ``messages`` (chat template applied); iterate it for its text deltas.

    Every generation runs in the model's one decode loop (:func:`studio.engine.batching.generate_batched`),
    alone or together with the requests in flight: the same tokens either way. Raises
    :class:`~studio.engine.errors.ContextLengthError` when the prompt leaves no room for an answer.
    """
    from studio.engine.batching import generate_batched

    return generate_batched(
        loaded, messages, max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed, stop=stop
    )


def _sample(logits: Any, temperature: float, top_p: float, generator: Any) -> int:
    import torch

    logits = torch.nan_to_num(logits.float(), nan=float("-inf"))
    if temperature <= 0:
        return int(logits.argmax())
    # Shifted by the maximum first: a temperature as small as 1e-300 then gives 0 and -inf, never inf - inf.
    probs = torch.softmax((logits - logits.max()) / temperature, dim=-1)
    if not bool(torch.isfinite(probs).all()):
        return int(logits.argmax())
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        cumulative = torch.cumsum(sorted_probs, dim=-1)
        sorted_probs[(cumulative - sorted_probs) > top_p] = 0
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs.cpu(), 1, generator=generator))
