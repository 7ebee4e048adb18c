"""Deterministic benchmark datasets: sample_data/ scaled to 1k (smoke tests), 10k, 100k and 1M chat examples.

Cached under bench/.cache/ (git-ignored); the file name carries a digest of the seed files and of this
generator's version, so a change to sample_data/ builds new files instead of reusing stale ones.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000, "1M": 1_000_000}
SEED = 20261121
_SEED_FILES = ("medical_faq_dirty.csv", "style_demo.jsonl")
_VERSION = b"chat-v1"
_WORDS = (
    "patient",
    "doctor",
    "fever",
    "sleep",
    "water",
    "exercise",
    "dose",
    "symptom",
    "clinic",
    "rest",
    "vitamin",
    "pressure",
    "heart",
    "daily",
    "mild",
    "severe",
    "week",
    "morning",
    "evening",
    "care",
)


def _seed_examples() -> list[dict]:
    from studio.data.loader import load_dataset

    examples = []
    for name in _SEED_FILES:
        path = ROOT / "sample_data" / name
        if path.exists():
            frame = load_dataset(path, lenient=True).frame
            examples += [{"messages": m} for m in frame["messages"]]
    if not examples:
        examples = [
            {
                "messages": [
                    {"role": "user", "content": "How much water should I drink?"},
                    {"role": "assistant", "content": "About two litres a day for most adults."},
                ]
            }
        ]
    return examples


def _digest() -> str:
    digest = hashlib.sha256(_VERSION)
    for name in _SEED_FILES:
        path = ROOT / "sample_data" / name
        digest.update(path.read_bytes() if path.exists() else b"-")
    return digest.hexdigest()[:10]


def chat_jsonl(size: str) -> Path:
    """Path of the cached ``size`` dataset, built on first use with a fixed seed.

    Each example is a seed example whose user and assistant turns get a few random words appended, so the
    scaled file keeps the sample data's defects and length distribution without being one giant duplicate set.
    """
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    path = CACHE / f"chat_{size}_{_digest()}.jsonl"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    seeds = _seed_examples()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # two processes building at once must not share it
    with tmp.open("wb") as out:
        for n in range(SIZES[size]):
            base = seeds[n % len(seeds)]
            messages = []
            for message in base["messages"]:
                message = dict(message)
                if message.get("role") in ("user", "assistant") and isinstance(message.get("content"), str):
                    extra = " ".join(rng.choices(_WORDS, k=rng.randint(0, 6)))
                    message["content"] = f"{message['content']} {extra}".rstrip() if extra else message["content"]
                messages.append(message)
            out.write(orjson.dumps({"messages": messages}) + b"\n")
    tmp.rename(path)
    return path
