"""Asking a target: shared generation parameters, one request under the provider retry policy, a stream, or every
target's stream at once (:func:`stream_side_by_side`).

A case's ``tools`` / ``parallel_tool_calls`` go with its requests (``options``); answers keep the tool calls a model
makes, in OpenAI's shape (``[{"id", "type": "function", "function": {"name", "arguments"}}]``).

Each request runs under :class:`studio.providers.retry.RetryPolicy` (the SDK client's own retries off, so every
attempt is counted); an error that remains is kept on the :class:`Answer` (scrubbed of the key), never raised.
"""

from __future__ import annotations

import functools
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from studio.errors import StudioError
from studio.playground.cases import with_system
from studio.playground.costs import PriceMap, cost_of
from studio.playground.targets import CompareError, Target
from studio.providers.profiles import Profile, api_key_for, make_client
from studio.providers.retry import RetryInterrupted, RetryPolicy, describe_error, should_retry

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam


@dataclass(frozen=True)
class Params:
    """Shared generation parameters; the system prompt replaces the test set's own when it is not empty."""

    system_prompt: str = ""
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.temperature <= 2:
            raise CompareError(f"temperature must be between 0 and 2, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise CompareError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise CompareError(f"max tokens must be at least 1, got {self.max_tokens}")

    def request(self) -> dict[str, Any]:
        options: dict[str, Any] = {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens}
        if self.seed is not None:
            options["seed"] = self.seed
        return options


@dataclass
class Answer:
    """One target's answer to one prompt (or the error that ended its attempts)."""

    text: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    cost: float | None = None
    error: str | None = None
    attempts: int = 0
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] | None = None  # the calls the model made (None: it called nothing)

    @property
    def ok(self) -> bool:
        return self.error is None


class Caller:
    """One target's client (no SDK retries: ours are counted) and the retry policy around each request."""

    def __init__(
        self,
        target: Target,
        api_key: str | None,
        policy: RetryPolicy,
        params: Params,
        prices: PriceMap | None,
        sleep: Callable[[float], Any],
        stop: threading.Event,
    ) -> None:
        self.target, self.policy, self.params, self.prices = target, policy, params, prices
        self.api_key = api_key if api_key is not None else api_key_for(target.profile)
        self.client = make_client(target.profile, api_key=self.api_key, timeout=policy.timeout, max_retries=0)
        self.sleep = sleep
        self.stop = stop

    def ask(
        self, messages: list[dict[str, Any]], rng: random.Random, options: Mapping[str, Any] | None = None
    ) -> Answer:
        """One answer to ``messages``; ``options`` adds request fields (a case's ``tools``,
        ``parallel_tool_calls``)."""
        import openai

        answer = Answer()
        extra = {**self.params.request(), **(options or {})}

        def request() -> Any:
            answer.attempts += 1
            return self.client.chat.completions.create(model=self.target.model, messages=_chat(messages), **extra)

        started = time.perf_counter()
        try:
            response = self.policy.call(request, sleep=self.sleep, stop=self.stop, rng=rng)
        except RetryInterrupted as exc:
            answer.error = f"{describe_error(exc.last, keys=[self.api_key])} (interrupted before retrying)"
            return answer
        except openai.OpenAIError as exc:
            answer.error = describe_error(exc, keys=[self.api_key])
            if should_retry(exc) and answer.attempts >= self.policy.max_attempts:
                answer.error += f" (gave up after {answer.attempts} attempts)"
            return answer
        answer.latency_s = time.perf_counter() - started
        choice = response.choices[0] if response.choices else None
        answer.text = (choice.message.content or "") if choice else ""
        answer.finish_reason = choice.finish_reason if choice else None
        calls = choice.message.tool_calls if choice else None
        answer.tool_calls = [call.model_dump(mode="json", exclude_none=True) for call in calls] if calls else None
        if response.usage is not None:
            answer.tokens_in, answer.tokens_out = response.usage.prompt_tokens, response.usage.completion_tokens
        answer.cost = cost_of(self.target, answer.tokens_in, answer.tokens_out, prices=self.prices)
        return answer


@dataclass
class StreamStats:
    """One streamed answer: filled in by :func:`stream_answer` as chunks arrive and when the stream ends."""

    name: str = ""
    model: str = ""
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    first_token_s: float | None = None
    cost: float | None = None
    text: str = ""
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # assembled from the streamed deltas


def stream_answer(
    target: Target,
    messages: Sequence[Mapping[str, Any]],
    params: Params,
    stats: StreamStats,
    *,
    api_key: str | None = None,
    timeout: float = 120.0,
    retry: RetryPolicy = RetryPolicy(max_attempts=3),
    options: Mapping[str, Any] | None = None,
) -> Iterator[str]:
    """Stream one answer as text chunks; ``stats`` holds tokens, latency and cost once the stream is exhausted,
    and the tool calls the model made (``options`` adds request fields: ``tools``, ``parallel_tool_calls``).

    Opening the stream is retried under ``retry``; a stream that fails midway is not (its text is already shown),
    and raises :class:`CompareError` with what was received kept in ``stats.text``.
    """
    import openai

    key = api_key if api_key is not None else api_key_for(target.profile)
    request = {
        "model": target.model,
        "messages": _chat(with_system(messages, params.system_prompt)),
        "stream": True,
        "stream_options": {"include_usage": True},
        **params.request(),
        **(options or {}),
    }

    def open_stream() -> Any:
        client = _stream_client(target.profile, key, timeout)
        try:
            return client.chat.completions.create(**request)
        except openai.APIConnectionError:
            _stream_client.cache_clear()  # a pooled connection to a server that restarted: a new client next try
            raise

    started = time.perf_counter()
    try:
        stream = retry.call(open_stream)
        for chunk in stream:
            if chunk.usage is not None:
                stats.tokens_in, stats.tokens_out = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
            for choice in chunk.choices:
                if choice.finish_reason:
                    stats.finish_reason = choice.finish_reason
                for call in (choice.delta.tool_calls if choice.delta else None) or []:
                    _add_call_delta(stats.tool_calls, call)
                if choice.delta and choice.delta.content:
                    if stats.first_token_s is None:
                        stats.first_token_s = time.perf_counter() - started
                    stats.text += choice.delta.content
                    yield choice.delta.content
    except openai.OpenAIError as exc:
        raise CompareError(f"{target.name}: {describe_error(exc, keys=[key])}") from None
    stats.latency_s = time.perf_counter() - started
    stats.cost = cost_of(target, stats.tokens_in, stats.tokens_out)


@functools.lru_cache(maxsize=16)
def _stream_client(profile: Profile, api_key: str | None, timeout: float) -> Any:
    """One client per (profile, key, timeout), kept for the next message: a new client costs about 40 ms of CPU
    (its TLS context), paid once instead of once per target per message. The key stays in memory only."""
    return make_client(profile, api_key=api_key, timeout=timeout, max_retries=0)


def _add_call_delta(calls: list[dict[str, Any]], delta: Any) -> None:
    """Fold one streamed tool-call delta (OpenAI sends the id and name first, then pieces of the arguments)."""
    while len(calls) <= delta.index:
        calls.append({"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
    call = calls[delta.index]
    if delta.id:
        call["id"] = delta.id
    if delta.function is not None:
        call["function"]["name"] += delta.function.name or ""
        call["function"]["arguments"] += delta.function.arguments or ""


@dataclass(frozen=True)
class StreamEvent:
    """One step of :func:`stream_side_by_side`: target number ``target`` sent ``text``, finished, or failed."""

    target: int
    kind: Literal["text", "done", "error"]
    text: str = ""


def stream_side_by_side(
    targets: Sequence[Target],
    conversations: Sequence[Sequence[Mapping[str, Any]]],
    params: Params,
    stats: Sequence[StreamStats],
    *,
    api_key: str | None = None,
    options: Mapping[str, Any] | None = None,
    timeout: float = 120.0,
) -> Iterator[StreamEvent]:
    """Every target streams its answer at the same time, one thread each; the events arrive here, in the caller's
    thread, in the order the chunks came (so a page draws them without calling Streamlit from a worker).

    ``conversations[i]`` is what target ``i`` is asked (each keeps its own history); ``stats[i]`` is filled as
    :func:`stream_answer` fills it. Each target ends with one ``done`` or ``error`` event (the error's text is
    the message). Closing the iterator early stops the streams at their next chunk. Wall time is the slowest
    target's, not the sum.
    """
    if not len(targets) == len(conversations) == len(stats):
        raise CompareError("stream_side_by_side needs one conversation and one StreamStats per target")
    events: queue.Queue[StreamEvent] = queue.Queue()
    stop = threading.Event()

    def work(i: int) -> None:
        try:
            chunks = stream_answer(
                targets[i], conversations[i], params, stats[i], api_key=api_key, timeout=timeout, options=options
            )
            for chunk in chunks:
                if stop.is_set():
                    cast("Any", chunks).close()
                    break
                events.put(StreamEvent(i, "text", chunk))
        except StudioError as exc:  # CompareError from the stream, ProviderError (no key) from the client
            events.put(StreamEvent(i, "error", str(exc)))
        except Exception as exc:
            events.put(StreamEvent(i, "error", f"{targets[i].name}: {type(exc).__name__}: {exc}"))
        else:
            events.put(StreamEvent(i, "done"))

    threads = [threading.Thread(target=work, args=(i,), name=f"stream-{i}", daemon=True) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    open_streams = len(threads)
    try:
        while open_streams:
            event = events.get()
            open_streams -= event.kind != "text"
            yield event
    finally:
        stop.set()


def _chat(messages: Sequence[Mapping[str, Any]]) -> Sequence[ChatCompletionMessageParam]:
    """The dataset's messages as the SDK's typed message dicts: they are OpenAI-format already (checked where they
    enter), so this only tells the type checker."""
    return cast("Sequence[ChatCompletionMessageParam]", messages)
