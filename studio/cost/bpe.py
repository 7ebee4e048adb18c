"""The tiktoken encodings ``o200k_base`` and ``cl100k_base``, built offline from the BPE files in the ``bpe-openai``
wheel.

Each file is checked against the sha256 tiktoken itself pins (a mismatch raises ``RuntimeError``) and the unzipped
copy is cached under ``$XDG_CACHE_HOME/fine-tuning-studio/tiktoken`` (re-verified on every load). Nothing is
downloaded. An encoding is built once per process (~0.35 s); :func:`warm_encoding` starts that in the background.
"""

from __future__ import annotations

import binascii
import gzip
import hashlib
import os
import tempfile
import threading
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import tiktoken

EncodingName = Literal["o200k_base", "cl100k_base"]
ENCODINGS: tuple[EncodingName, ...] = ("o200k_base", "cl100k_base")

# Copied from tiktoken_ext/openai_public.py (tiktoken 0.14): file hashes, split patterns and special tokens.
_SPECS: dict[str, dict[str, Any]] = {
    "cl100k_base": {
        "sha256": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        "pat_str": (
            r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
            r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
        ),
        "special_tokens": {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    },
    "o200k_base": {
        "sha256": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "pat_str": "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        "special_tokens": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    },
}


_BUILD_LOCK = threading.Lock()


def get_encoding(name: str) -> tiktoken.Encoding:
    """The tiktoken Encoding ``name`` ("o200k_base" or "cl100k_base"), built offline once per process (a caller
    that arrives while another thread builds it waits for that build)."""
    with _BUILD_LOCK:
        return _build_encoding(name)


_WARMED: set[str] = set()


def warm_encoding(name: str = "o200k_base") -> None:
    """Build ``name`` in a background thread (~0.35 s) once per process, so the first token count a page shows
    does not wait for it; later calls do nothing."""
    if name not in _WARMED:
        _WARMED.add(name)
        threading.Thread(target=get_encoding, args=(name,), name=f"warm-{name}", daemon=True).start()


@cache
def _build_encoding(name: str) -> tiktoken.Encoding:
    spec = _SPECS.get(name)
    if spec is None:
        raise ValueError(f"unknown encoding {name!r}; choose one of {', '.join(ENCODINGS)}")
    fields = _bpe_file(name, spec["sha256"]).split()  # "token rank" lines; decoded in C loops (2× faster)
    ranks = dict(zip(map(binascii.a2b_base64, fields[0::2]), map(int, fields[1::2]), strict=True))
    return tiktoken.Encoding(
        name=name, pat_str=spec["pat_str"], mergeable_ranks=ranks, special_tokens=spec["special_tokens"]
    )


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "fine-tuning-studio" / "tiktoken"


def _bpe_file(name: str, sha256: str) -> bytes:
    """The verified ``.tiktoken`` file: from the cache if intact, else unzipped from the bpe-openai wheel."""
    cached = _cache_dir() / f"{name}.tiktoken"
    try:
        data = cached.read_bytes()
        if hashlib.sha256(data).hexdigest() == sha256:
            return data
    except OSError:
        pass
    packed = resources.files("bpe_openai.data").joinpath(f"{name}.tiktoken.gz").read_bytes()
    data = gzip.decompress(packed)
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise RuntimeError(f"bpe_openai/data/{name}.tiktoken.gz has sha256 {actual}, expected {sha256}")
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cached.parent, delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, cached)
    except OSError:
        pass  # a read-only home only costs the unzip on the next start
    return data
