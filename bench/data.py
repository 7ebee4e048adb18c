"""Deterministic benchmark datasets: sample_data/ scaled to 1k (smoke tests), 10k, 100k and 1M chat examples.

Cached under bench/.cache/ (git-ignored); the file name carries a digest of the seed files and of this
generator's version, so a change to sample_data/ builds new files instead of reusing stale ones.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable, Iterator
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
    rng = random.Random(SEED)

    def examples() -> Iterator[list[dict]]:
        seeds = _seed_examples()
        for n in range(SIZES[size]):
            messages = []
            for message in seeds[n % len(seeds)]["messages"]:
                message = dict(message)
                if message.get("role") in ("user", "assistant") and isinstance(message.get("content"), str):
                    extra = " ".join(rng.choices(_WORDS, k=rng.randint(0, 6)))
                    message["content"] = f"{message['content']} {extra}".rstrip() if extra else message["content"]
                messages.append(message)
            yield messages

    return _written(CACHE / f"chat_{size}_{_digest()}.jsonl", examples)


def _written(path: Path, examples: Callable[[], Iterator[list[dict]]]) -> Path:
    """``path`` if it is cached, else the conversations ``examples()`` yields written there (one
    ``{"messages": …}`` line each) through a temporary file, so a half-written set is never reused: the one write
    loop of every generated set."""
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")  # two processes building at once must not share it
    with tmp.open("wb") as out:
        for messages in examples():
            out.write(orjson.dumps({"messages": messages}) + b"\n")
    tmp.rename(path)
    return path


# -- multi-turn sets ----------------------------------------------------------------------------------------------

MULTI_SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000, "1M": 1_000_000}
_MULTI_VERSION = "multi-v2"
COPIES = 63  # near-copy set: every conversation comes with ~63 lightly edited copies

_TOPICS = {
    "billing": (
        ("invoice", "refund", "charge", "subscription", "receipt", "payment", "plan", "discount", "card", "account"),
        ("get_invoice", '{"invoice_id": "INV-%d"}', '{"status": "paid", "amount": %d.50, "currency": "EUR"}'),
    ),
    "travel": (
        ("flight", "hotel", "booking", "seat", "luggage", "gate", "visa", "train", "ticket", "itinerary"),
        ("find_flights", '{"origin": "MAD", "destination": "LIS", "day": %d}', '{"flights": [{"price": %d}]}'),
    ),
    "code": (
        ("function", "loop", "variable", "error", "module", "test", "list", "string", "index", "query"),
        ("run_tests", '{"path": "tests/test_%d.py"}', '{"passed": %d, "failed": 1}'),
    ),
    "cooking": (
        ("oven", "flour", "sugar", "butter", "recipe", "dough", "sauce", "garlic", "onion", "pan"),
        ("convert_units", '{"grams": %d, "to": "cups"}', '{"cups": %d.25}'),
    ),
    "health": (
        ("fever", "sleep", "water", "dose", "symptom", "clinic", "vitamin", "pressure", "rest", "exercise"),
        ("book_appointment", '{"clinic_id": %d, "slot": "morning"}', '{"confirmed": true, "ticket": %d}'),
    ),
}
_ADJ = (
    "new",
    "old",
    "quick",
    "careful",
    "cheap",
    "late",
    "early",
    "second",
    "simple",
    "strange",
    "usual",
    "small",
    "large",
    "monthly",
    "weekly",
    "default",
    "shared",
    "broken",
    "missing",
    "extra",
    "local",
    "remote",
    "short",
)
_VERBS = (
    "check",
    "change",
    "cancel",
    "update",
    "explain",
    "compare",
    "fix",
    "find",
    "move",
    "keep",
    "split",
    "merge",
    "book",
    "plan",
    "reduce",
    "replace",
    "confirm",
    "review",
    "prepare",
    "send",
    "track",
    "measure",
    "clean",
)
_ASK = (
    "How do I {v} the {a} {n}?",
    "Can you {v} my {n} before {d}?",
    "Why is the {a} {n} not working since {d}?",
    "What happens if I {v} the {n} and the {n2} together?",
    "Is it possible to {v} a {a} {n} without a {n2}?",
    "I need to {v} the {n} for {k} people by {d}.",
)
_SAY = (
    "You can {v} the {a} {n} from the settings page, then {v2} the {n2} in the same place.",
    "First {v} the {n}; after that the {n2} updates on its own within {k} minutes.",
    "The {a} {n} changed on {d}, so {v2} the {n2} again and it will work.",
    "Yes: {v} the {n} and keep the {a} {n2}; it usually takes {k} steps.",
    "That depends on the {n2}. If it is {a}, {v} the {n} first and check again on {d}.",
    "Sure. I {v2}ed the {n} for you; the {a} {n2} is ready and costs {k} euros.",
)
_DAYS = ("Monday", "Tuesday", "Friday", "the weekend", "next week", "tomorrow", "March", "June", "the 14th")
_SYSTEM = "You are a helpful {t} assistant. Answer briefly, in plain words, and ask when something is unclear."
_DEFECTS = (
    " Write to {e} if that fails.",  # pii (an earlier turn)
    " Hello {{{{customer_name}}}}, see <link>.",  # placeholder
    " lorem ipsum dolor sit amet",  # placeholder
    " THIS IS VERY IMPORTANT, PLEASE READ IT NOW",  # uppercase
)


def _sentence(rng: random.Random, templates: tuple[str, ...], nouns: tuple[str, ...]) -> str:
    return rng.choice(templates).format(
        v=rng.choice(_VERBS),
        v2=rng.choice(_VERBS),
        a=rng.choice(_ADJ),
        n=rng.choice(nouns),
        n2=rng.choice(nouns),
        d=rng.choice(_DAYS),
        k=rng.randint(2, 99),
    )


def _conversation(rng: random.Random, n: int, rounds: int | None = None) -> list[dict]:
    """A seeded support conversation: system, ``rounds`` (default 2–4: 6 turns or more on average with the
    system turn) user/assistant rounds, a tool call + result in 1 of 4, an image part in 1 of 10, a defect in the
    first user turn in 1 of 20."""
    topic = rng.choice(tuple(_TOPICS))
    nouns, (tool, arguments, result) = _TOPICS[topic]
    messages: list[dict] = [{"role": "system", "content": _SYSTEM.format(t=topic)}]
    rounds = rounds or rng.choice((2, 3, 3, 4))
    for r in range(rounds):
        ask = " ".join(_sentence(rng, _ASK, nouns) for _ in range(rng.randint(1, 2)))
        if r == 0 and rng.random() < 0.05:
            ask += rng.choice(_DEFECTS).format(e=f"user{n}@example.org")
        if r == 0 and rng.random() < 0.1:
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": ask},
                        {"type": "image_url", "image_url": {"url": f"https://img.example.org/{n}.png"}},
                    ],
                }
            )
        else:
            messages.append({"role": "user", "content": ask})
        if r == rounds - 1 and rng.random() < 0.25:
            call_id = f"call_{n}_{r}"
            value = rng.randint(1, 9999)
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {"name": tool, "arguments": arguments % value},
                        }
                    ],
                }
            )
            messages.append({"role": "tool", "tool_call_id": call_id, "content": result % value})
        answer = " ".join(_sentence(rng, _SAY, nouns) for _ in range(rng.randint(1, 3)))
        messages.append({"role": "assistant", "content": answer})
    return messages


def _light_edit(rng: random.Random, text: str) -> str:
    """One or two small edits: a word dropped, swapped for another or added (templated/augmented data)."""
    words = text.split(" ")
    for _ in range(rng.randint(1, 2)):
        i = rng.randrange(len(words))
        what = rng.random()
        if what < 0.34 and len(words) > 3:
            del words[i]
        elif what < 0.67:
            words[i] = rng.choice(_ADJ)
        else:
            words.insert(i, rng.choice(_VERBS))
    return " ".join(words)


def _edited(rng: random.Random, messages: list[dict]) -> list[dict]:
    out = []
    for message in messages:
        message = dict(message)
        if message["role"] in ("user", "assistant") and isinstance(message.get("content"), str):
            message["content"] = _light_edit(rng, message["content"])
        out.append(message)
    return out


def multi_turn_jsonl(size: str, *, near_copies: bool = False) -> Path:
    """Path of the cached multi-turn ``size`` dataset (OpenAI chat JSONL), built on first use with a fixed seed.

    Every example is a generated support conversation (:func:`_conversation`: ≥ 6 turns on average, tool calls
    in 1 of 4, an image part in 1 of 10, a PII/placeholder/uppercase defect in an early user turn in 1 of 20).
    With ``near_copies`` the set is like the chat file of issue 19 (~360 MB at 1M): one-round conversations
    (system, user, assistant; a tool call in 1 of 4), each with ~:data:`COPIES` lightly edited copies (one or
    two words dropped, changed or added per user/assistant turn), shuffled, as templated or augmented data is.
    """
    if size not in MULTI_SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(MULTI_SIZES)}")
    kind = "nearcopy" if near_copies else "multi"
    digest = hashlib.sha256(f"{_MULTI_VERSION}:{SEED}".encode()).hexdigest()[:10]
    rng = random.Random(SEED)
    total = MULTI_SIZES[size]

    def examples() -> Iterator[list[dict]]:
        if not near_copies:
            for n in range(total):
                yield _conversation(rng, n)
            return
        originals = [_conversation(rng, n, rounds=1) for n in range(max(1, total // (COPIES + 1)))]
        order = list(range(total))
        rng.shuffle(order)
        for slot in order:
            base = originals[slot % len(originals)]
            yield base if slot < len(originals) else _edited(rng, base)

    return _written(CACHE / f"{kind}_{size}_{digest}.jsonl", examples)
