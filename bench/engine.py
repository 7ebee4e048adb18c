"""Local engine: LoRA step time against a bare torch + peft loop, greedy generation speed, cached model load.

Every function needs the default model pulled (``studio engine pull``); none downloads anything. The size
argument is ``"STEPS"`` for training (quick runs use fewer) and ``"TOKENS"`` for generation.

Precision: both training loops use the engine's choice (:func:`studio.engine.trainer.select_device`): bf16
autocast where the CPU runs bf16 natively (AVX512-BF16/AMX), else fp32; ``STUDIO_ENGINE_PRECISION=bf16|fp32``
forces it for both. Threads: both use every core the process may run on.
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

from bench.data import chat_jsonl

BATCH = 4
SEQ = 128
WARMUP_STEPS = 3
LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": "all-linear", "task_type": "CAUSAL_LM"}
PROMPT = [
    {
        "role": "user",
        "content": "Explain in detail how a patient with a mild fever should rest, drink "
        "water and when to visit a clinic.",
    }
]


def _base() -> str:
    import transformers

    from studio.engine.models import is_pulled, smollm2_dir

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    if not is_pulled():
        raise SystemExit(f"{smollm2_dir()} is missing: run `studio engine pull` first (the bench downloads nothing)")
    return str(smollm2_dir())


def _examples(steps: int) -> list[dict]:
    """``steps × 4`` conversations that each render to more than 128 tokens (cut to exactly 128), so every
    batch is 4 × 128 whatever the order: a question from the bench data and an answer made of eight answers."""
    import orjson

    lines = chat_jsonl("1k").read_bytes().splitlines()
    pairs = []
    for line in lines:
        messages = orjson.loads(line)["messages"]
        text = {m.get("role"): m.get("content") for m in reversed(messages)}  # the first of each role
        user, answer = text.get("user"), text.get("assistant")
        if isinstance(user, str) and isinstance(answer, str):
            pairs.append((user, answer))
    out = []
    for n in range(steps * BATCH):
        user = pairs[n % len(pairs)][0]
        answer = " ".join(pairs[(n + k) % len(pairs)][1] for k in range(1, 9))
        out.append({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]})
    return out


def _steps(per_step: dict[int, float]) -> dict:
    """Median step time over steps after the first ``WARMUP_STEPS`` (numbered from 1)."""
    kept = [t for step, t in per_step.items() if step > WARMUP_STEPS] or list(per_step.values())
    return {"wall_s": statistics.median(kept), "steps_timed": len(kept), "tokens_per_step": BATCH * SEQ}


# -- LoRA step time -----------------------------------------------------------------------------------------------


def train_ours(steps: str = "20") -> dict:
    """``studio.engine.trainer.train`` as the engine's worker runs it: each step asks the job store whether to
    go on and writes a metrics event. Step time = time between consecutive metrics callbacks (the whole loop)."""
    import torch

    from studio.engine import trainer
    from studio.engine.hyperparameters import TrainingConfig
    from studio.engine.store import EngineStore

    base, examples = _base(), _examples(int(steps))
    home = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    store = EngineStore(home)
    job = store.create_job(
        model="smollm2-135m-instruct",
        base_source={"path": base},
        training_file="file-bench",
        validation_file=None,
        suffix=None,
        seed=1,
        hyperparameters={},
    )
    store.update_job(job.id, status="running")
    config = TrainingConfig(n_epochs=1, batch_size=BATCH, learning_rate_multiplier=1.0, seed=1, max_length=SEQ)
    stamps: list[float] = []
    inner: list[float] = []

    def control() -> trainer.Control:
        return "continue" if store.get_job(job.id).status == "running" else "cancel"

    def on_metrics(metrics: dict) -> None:
        store.add_event(job.id, f"Step {metrics['step']}", type="metrics", data=metrics)
        stamps.append(time.perf_counter())
        inner.append(metrics["step_seconds"])

    result = trainer.train(
        base=base,
        train_examples=examples,
        valid_examples=None,
        config=config,
        job_dir=store.job_dir(job.id),
        callbacks=trainer.TrainingCallbacks(control=control, on_metrics=on_metrics),
    )
    # Step 1's interval would include loading the model: steps 2.. are timed from the previous callback.
    per_step = {n: b - a for n, (a, b) in enumerate(pairwise(stamps), start=2)}
    _, autocast = trainer.select_device()
    return {
        **_steps(per_step),
        "inner_step_s": statistics.median(inner[WARMUP_STEPS:] or inner),
        "steps": result.step,
        "precision": "bf16" if autocast is torch.bfloat16 else "fp32",
        "threads": torch.get_num_threads(),
    }


def train_bare(steps: str = "20") -> dict:
    """The baseline: a plain torch + peft loop on the same model, LoRA config, optimizer and batches (the
    trainer's own encoding, in the trainer's order), with the standard ``model(..., labels=...)`` loss."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio.engine.encoding import encode_examples
    from studio.engine.trainer import select_device, set_threads
    from studio.engine.training_batches import epoch_order

    set_threads()
    _, autocast = select_device()
    base, examples = _base(), _examples(int(steps))
    torch.manual_seed(1)
    tokenizer = AutoTokenizer.from_pretrained(base)
    encoded = encode_examples(tokenizer, examples, max_length=SEQ)
    order = epoch_order(len(encoded), 1, 0)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(**LORA))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0)
    intervals = []
    for start in range(0, len(order), BATCH):
        begin = time.perf_counter()
        batch = [encoded[i] for i in order[start : start + BATCH]]
        width = max(len(e.input_ids) for e in batch)
        ids = torch.tensor([e.input_ids + [pad] * (width - len(e.input_ids)) for e in batch])
        labels = torch.tensor([e.labels + [-100] * (width - len(e.labels)) for e in batch])
        mask = torch.tensor([[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in batch])
        with torch.autocast("cpu", dtype=autocast or torch.float32, enabled=autocast is not None):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        float(loss)
        intervals.append(time.perf_counter() - begin)
    precision = "bf16" if autocast is torch.bfloat16 else "fp32"
    return {
        **_steps(dict(enumerate(intervals, start=1))),
        "steps": len(intervals),
        "precision": precision,
        "threads": torch.get_num_threads(),
    }


# -- generation and model load ------------------------------------------------------------------------------------


def _adapter(base: str) -> Path:
    """An (untrained) LoRA adapter of the engine's shape, so the served model is a merged one."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder = Path(tempfile.mkdtemp(prefix="bench-adapter-"))
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(**LORA))
    model.save_pretrained(folder)
    return folder


def generate_ours(tokens: str = "128") -> dict:
    """``studio.engine.models.generate`` on the merged model, greedy; end-of-sequence is ignored so every run
    produces exactly ``tokens`` tokens. Median of 3 runs after one warm-up."""
    from studio.engine.models import generate, load_model

    base = _base()
    loaded = load_model(base, _adapter(base))
    loaded.eos_ids = frozenset()
    n = int(tokens)
    generate(loaded, PROMPT, max_tokens=8, temperature=0).run()
    times = []
    for _ in range(3):
        begin = time.perf_counter()
        generation = generate(loaded, PROMPT, max_tokens=n, temperature=0)
        generation.run()
        times.append(time.perf_counter() - begin)
        assert generation.completion_tokens == n, generation.completion_tokens
    wall = statistics.median(times)
    return {
        "wall_s": wall,
        "tokens_per_s": n / wall,
        "tokens": n,
        "prompt_tokens": generation.prompt_tokens,
        "precision": loaded.precision,
        "kl_vs_fp32": _kl_vs_fp32(base, loaded),
    }


STREAM_PROMPTS = (
    "Tell me about the moon.",
    "What is a good breakfast?",
    "Describe a cat.",
    "How do planes fly?",
    "Write a short poem about rain.",
    "What is Python?",
    "Give me a tip for sleep.",
    "Why do birds sing?",
)


def concurrent_ours(streams: str = "8", tokens: str = "128") -> dict:
    """``streams`` concurrent requests of ``tokens`` tokens each to the fine-tuned model through the engine's decode
    loop (:mod:`studio.engine.batching`), greedy, end-of-sequence ignored: aggregate tokens/s over the wall time,
    each stream's first-token latency (max, p50, p95) and the process's CPU seconds. One warm-up round first, with
    other prompts (``"Please, "`` before each), so the measured prompts share only the chat template's system
    prompt with anything the engine has seen, as fresh requests do."""
    import threading

    from studio.engine.batching import decode_loop, generate_batched
    from studio.engine.models import load_model

    base = _base()
    loaded = load_model(base, _adapter(base))
    loaded.eos_ids = frozenset()
    n, count = int(tokens), int(streams)

    def round_trip(lead: str) -> tuple[float, float, list[float]]:
        firsts = [0.0] * count
        gate = threading.Barrier(count + 1)

        def one(i: int) -> None:
            gate.wait()
            begin = time.perf_counter()
            messages = [{"role": "user", "content": lead + STREAM_PROMPTS[i % len(STREAM_PROMPTS)]}]
            generation = generate_batched(loaded, messages, max_tokens=n, temperature=0)
            for _ in generation:
                if not firsts[i]:
                    firsts[i] = time.perf_counter() - begin
            assert generation.completion_tokens == n, generation.completion_tokens

        threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        gate.wait()
        begin, cpu = time.perf_counter(), time.process_time()
        for thread in threads:
            thread.join()
        return time.perf_counter() - begin, time.process_time() - cpu, firsts

    round_trip("Please, ")
    loop = decode_loop(loaded)
    loop.peak_prefill = loop.peak_batch = 0
    wall, cpu, firsts = round_trip("")
    ordered = sorted(firsts)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "tokens_per_s": count * n / wall,
        "streams": count,
        "tokens": n,
        "first_token_max_s": ordered[-1],
        "first_token_p50_s": statistics.median(ordered),
        "first_token_p95_s": ordered[min(count - 1, round(0.95 * (count - 1)))],
        "peak_prefill": loop.peak_prefill,
        "peak_batch": loop.peak_batch,
        "precision": loaded.precision,
    }


def concurrent_baseline(streams: str = "8", tokens: str = "128") -> dict:
    """The same requests as :func:`concurrent_ours`, served one after another, as the engine did before (one
    generation at a time, whole prompt prefilled, nothing reused; each waits for the one before): aggregate
    tokens/s, and the last request's wait for its first token."""
    import threading

    from studio.engine.batching import DecodeLoop
    from studio.engine.models import generate, load_model

    base = _base()
    loaded = load_model(base, _adapter(base))
    loaded.eos_ids = frozenset()
    loaded.__dict__["_decode_loop"] = DecodeLoop(loaded, prefix_cache_bytes=0)
    n, count = int(tokens), int(streams)
    result: dict = {}

    def serve() -> None:
        generate(loaded, PROMPT, max_tokens=8, temperature=0).run()
        begin, cpu = time.perf_counter(), time.process_time()
        first_last = 0.0
        for i in range(count):
            messages = [{"role": "user", "content": STREAM_PROMPTS[i % len(STREAM_PROMPTS)]}]
            generation = generate(loaded, messages, max_tokens=n, temperature=0)
            for _ in generation:
                if i == count - 1 and not first_last:
                    first_last = time.perf_counter() - begin
        result.update(wall=time.perf_counter() - begin, cpu=time.process_time() - cpu, first=first_last)

    worker = threading.Thread(target=serve)
    worker.start()
    worker.join()
    return {
        "wall_s": result["wall"],
        "cpu_s": result["cpu"],
        "tokens_per_s": count * n / result["wall"],
        "streams": count,
        "tokens": n,
        "first_token_max_s": result["first"],
        "precision": loaded.precision,
    }


def _kl_vs_fp32(base: str, loaded) -> float:
    """Mean KL divergence (nats) of the next-token distribution of ``loaded`` from the same weights in float32, on
    the first decoding step of the 12 prompts of sample_data/style_demo_test.jsonl: how much the engine's
    precision changes the answers."""

    import orjson
    import torch

    from studio.engine.models import load_model
    from studio.storage.workspace import SAMPLE_DIR

    reference = load_model(base, precision="fp32")
    served = load_model(base) if loaded.precision != "fp32" else reference
    divergences = []
    for line in (SAMPLE_DIR / "style_demo_test.jsonl").read_bytes().splitlines():
        messages = [m for m in orjson.loads(line)["messages"] if m["role"] != "assistant"]
        ids = reference.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_dict=True, return_tensors="pt"
        )["input_ids"]
        with torch.inference_mode():
            past = reference.model(input_ids=ids[:, :-1], use_cache=True).past_key_values
            want = torch.log_softmax(reference.model(input_ids=ids[:, -1:], past_key_values=past).logits[0, -1], -1)
            past = served.model(input_ids=ids[:, :-1], use_cache=True).past_key_values
            got = torch.log_softmax(served.model(input_ids=ids[:, -1:], past_key_values=past).logits[0, -1].float(), -1)
        divergences.append(float((want.exp() * (want - got)).sum()))
    return statistics.mean(divergences)


def generate_baseline(tokens: str = "128") -> dict:
    """``transformers`` ``model.generate`` (greedy, ``min_new_tokens = max_new_tokens``) on the same merged model
    in float32, as a plain transformers server would run it."""

    import torch

    from studio.engine.models import load_model

    base = _base()
    loaded = load_model(base, _adapter(base), precision="fp32")
    n = int(tokens)
    prompt = loaded.tokenizer.apply_chat_template(
        PROMPT, add_generation_prompt=True, return_dict=True, return_tensors="pt"
    )
    kwargs = {"do_sample": False, "pad_token_id": loaded.tokenizer.eos_token_id}
    with torch.inference_mode():
        loaded.model.generate(**prompt, max_new_tokens=8, **kwargs)
        times = []
        for _ in range(3):
            begin = time.perf_counter()
            out = loaded.model.generate(**prompt, max_new_tokens=n, min_new_tokens=n, **kwargs)
            times.append(time.perf_counter() - begin)
    made = int(out.shape[1] - prompt["input_ids"].shape[1])
    wall = statistics.median(times)
    return {"wall_s": wall, "tokens_per_s": made / wall, "tokens": made, "precision": loaded.precision}


def load_ours(_: str = "") -> dict:
    """``studio.engine.models.load_model`` from the local cache in a running engine's process: torch,
    transformers and peft imported and one model already served (``first_in_process_s`` is the very first
    load, which also pays transformers' lazy imports and the first kernels; a started engine pays it in the
    background with ``--preload``). Each timed load parses the tokenizer again (its cache is cleared)."""
    import peft  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401

    from studio.engine.models import loading as models

    base = _base()
    adapter = _adapter(base)
    begin = time.perf_counter()
    models.load_model(base)
    first = time.perf_counter() - begin
    loads, merged = [], []
    for _ in range(3):
        models._tokenizer.cache_clear()
        begin = time.perf_counter()
        loaded = models.load_model(base)
        loads.append(time.perf_counter() - begin)
        models._tokenizer.cache_clear()
        begin = time.perf_counter()
        models.load_model(base, adapter)
        merged.append(time.perf_counter() - begin)
    return {
        "wall_s": statistics.median(loads),
        "merged_s": statistics.median(merged),
        "first_in_process_s": first,
        "precision": loaded.precision,
    }


class EngineRun(NamedTuple):
    url: str  # http://127.0.0.1:PORT/v1
    preload_s: float  # from the process start to the model loaded
    process: subprocess.Popen  # the engine process (its pid for CPU readings)


@contextlib.contextmanager
def engine_process() -> Iterator[EngineRun]:
    """A real ``studio engine --preload`` process on a free port with the default model loaded; stops it after.
    Its output goes to ``engine.log`` in its home folder (named when it fails to start)."""
    import socket
    import sys

    import httpx

    from studio.engine.models import DEFAULT_MODEL

    _base()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    command = [sys.executable, "-m", "studio.cli", "engine", "--home", str(home), "--port", str(port)]
    began = time.perf_counter()
    with (home / "engine.log").open("ab") as log:
        server = subprocess.Popen([*command, "--preload", DEFAULT_MODEL], stdout=log, stderr=subprocess.STDOUT)
    try:
        while True:
            try:
                if DEFAULT_MODEL in httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()["loaded_models"]:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.perf_counter() - began > 900:  # a busy machine loads slowly
                raise RuntimeError(f"the engine did not preload its model; see {home / 'engine.log'}")
            time.sleep(0.05)
        yield EngineRun(f"http://127.0.0.1:{port}/v1", time.perf_counter() - began, server)
    finally:
        server.terminate()
        server.wait(timeout=60)


def first_token_ours(requests: str = "5") -> dict:
    """A real ``studio engine --preload`` process on a free port: seconds until it reports the default model
    loaded (``preload_s``, from the process start), then the median over ``requests`` streamed chat completions
    (openai SDK over HTTP) of the time from sending the request to the first text delta."""
    import openai

    from studio.engine.models import DEFAULT_MODEL

    with engine_process() as (url, preload, _):
        client = openai.OpenAI(base_url=url, api_key="local")
        firsts = []
        for _ in range(int(requests)):
            begin = time.perf_counter()
            stream = client.chat.completions.create(
                model=DEFAULT_MODEL, messages=PROMPT, max_tokens=16, stream=True, temperature=0
            )
            first = None
            for chunk in stream:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = time.perf_counter() - begin
            firsts.append(first)
    return {"wall_s": statistics.median(firsts), "preload_s": preload, "requests": len(firsts)}


# -- packing ------------------------------------------------------------------------------------------------------


def train_style_demo_pairs(pairs: str = "3", epochs: str = "1") -> dict:
    """:func:`train_style_demo` packed then padded, ``pairs`` times in turn in this one process, so both sides see
    the same machine (this shared one's speed drifts by a third within minutes): ``tokens_per_s`` and
    ``padded_tokens_per_s`` are each side's median, ``ratio`` the median of the pairs' packed ÷ padded."""
    runs = [(train_style_demo("packed", epochs), train_style_demo("padded", epochs)) for _ in range(int(pairs))]
    ratios = [packed["tokens_per_s"] / padded["tokens_per_s"] for packed, padded in runs]
    return {
        "tokens_per_s": statistics.median(packed["tokens_per_s"] for packed, _ in runs),
        "padded_tokens_per_s": statistics.median(padded["tokens_per_s"] for _, padded in runs),
        "ratio": statistics.median(ratios),
        "pair_ratios": ", ".join(f"{r:.2f}" for r in ratios),
        "packed_steps": runs[0][0]["steps"],
        "padded_steps": runs[0][1]["steps"],
        "threads": runs[0][0]["threads"],
    }


def train_style_demo(packing: str = "packed", epochs: str = "1") -> dict:
    """Tokens trained per second on ``sample_data/style_demo.jsonl`` (60 chats, the engine's defaults, "auto"
    batch size), with ``packing`` = ``"packed"`` (the set packed into rows of 1,024 tokens, their common start once
    a row, one row a step: 4 steps) or ``"padded"`` (4 chats a step, padded to the longest: 15 steps): the
    examples' tokens (prompt and answer, no padding; a shared start counts in every example, as it is trained for
    each) over the sum of the steps' own times (``step_seconds``: collation, forward, backward, optimizer). Also
    the process's CPU seconds over the training (the machine may be shared)."""
    import torch

    from studio.engine import trainer
    from studio.engine.encoding import read_examples
    from studio.engine.hyperparameters import resolve_config

    base = _base()
    examples = read_examples(Path(__file__).resolve().parents[1] / "sample_data" / "style_demo.jsonl")
    config = resolve_config({"n_epochs": int(epochs), "packing": packing == "packed"}, n_examples=len(examples), seed=1)
    seconds: list[float] = []
    cpu = time.process_time()
    result = trainer.train(
        base=base,
        train_examples=examples,
        valid_examples=None,
        config=config,
        job_dir=Path(tempfile.mkdtemp(prefix="bench-packing-")),
        callbacks=trainer.TrainingCallbacks(on_metrics=lambda m: seconds.append(m["step_seconds"])),
    )
    return {
        "tokens_per_s": result.trained_tokens / sum(seconds),
        "trained_tokens": result.trained_tokens,
        "steps": result.step,
        "train_s": sum(seconds),
        "train_cpu_s": time.process_time() - cpu,
        "threads": torch.get_num_threads(),
    }
