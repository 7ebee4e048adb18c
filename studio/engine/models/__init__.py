"""The engine's models: base models by name and the offline pull (:mod:`.registry`), loading with a LoRA adapter
merged in and the loaded-model cache (:mod:`.loading`), chat generation (:mod:`.generation`).

Nothing here imports torch, transformers or peft at import time.
"""

from studio.engine.models.generation import DEFAULT_MAX_TOKENS, FinishReason, Generation, generate
from studio.engine.models.loading import (
    LoadedModel,
    LowRank,
    ModelCache,
    inference_precision,
    load_model,
    merge_plain_lora,
    read_plain_lora,
    require_torch,
)
from studio.engine.models.registry import (
    DEFAULT_MODEL,
    BaseSource,
    ModelRegistry,
    is_pulled,
    materialize,
    models_dir,
    parse_model_option,
    pull_smollm2,
    smollm2_dir,
)

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MODEL",
    "BaseSource",
    "FinishReason",
    "Generation",
    "LoadedModel",
    "LowRank",
    "ModelCache",
    "ModelRegistry",
    "generate",
    "inference_precision",
    "is_pulled",
    "load_model",
    "materialize",
    "merge_plain_lora",
    "models_dir",
    "parse_model_option",
    "pull_smollm2",
    "read_plain_lora",
    "require_torch",
    "smollm2_dir",
]
