"""Loading a model to generate with: a base, a fine-tuned LoRA adapter merged in, weights in the precision that
decodes fastest on this machine (bf16, fp16, int8 decoding weights or fp32), and an LRU cache of loaded models.

torch/transformers/peft are imported inside functions only.
"""

from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.engine.errors import EngineUnavailableError
from studio.engine.models.generation import generate


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
    exact: bool = False
    """Exact batching (:mod:`studio.engine.batching`): a row's logits bit for bit its logits alone, slower."""


_PLAIN_LORA_DEFAULTS = {
    "peft_type": "LORA",
    "use_dora": False,
    "fan_in_fan_out": False,
    "lora_bias": False,
    "bias": "none",
    "modules_to_save": None,
    "layer_replication": None,
    "alpha_pattern": {},
    "rank_pattern": {},
    "trainable_token_indices": None,
    "target_parameters": None,
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

    from studio.engine.encoding import ensure_chat_template

    tokenizer = AutoTokenizer.from_pretrained(base)
    ensure_chat_template(tokenizer)
    return tokenizer


_warmed: set[tuple[str, int, str]] = set()
"""Model shapes whose first forward passes have run in this process."""


def load_model(
    base: str, adapter: str | Path | None = None, *, precision: str | None = None, exact: bool | None = None
) -> LoadedModel:
    """A model ready to generate: the base, with the LoRA ``adapter`` merged in when given, its weights in
    ``precision`` (default :func:`inference_precision`'s choice for the device); ``exact`` batching (default:
    ``STUDIO_ENGINE_EXACT_BATCHING=1`` in the environment) attends row by row (:mod:`studio.engine.row_attention`)
    and prefills each prompt alone, so concurrent requests compute exactly what they compute alone."""
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
        elif updates and precision != "int8" and adapter is not None:
            merge_plain_lora(model, Path(adapter))
            updates = {}
        model = _prepare(model, device, precision, updates)
        if exact is None:
            exact = os.environ.get("STUDIO_ENGINE_EXACT_BATCHING", "") == "1"
        if exact:
            from studio.engine.row_attention import use_row_attention

            use_row_attention(model)
        tokenizer = tokenizer_job.result()
    eos = model.generation_config.eos_token_id if model.generation_config is not None else None
    eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        eos_ids.add(tokenizer.eos_token_id)
    context = int(getattr(model.config, "max_position_embeddings", 2048) or 2048)
    loaded = LoadedModel(model, tokenizer, device, frozenset(eos_ids), context, precision, exact)
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
