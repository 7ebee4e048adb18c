"""Model providers the studio talks to through the one official ``openai`` SDK.

Only ``base_url`` and the key change between the local engine, OpenAI, Azure OpenAI and OpenAI-compatible
servers. Keys are read from the environment or passed in memory; this module never writes them anywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import httpx

DEFAULT_ENGINE_URL = "http://127.0.0.1:8765/v1"


def engine_url() -> str:
    """The local engine's base URL (``$STUDIO_ENGINE_URL`` or 127.0.0.1:8765)."""
    return os.environ.get("STUDIO_ENGINE_URL", DEFAULT_ENGINE_URL).rstrip("/")


@dataclass(frozen=True)
class Reachability:
    name: str
    reachable: bool
    detail: str


def probe_engine(url: str | None = None, *, timeout: float = 0.5) -> Reachability:
    """Whether the local engine answers ``GET /models`` (a quick loopback check, no key needed)."""
    url = url or engine_url()
    try:
        response = httpx.get(f"{url}/models", timeout=timeout)
    except httpx.HTTPError as exc:
        return Reachability("local", False, f"{url}: not running ({type(exc).__name__})")
    if response.status_code == 200:
        models = response.json().get("data", [])
        return Reachability("local", True, f"{url}: {len(models)} models")
    return Reachability("local", False, f"{url}: HTTP {response.status_code}")


def openai_key_present(secrets: dict | None = None) -> bool:
    """Whether an OpenAI key is available from the environment or Streamlit secrets (never its value)."""
    return bool(os.environ.get("OPENAI_API_KEY") or (secrets or {}).get("OPENAI_API_KEY"))
