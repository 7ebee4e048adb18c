"""Continuous batching: concurrent requests decoded together give exactly the answers they give alone."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from studio.engine.batching import DecodeLoop, generate_batched
from studio.engine.kv_cache import PrefixCache
from studio.engine.models import generate, load_model
from tests.waiting import wait_until

pytest_plugins = ("tests.engine_fixtures",)

PROMPTS = [
    "Hi",
    "What is the capital of France?",
    "Name three colours, please.",
    "Tell me a joke",
    "Why is the sky blue? Explain briefly.",
    "2 + 2 =",
    "Write a haiku about autumn leaves.",
    "Bonjour",
]


@pytest.fixture(scope="module", params=["fp32", "int8"])
def tiny(request, tiny_model_dir):
    from studio.engine import int8

    if request.param == "int8" and not int8.supported():
        pytest.skip("this CPU has no int8 decoding kernel")
    return load_model(str(tiny_model_dir), precision=request.param)


@pytest.fixture(scope="module", params=["fp32", "int8"])
def tiny_exact(request, tiny_model_dir):
    """The tiny model in exact batching mode (STUDIO_ENGINE_EXACT_BATCHING=1)."""
    from studio.engine import int8

    if request.param == "int8" and not int8.supported():
        pytest.skip("this CPU has no int8 decoding kernel")
    return load_model(str(tiny_model_dir), precision=request.param, exact=True)


def _alone(loaded, prompt, **params):
    """The plain path: a loop of its own with nothing to reuse, so the whole prompt is prefilled in one pass and
    decoded one row at a time."""
    loaded.__dict__["_decode_loop"] = DecodeLoop(loaded, prefix_cache_bytes=0)
    generation = generate(loaded, [{"role": "user", "content": prompt}], **params)
    return generation.run(), generation.finish_reason, generation.completion_tokens


class _HeldModel:
    """The model, whose first forward pass waits for ``release``: requests that arrive meanwhile queue up and are
    then prefilled in one turn of the loop and decoded together."""

    def __init__(self, model):
        self.model, self.forward = model, model.forward
        self.release = threading.Event()

    def __call__(self, **inputs):
        if not self.release.is_set():
            self.release.wait(timeout=60)
        return self.model(**inputs)


def _together(loaded, requests):
    """``requests`` sent at once to a fresh loop whose prefix cache holds another prompt; the first prefill is
    held until every request is submitted, so they join the batch together."""
    held = _HeldModel(loaded.model)
    model = dataclasses.replace(loaded, model=held)
    loop = DecodeLoop(model)
    model.__dict__["_decode_loop"] = loop
    submitted = []
    submit = loop.submit
    loop.submit = lambda row: (submitted.append(row), submit(row))[1]  # type: ignore[method-assign]
    results: list = [None] * len(requests)
    started = threading.Barrier(len(requests))

    def one(i, prompt, params):
        started.wait()
        generation = generate_batched(model, [{"role": "user", "content": prompt}], **params)
        results[i] = (generation.run(), generation.finish_reason, generation.completion_tokens)

    held.release.set()
    generate(model, [{"role": "user", "content": "Good morning"}], max_tokens=2, temperature=0).run()
    held.release.clear()
    submitted.clear()
    threads = [threading.Thread(target=one, args=(i, p, k)) for i, (p, k) in enumerate(requests)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(submitted) == len(requests), timeout=60, message="every request submitted")
    finally:
        held.release.set()
    for thread in threads:
        thread.join(timeout=120)
    return results, loop


def test_eight_concurrent_greedy_requests_get_their_answers_alone(tiny):
    requests = [(prompt, {"max_tokens": 8 + 3 * i, "temperature": 0}) for i, prompt in enumerate(PROMPTS)]
    expected = [_alone(tiny, p, **k) for p, k in requests]
    results, loop = _together(tiny, requests)
    assert results == expected
    assert loop.peak_batch >= len(requests) // 2  # they really were decoded together,
    assert loop.peak_prefill >= len(requests) // 2  # the ones that waited were prefilled in one turn


def test_each_request_keeps_its_own_sampling_seed_stop_and_limit(tiny):
    requests = [
        ("Hi", {"max_tokens": 12, "temperature": 0.9, "top_p": 0.8, "seed": 7}),
        ("Tell me a joke", {"max_tokens": 5, "temperature": 0}),
        ("Bonjour", {"max_tokens": 20, "temperature": 1.3, "seed": 3}),
        ("2 + 2 =", {"max_tokens": 16, "temperature": 0}),
    ]
    stop_text = _alone(tiny, "2 + 2 =", max_tokens=16, temperature=0)[0]
    if len(stop_text) > 4:
        requests[3][1]["stop"] = [stop_text[2:4]]
    expected = [_alone(tiny, p, **k) for p, k in requests]
    assert _together(tiny, requests)[0] == expected


def test_closing_one_stream_does_not_disturb_the_others(tiny):
    long_params = {"max_tokens": 24, "temperature": 0}
    expected = _alone(tiny, "Why is the sky blue? Explain briefly.", **long_params)[0]
    tiny.__dict__["_decode_loop"] = DecodeLoop(tiny)
    cancelled = generate_batched(tiny, [{"role": "user", "content": "Tell me a joke"}], max_tokens=200, temperature=0)
    kept = generate_batched(tiny, [{"role": "user", "content": "Why is the sky blue? Explain briefly."}], **long_params)
    stream = iter(cancelled)
    next(stream, None)
    assert kept.run() == expected
    stream.close()  # a client that went away
    assert cancelled.completion_tokens < 200
    assert (
        generate_batched(tiny, [{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0).run()
        == _alone(tiny, "Hi", max_tokens=4, temperature=0)[0]
    )


def test_eight_concurrent_sdk_streams_interleave_and_match_their_answers_alone(tiny_engine):
    """Over HTTP with the real SDK: each stream gets exactly its answer alone (greedy), and they run together."""
    import time

    client = tiny_engine.client()
    requests = [
        {
            "model": "tiny-llama",
            "messages": [{"role": "user", "content": p}],
            "max_tokens": 24 + 2 * i,
            "temperature": 0,
            "stop": ["zz"] if i % 3 == 0 else None,
        }
        for i, p in enumerate(PROMPTS)
    ]
    alone = [client.chat.completions.create(**r).choices[0].message.content for r in requests]
    spans: list = [None] * len(requests)
    texts: list = [None] * len(requests)
    started = threading.Barrier(len(requests))

    def stream(i):
        started.wait()
        pieces, first = [], None
        for chunk in client.chat.completions.create(**requests[i], stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                first = first or time.perf_counter()
                pieces.append(chunk.choices[0].delta.content)
        spans[i], texts[i] = (first, time.perf_counter()), "".join(pieces)

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert texts == alone
    overlapping = sum(1 for i, a in enumerate(spans) for b in spans[i + 1 :] if a[0] < b[1] and b[0] < a[1])
    assert overlapping >= 1  # some stream's tokens arrived while another was still streaming


def test_a_prompt_reuses_the_longest_prefix_it_shares_and_never_its_last_token():
    import torch

    def layers(n):
        return [(torch.full((1, 2, n, 4), float(n)), torch.full((1, 2, n, 4), -float(n)))]

    cache = PrefixCache(budget=3000)
    cache.add(torch.tensor([1, 2, 3, 4]), layers(4))
    cache.add(torch.tensor([1, 2, 9]), layers(3))
    assert cache.longest(torch.tensor([1, 2, 3, 7, 8]))[0] == 3
    assert cache.longest(torch.tensor([1, 2, 9, 5]))[0] == 3
    assert cache.longest(torch.tensor([1, 2, 3, 4]))[0] == 3  # the same prompt: its last token is computed again
    assert cache.longest(torch.tensor([5, 1, 2]))[0] == 0
    cache.add(torch.tensor([1, 2, 3, 4, 5, 6]), layers(6))  # the next turn of the first chat replaces it
    assert len(cache._entries) == 2 and cache.bytes == 2 * 4 * (3 + 6) * 4 * 2
    cache.add(torch.tensor([7] * 40), layers(40))  # over the budget with the others: the least recent goes
    assert cache.longest(torch.tensor([1, 2, 9, 5]))[0] == 2  # [1, 2, 9] is gone; [1, 2, 3, 4, 5, 6] is kept
    assert cache.longest(torch.tensor([7] * 41))[0] == 40
    assert cache.bytes == 2560 + 384 <= cache.budget


def test_requests_on_their_way_to_an_idle_loop_share_its_first_prefill(tiny, monkeypatch):
    """A burst to an idle engine: the first arrival's prefill waits for the requests already announced (prompts
    being encoded), so all are prefilled in one pass; each still gets its answer alone, and an announced
    generation that is never read holds nothing once its window has passed."""
    from studio.engine import batching

    requests = [(prompt, {"max_tokens": 6 + i, "temperature": 0}) for i, prompt in enumerate(PROMPTS[:4])]
    expected = [_alone(tiny, p, **k) for p, k in requests]
    loop = DecodeLoop(tiny)
    tiny.__dict__["_decode_loop"] = loop
    monkeypatch.setattr(batching, "ADMIT_WINDOW_S", 60.0)  # only the announced requests end the wait
    generations = [generate_batched(tiny, [{"role": "user", "content": p}], **k) for p, k in requests]
    results: list = [None] * len(requests)

    def one(i):
        results[i] = (generations[i].run(), generations[i].finish_reason, generations[i].completion_tokens)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert results == expected
    assert loop.peak_prefill == len(requests) and loop.admitted == len(requests)
    assert not loop._coming  # every announcement was taken back when its request was queued

    monkeypatch.setattr(batching, "ADMIT_WINDOW_S", 0.2)
    generate_batched(tiny, [{"role": "user", "content": "never read"}], max_tokens=4)  # announced, never queued
    assert (
        generate_batched(tiny, [{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0).run()
        == (_alone(tiny, "Hi", max_tokens=4, temperature=0)[0])
    )


def _logits_by_row(monkeypatch):
    """Record the logits each row samples from, keyed by the row's own generator (one per request), once every
    earlier loop is idle (a cancelled row of another test may still be finishing its step)."""
    from studio.engine import batching

    idle = lambda: all(loop._thread is None for loop in batching.loops())  # noqa: E731
    wait_until(idle, timeout=60, message="earlier tests' loops done")
    seen: dict[int, list] = {}
    sample = batching._sample

    alive = []  # the generators, kept so that no id is reused by a later row's

    def recording(logits, temperature, top_p, generator):
        alive.append(generator)
        seen.setdefault(id(generator), []).append(logits.clone())
        return sample(logits, temperature, top_p, generator)

    monkeypatch.setattr(batching, "_sample", recording)
    return seen


def test_in_exact_mode_a_row_computes_bit_for_bit_the_logits_it_computes_alone(tiny_exact, monkeypatch):
    """Greedy answers equal alone only by luck if the numbers differ in their last bits: over longer answers a
    near tie flips (SmolLM2: "Explain how rain forms" parted from its answer alone after 120 characters beside
    one other request). In exact mode, with int8 decoding weights (the engine's choice on CPUs without native
    bf16), every logit of every step is the same alone and beside others of other lengths (left padding). In
    float32 the prompt's logits are (each prompt is prefilled alone), but a float32 matrix product of 5-8 rows
    rounds a row otherwise than one of 1 (MKL), so later steps agree to rounding only (README, "Many streams,
    one loop")."""
    import torch

    requests = [(p, {"max_tokens": 10, "temperature": 0}) for p in PROMPTS]
    seen = _logits_by_row(monkeypatch)
    alone = []
    for prompt, params in requests:
        seen.clear()
        _alone(tiny_exact, prompt, **params)
        alone.append(next(iter(seen.values())))
    seen.clear()
    _together(tiny_exact, requests)
    together = list(seen.values())[1:]  # the first is the warm-up prompt that fills the prefix cache
    assert len(together) == len(requests)
    by_first = {tuple(rows[0].tolist()): rows for rows in together}
    for prompt, rows in zip(PROMPTS, alone, strict=True):
        batched = by_first.get(tuple(rows[0].tolist()))
        assert batched is not None, f"{prompt!r}: its first logits differ in a batch"
        assert len(batched) == len(rows), prompt
        if tiny_exact.precision == "int8":
            differ = [i for i, (a, b) in enumerate(zip(rows, batched, strict=True)) if not torch.equal(a, b)]
            assert not differ, f"{prompt!r}: steps {differ} differ"
        else:
            assert all(torch.allclose(a, b, rtol=0, atol=1e-4) for a, b in zip(rows, batched, strict=True)), prompt


def test_in_exact_mode_a_prompt_whose_start_is_cached_computes_the_same_logits(tiny_exact, monkeypatch):
    """A cached start is reused up to a multiple of PREFILL_CHUNK and the rest computed in the same passes as
    without it, so the answer's numbers do not depend on what was asked before."""
    import torch

    from studio.engine.batching import PREFILL_CHUNK

    long = "Please answer briefly. " * 20 + "What is rain?"
    seen = _logits_by_row(monkeypatch)
    _alone(tiny_exact, long, max_tokens=6, temperature=0)
    fresh = next(iter(seen.values()))
    loop = DecodeLoop(tiny_exact)
    tiny_exact.__dict__["_decode_loop"] = loop
    other = "Please answer briefly. " * 20 + "What is snow?"
    generate(tiny_exact, [{"role": "user", "content": other}], max_tokens=2).run()
    seen.clear()
    generate(tiny_exact, [{"role": "user", "content": long}], max_tokens=6, temperature=0).run()
    assert loop.prefixes.reused >= PREFILL_CHUNK  # its start came from the other prompt's cache
    assert all(torch.equal(a, b) for a, b in zip(fresh, next(iter(seen.values())), strict=True))
