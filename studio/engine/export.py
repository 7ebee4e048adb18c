"""Export a model of the engine for other runtimes: a merged Hugging Face folder, a PEFT adapter, or GGUF.

- ``hf``: the base with the LoRA update merged in (float32 safetensors), its tokenizer and chat template, and
  its generation config: ``AutoModelForCausalLM.from_pretrained(DIR)`` loads it, and greedy answers equal the
  engine's float32 answers. Also what vLLM serves as a plain model.
- ``adapter``: the LoRA adapter as peft saves it (``adapter_config.json`` + ``adapter_model.safetensors``) plus
  the tokenizer and chat template: ``PeftModel.from_pretrained(base, DIR)`` and vLLM's ``--enable-lora
  --lora-modules NAME=DIR`` load it. ``base_model_name_or_path`` names the base folder it was trained on.
- ``gguf``: one ``model.gguf`` (f16 matrices, f32 norms, the tokenizer and chat template as metadata, written
  with the ``gguf`` package's writer, laid out as llama.cpp's own converter lays it out) and an Ollama
  ``Modelfile``. Llama-architecture models only (SmolLM2 is one).

Every file is written with the mode a new file gets under the process umask (0644 under 022), so a server running
as another user (a vLLM container) can read it.

torch/transformers/peft/gguf are imported inside functions: this module is importable without the extra.
"""

from __future__ import annotations

import json
import secrets
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from studio.engine.errors import InvalidValueError

ExportFormat = Literal["hf", "adapter", "gguf"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("hf", "adapter", "gguf")
GGUF_FILE = "model.gguf"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
_GGUF_ARCHITECTURES = {"llama"}
_PRECISION_NOTES: dict[str, str] = {
    "hf": "the exported weights are float32: greedy answers match the engine run with "
    "STUDIO_ENGINE_INFERENCE_DTYPE=fp32 (by default it decodes in int8 or bf16, so some answers differ)",
    "adapter": "the adapter's weights are float32: greedy answers match the engine run with "
    "STUDIO_ENGINE_INFERENCE_DTYPE=fp32 when the runtime also holds the base in float32",
    "gguf": "the exported matrices are float16 (norms float32): greedy answers can differ from the engine's, "
    "which match the float32 hf export with STUDIO_ENGINE_INFERENCE_DTYPE=fp32",
}


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: its format, folder and file names (sorted)."""

    format: ExportFormat
    path: Path
    files: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"format": self.format, "path": str(self.path), "files": self.files}


def export_model(
    base: str,
    adapter: str | Path | None,
    out: Path,
    fmt: str,
    *,
    name: str,
    log: Callable[[str], None] = lambda message: None,
) -> ExportResult:
    """Write model ``name`` (``base``: a model folder or hub id; ``adapter``: its LoRA folder, None for a base
    model) to the folder ``out`` in format ``fmt`` (one of :data:`EXPORT_FORMATS`).

    The folder is written next to ``out`` and renamed into place, so a failed export leaves nothing half-written;
    an existing non-empty ``out`` is refused. Raises :class:`InvalidValueError` for an unknown format, an
    ``adapter`` export of a base model, a GGUF export of an architecture other than Llama, or a non-empty ``out``.
    """
    if fmt not in EXPORT_FORMATS:
        raise InvalidValueError(
            f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}", param="format"
        )
    if adapter is None and fmt == "adapter":
        raise InvalidValueError(
            f"{name} is a base model: it has no adapter to export (use --format hf or gguf)", param="format"
        )
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidValueError(f"{out} already exists and is not an empty folder", param="output")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{secrets.token_hex(4)}")
    tmp.mkdir()
    folder_mode = stat.S_IMODE(tmp.stat().st_mode)  # 0o777 less the umask: the mode the umask gives
    try:
        if fmt == "adapter":
            assert adapter is not None
            _write_adapter(base, Path(adapter), tmp)
        else:
            log(f"merging {name}")
            model, tokenizer = merged_model(base, adapter)
            if fmt == "hf":
                _write_hf(model, tokenizer, tmp)
            else:
                _write_gguf(model, tokenizer, tmp, name=name)
        _apply_mode(tmp, folder_mode)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    log(f"wrote {out} ({', '.join(files)})")
    log(_PRECISION_NOTES[fmt])
    return ExportResult(fmt, out, files)


def _apply_mode(folder: Path, folder_mode: int) -> None:
    """Give everything under ``folder`` the mode the umask gives new files and folders: some writers (safetensors'
    through a private temporary file) leave 0600, which a server running as another user cannot read."""
    file_mode = folder_mode & 0o666
    for path in folder.rglob("*"):
        path.chmod(folder_mode if path.is_dir() else file_mode)


def merged_model(base: str, adapter: str | Path | None) -> tuple[Any, Any]:
    """(model, tokenizer): ``base`` in float32 on the CPU with ``adapter`` merged in, the tokenizer with a chat
    template (ChatML where the base has none). The same weights the engine generates with in float32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio.engine.encoding import ensure_chat_template
    from studio.engine.models.loading import merge_plain_lora

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    if adapter is not None and not merge_plain_lora(model, Path(adapter)):
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(base)
    ensure_chat_template(tokenizer)
    return model.eval(), tokenizer


def _write_hf(model: Any, tokenizer: Any, out: Path) -> None:
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)


def _write_adapter(base: str, adapter: Path, out: Path) -> None:
    from transformers import AutoTokenizer

    from studio.engine.encoding import ensure_chat_template

    missing = [f for f in ADAPTER_FILES if not (adapter / f).is_file()]
    if missing:
        raise InvalidValueError(f"the adapter folder {adapter} lacks {', '.join(missing)}", param="model")
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base
    config["inference_mode"] = True
    (out / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    shutil.copyfile(adapter / "adapter_model.safetensors", out / "adapter_model.safetensors")
    tokenizer = AutoTokenizer.from_pretrained(base)
    ensure_chat_template(tokenizer)
    tokenizer.save_pretrained(out)


# -- GGUF -------------------------------------------------------------------------------------------------------


def _permute_rotary(weight: Any, heads: int) -> Any:
    """llama.cpp's rotary layout of a Q or K projection (Hugging Face's halves interleaved per head)."""
    rows = weight.shape[0]
    return weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _gguf_vocab(tokenizer: Any, size: int) -> tuple[list[str], list[int]]:
    """Token strings and GGUF token types for ids 0..size-1 (ids the tokenizer lacks become ``[PADn]``)."""
    import gguf

    by_id = {i: token for token, i in tokenizer.get_vocab().items()}
    added = tokenizer.added_tokens_decoder
    tokens: list[str] = []
    kinds: list[int] = []
    for i in range(size):
        if i not in by_id:
            tokens.append(f"[PAD{i}]")
            kinds.append(gguf.TokenType.UNUSED)
        elif i in added:
            tokens.append(by_id[i])
            kinds.append(gguf.TokenType.CONTROL if added[i].special else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(by_id[i])
            kinds.append(gguf.TokenType.NORMAL)
    return tokens, kinds


def _pre_tokenizer(tokens: list[str]) -> str:
    """llama.cpp's name of the pre-tokenizer: ``smollm`` for SmolLM2's vocabulary, else ``default``."""
    smollm = len(tokens) == 49152 and tokens[:3] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    return "smollm" if smollm else "default"


_ROPE_TYPES = ("default", "linear")  # what llama.cpp's llama architecture reads from metadata alone


def read_llama_hparams(config: Any, *, name: str) -> dict[str, Any]:
    """The values of a transformers 5 Llama ``config`` that the GGUF header holds, by the name of their
    ``llama.*`` key. A value the config lacks or llama.cpp cannot express is refused, never guessed: a wrong
    one (a RoPE base of 10000 for SmolLM2's 100000) gives a file that loads and answers garbage."""

    def value(key: str) -> Any:
        found = getattr(config, key, None)
        if found is None:
            raise InvalidValueError(f"GGUF export: {name}'s config has no {key!r}", param="format")
        return found

    def refuse(what: str) -> InvalidValueError:
        return InvalidValueError(
            f"GGUF export: {name} has {what}, which this export does not write "
            "(export --format hf and convert it with llama.cpp's convert_hf_to_gguf.py)",
            param="format",
        )

    if value("hidden_act") != "silu":
        raise refuse(f"hidden_act {config.hidden_act!r} (llama.cpp's Llama uses silu)")
    # transformers 5 keeps the RoPE base in rope_parameters, not in a rope_theta attribute.
    rope = value("rope_parameters")
    if not isinstance(rope, dict) or rope.get("rope_theta") is None:
        raise InvalidValueError(f"GGUF export: {name}'s config has no rope_parameters['rope_theta']", param="format")
    rope_type = rope.get("rope_type", "default")
    if rope_type not in _ROPE_TYPES:
        raise refuse(f"RoPE scaling {rope_type!r}")
    if rope.get("partial_rotary_factor", 1.0) != 1.0:
        raise refuse(f"a partial rotary factor of {rope['partial_rotary_factor']}")
    head_dim = value("head_dim")
    hparams: dict[str, Any] = {
        "vocab_size": value("vocab_size"),
        "context_length": value("max_position_embeddings"),
        "embedding_length": value("hidden_size"),
        "block_count": value("num_hidden_layers"),
        "feed_forward_length": value("intermediate_size"),
        "attention.head_count": value("num_attention_heads"),
        "attention.head_count_kv": value("num_key_value_heads"),
        "attention.key_length": head_dim,
        "attention.value_length": head_dim,
        "attention.layer_norm_rms_epsilon": float(value("rms_norm_eps")),
        "rope.dimension_count": head_dim,
        "rope.freq_base": float(rope["rope_theta"]),
    }
    if rope_type == "linear":
        if rope.get("factor") is None:
            raise InvalidValueError(f"GGUF export: {name}'s linear RoPE scaling has no 'factor'", param="format")
        hparams["rope.scaling.type"] = "linear"
        hparams["rope.scaling.factor"] = float(rope["factor"])
    return hparams


def _write_gguf(model: Any, tokenizer: Any, out: Path, *, name: str) -> None:
    import gguf
    import numpy as np

    config = model.config
    if config.model_type not in _GGUF_ARCHITECTURES:
        raise InvalidValueError(
            f"GGUF export supports Llama-architecture models; {name} is {config.model_type!r} "
            "(export --format hf and convert it with llama.cpp's convert_hf_to_gguf.py)",
            param="format",
        )
    hparams = read_llama_hparams(config, name=name)
    heads, kv_heads = hparams["attention.head_count"], hparams["attention.head_count_kv"]
    tied = bool(config.tie_word_embeddings)
    writer = gguf.GGUFWriter(str(out / GGUF_FILE), "llama")
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_vocab_size(hparams["vocab_size"])
    writer.add_context_length(hparams["context_length"])
    writer.add_embedding_length(hparams["embedding_length"])
    writer.add_block_count(hparams["block_count"])
    writer.add_feed_forward_length(hparams["feed_forward_length"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_key_length(hparams["attention.key_length"])
    writer.add_value_length(hparams["attention.value_length"])
    writer.add_rope_dimension_count(hparams["rope.dimension_count"])
    writer.add_rope_freq_base(hparams["rope.freq_base"])
    if "rope.scaling.type" in hparams:
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(hparams["rope.scaling.factor"])
    writer.add_layer_norm_rms_eps(hparams["attention.layer_norm_rms_epsilon"])
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    tokens, kinds = _gguf_vocab(tokenizer, hparams["vocab_size"])
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre_tokenizer(tokens))
    writer.add_token_list(tokens)
    writer.add_token_types(kinds)
    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    merges = backend.get("model", {}).get("merges", [])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in merges])
    special = {
        "bos": tokenizer.bos_token_id,
        "eos": tokenizer.eos_token_id,
        "unk": tokenizer.unk_token_id,
        "pad": tokenizer.pad_token_id,
    }
    for kind, token_id in special.items():
        if token_id is not None:
            getattr(writer, f"add_{kind}_token_id")(int(token_id))
    probe = tokenizer("a")["input_ids"]  # what the tokenizer adds around a text, not a guess
    writer.add_add_bos_token(bool(probe) and tokenizer.bos_token_id is not None and probe[0] == tokenizer.bos_token_id)
    writer.add_add_eos_token(bool(probe) and tokenizer.eos_token_id is not None and probe[-1] == tokenizer.eos_token_id)
    writer.add_chat_template(tokenizer.chat_template)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, hparams["block_count"])
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp reads tied output weights from token_embd
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise InvalidValueError(f"GGUF export: no llama.cpp name for tensor {hf_name}", param="format")
        data = tensor.detach().float().numpy()
        if hf_name.endswith("q_proj.weight"):
            data = _permute_rotary(data, heads)
        elif hf_name.endswith("k_proj.weight"):
            data = _permute_rotary(data, kv_heads)
        writer.add_tensor(gguf_name, data.astype(np.float16 if data.ndim == 2 else np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    (out / "Modelfile").write_text(ollama_modelfile(tokenizer), encoding="utf-8")


def default_system_prompt(tokenizer: Any) -> str | None:
    """The system prompt ``tokenizer``'s chat template inserts in a chat that has none (SmolLM2's "You are a
    helpful AI assistant named SmolLM, ..."), None where it inserts none. Found by rendering a chat without a
    system message and one with a marker system message: what stands in the marker's place is the default."""
    marker, user = "\x1fstudio-system\x1f", {"role": "user", "content": "\x1fstudio-user\x1f"}
    without = tokenizer.apply_chat_template([user], tokenize=False)
    with_marker = tokenizer.apply_chat_template([{"role": "system", "content": marker}, user], tokenize=False)
    if with_marker.count(marker) != 1:
        return None
    before, after = with_marker.split(marker)
    if not (without.startswith(before) and without.endswith(after)) or len(without) < len(before) + len(after):
        return None
    return without[len(before) : len(without) - len(after)]


def ollama_modelfile(tokenizer: Any) -> str:
    """An Ollama Modelfile for ``model.gguf``: ChatML's template and stop token where the chat template is
    ChatML; otherwise Ollama takes the template from the file's ``tokenizer.chat_template``.

    The chat template's default system prompt becomes a ``SYSTEM`` line: Ollama puts it first as a system
    message when a chat has none, and the TEMPLATE renders system messages in place as the Jinja template does,
    so a chat gets the prompt the engine gives it with and without a system message. (Ollama also keeps system
    messages in ``.Messages``: rendering ``.System`` apart as well would write the system turn twice.)"""
    lines = [f"FROM ./{GGUF_FILE}", ""]
    if "<|im_start|>" in (tokenizer.chat_template or ""):
        system = default_system_prompt(tokenizer)
        if system is not None:
            if '"""' in system:
                raise InvalidValueError(
                    f'the chat template\'s default system prompt contains """, which a Modelfile cannot hold: '
                    f"{system!r}",
                    param="format",
                )
            lines.append(f'SYSTEM """{system}"""')
        lines += [
            'TEMPLATE """{{- range .Messages }}<|im_start|>{{ .Role }}',
            "{{ .Content }}<|im_end|>",
            '{{ end }}<|im_start|>assistant\n"""',
            'PARAMETER stop "<|im_end|>"',
        ]
    elif tokenizer.eos_token:
        lines.append(f'PARAMETER stop "{tokenizer.eos_token}"')
    return "\n".join(lines) + "\n"
