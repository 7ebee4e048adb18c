"""What the test server does: its :class:`Behaviour` (latency, faults, models, key), deterministic answers and
faults (:func:`reply_for`, by seed and request key), and the counters behind ``stats()``.

See :mod:`studio.testing.server` for the server itself.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

Fault = int | str  # an HTTP status, "hang", "drop" or "ok"
FAULT_KINDS = ("hang", "drop", "ok")
DEFAULT_MODELS = ("base-model", "ft:base-model:studio:demo:abc123")


@dataclass(frozen=True)
class Behaviour:
    """How the server answers. Times are seconds."""

    latency: float = 0.0  # before the answer (or the first streamed chunk)
    jitter: float = 0.0  # extra latency in [0, jitter), fixed per (seed, key): answers finish out of order
    load_latency: float = 0.0  # extra latency per other request in flight on arrival (a CPU-bound server)
    error_rate: float = 0.0  # share of attempts that fail with one of ``errors``
    errors: tuple[Fault, ...] = (429, 500)
    retry_after: float | None = 0.05  # sent with 429 and 503 as Retry-After and retry-after-ms
    hang: float = 30.0  # how long a "hang" holds the request
    chunk_delay: float = 0.0  # between streamed chunks (slow streams)
    seed: int = 0
    models: tuple[str, ...] = DEFAULT_MODELS
    api_key: str | None = None  # when set, requests need ``Authorization: Bearer <api_key>``
    script: tuple[Fault, ...] = ()  # faults for the next requests in arrival order, before ``error_rate``

    def __post_init__(self) -> None:
        for fault in (*self.errors, *self.script):
            if not (isinstance(fault, int) and 400 <= fault <= 599) and fault not in FAULT_KINDS:
                raise ValueError(f"unknown fault {fault!r}: use an HTTP status 400-599 or one of {FAULT_KINDS}")
        if not 0 <= self.error_rate <= 1:
            raise ValueError(f"error_rate must be between 0 and 1, got {self.error_rate!r}")


def _unit(*parts: Any) -> float:
    """A deterministic number in [0, 1) from ``parts``."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def request_key(model: str, messages: list[dict[str, Any]]) -> str:
    """What identifies one billable prompt: the model and the conversation."""
    return hashlib.sha256(json.dumps([model, messages], sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def reply_for(model: str, messages: list[dict[str, Any]]) -> str:
    """The deterministic answer: ``ANSWER:`` text verbatim, else ``"<model>: <last user message>"``."""
    user = _last_user(messages)
    if user.startswith("ANSWER:"):
        return user[len("ANSWER:") :].lstrip()
    return f"{model}: {user}"


def _last_user(messages: list[dict[str, Any]]) -> str:
    user = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "") or ""
    return user if isinstance(user, str) else json.dumps(user, ensure_ascii=False)


def tool_calls_for(request: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The tool calls to answer with: when the request sends ``tools`` and the last user message is
    ``CALL: <JSON>`` (an object ``{"name", "arguments"}`` or a list of them), those calls, in OpenAI's shape with
    the arguments as a JSON string and ids ``call_0``, ``call_1``…; else None (a text answer). Without ``tools``
    the same message is answered in text, as a model that was given no tools would."""
    user = _last_user(list(request.get("messages") or []))
    if not request.get("tools") or not user.startswith("CALL:"):
        return None
    wanted = json.loads(user[len("CALL:") :])
    wanted = wanted if isinstance(wanted, list) else [wanted]
    return [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {
                "name": call["name"],
                "arguments": json.dumps(call.get("arguments", {}), ensure_ascii=False),
            },
        }
        for i, call in enumerate(wanted)
    ]


def _words(text: str) -> int:
    return len(text.split())


class _State:
    """Counters shared by the connection handlers (all on one event loop, so no locks)."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.script = list(behaviour.script)
        self.attempts: Counter[str] = Counter()
        self.charged: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.bodies: list[dict[str, Any]] = []  # the latest chat request bodies, as received (for assertions)

    def configure(self, behaviour: Behaviour, *, reset: bool) -> None:
        self.behaviour = behaviour
        self.script = list(behaviour.script)
        if reset:
            self.attempts.clear()
            self.charged.clear()
            self.faults.clear()
            self.bodies.clear()
            self.requests = self.max_in_flight = 0

    def record(self, body: dict[str, Any]) -> None:
        self.bodies.append(body)
        del self.bodies[:-1000]

    def fault_for(self, key: str) -> Fault:
        self.attempts[key] += 1
        if self.script:
            return self.script.pop(0)
        b = self.behaviour
        if b.error_rate and _unit(b.seed, key, self.attempts[key], "fault") < b.error_rate:
            return b.errors[int(_unit(b.seed, key, self.attempts[key], "kind") * len(b.errors))]
        return "ok"

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "completions": sum(self.charged.values()),
            "charged_keys": len(self.charged),
            "duplicates": sum(1 for n in self.charged.values() if n > 1),
            "faults": dict(self.faults),
            "max_in_flight": self.max_in_flight,
        }


def behaviour_from_dict(options: dict[str, Any]) -> Behaviour:
    """A :class:`Behaviour` from JSON-ish options (lists become tuples)."""
    known = set(Behaviour.__dataclass_fields__)
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown behaviour options {sorted(unknown)}; known: {sorted(known)}")
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    return Behaviour(**values)
