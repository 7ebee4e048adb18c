"""Model providers the studio talks to through the one official ``openai`` SDK.

Only ``base_url`` and the key change between the local engine, OpenAI, Azure OpenAI and OpenAI-compatible
servers (vLLM, Ollama, LM Studio). A :class:`Profile` holds everything but the key; keys are passed in memory
(from ``OPENAI_API_KEY``, Streamlit secrets or a password field) and never written anywhere.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import httpx

from studio.core.training import DEFAULT_BASE_MODEL, ENGINE_URL
from studio.errors import ProviderError

if TYPE_CHECKING:
    import openai  # imported on first use: it is slow to import

DEFAULT_ENGINE_URL = ENGINE_URL
OPENAI_URL = "https://api.openai.com/v1"
ProviderKind = Literal["local", "openai", "azure", "compatible"]
PROVIDER_KINDS: tuple[ProviderKind, ...] = ("local", "openai", "azure", "compatible")
LOCAL_KEY = "local-engine"  # the engine accepts any key unless started with --api-key




def engine_url() -> str:
    """The local engine's base URL (``$STUDIO_ENGINE_URL`` or 127.0.0.1:8765)."""
    return os.environ.get("STUDIO_ENGINE_URL", DEFAULT_ENGINE_URL).rstrip("/")


@dataclass(frozen=True)
class Profile:
    """A connection without its secret: safe to store, log and show."""

    kind: ProviderKind
    base_url: str | None = None
    api_version: str | None = None  # Azure only
    deployment: str | None = None  # Azure only: the deployment serving the model

    @property
    def url(self) -> str:
        if self.kind == "local":
            return self.base_url or engine_url()
        if self.kind == "openai":
            return self.base_url or OPENAI_URL
        if not self.base_url:
            raise ProviderError(f"the {self.kind} provider needs an endpoint URL")
        return self.base_url.rstrip("/")

    def public(self) -> dict[str, Any]:
        return asdict(self)


def api_key_for(profile: Profile, *, typed: str | None = None, secrets: dict | None = None) -> str | None:
    """The key to use: one typed in this session, else the environment, else Streamlit secrets."""
    if typed:
        return typed
    if profile.kind == "local":
        return os.environ.get("STUDIO_ENGINE_KEY") or LOCAL_KEY
    name = "AZURE_OPENAI_API_KEY" if profile.kind == "azure" else "OPENAI_API_KEY"
    return os.environ.get(name) or (secrets or {}).get(name)


def make_client(profile: Profile, *, api_key: str | None, timeout: float = 120.0, max_retries: int = 0,
                http_client: httpx.Client | None = None) -> openai.OpenAI:
    """An ``openai.OpenAI`` (or ``AzureOpenAI``) client for ``profile``; the key lives only in the client.

    ``timeout`` is seconds per request. The SDK's own retries are off by default: every caller retries under the
    one policy of :mod:`studio.providers.retry`, which (unlike the SDK) never retries a quota 429.
    """
    import openai

    if profile.kind in ("openai", "azure") and not api_key:
        raise ProviderError(f"no API key for {profile.kind}: set OPENAI_API_KEY or type one in the sidebar")
    options: dict[str, Any] = {"timeout": timeout, "max_retries": max_retries}
    if http_client is not None:
        options["http_client"] = http_client
    if profile.kind == "azure":
        if not profile.base_url or not profile.api_version:
            raise ProviderError("Azure OpenAI needs an endpoint and an api-version")
        return openai.AzureOpenAI(azure_endpoint=profile.base_url, api_version=profile.api_version,
                                  api_key=api_key, azure_deployment=profile.deployment, **options)
    return openai.OpenAI(base_url=profile.url, api_key=api_key or "none", **options)


@dataclass(frozen=True)
class Reachability:
    name: str
    reachable: bool
    detail: str


def probe_engine(url: str | None = None, *, timeout: float = 0.5) -> Reachability:
    """Whether the local engine answers ``GET /models`` (a quick loopback check)."""
    url = url or engine_url()
    try:
        response = httpx.get(f"{url}/models", timeout=timeout,
                             headers={"Authorization": f"Bearer {api_key_for(Profile('local'))}"})
    except httpx.HTTPError as exc:
        return Reachability("local", False, f"{url}: not running ({type(exc).__name__})")
    if response.status_code == 200:
        models = response.json().get("data", [])
        return Reachability("local", True, f"{url}: {len(models)} models")
    return Reachability("local", False, f"{url}: HTTP {response.status_code}")


def openai_key_present(secrets: dict | None = None) -> bool:
    """Whether an OpenAI key is available from the environment or Streamlit secrets (never its value)."""
    return bool(os.environ.get("OPENAI_API_KEY") or (secrets or {}).get("OPENAI_API_KEY"))


def ensure_engine(url: str | None = None, *, wait_s: float = 90.0,
                  log_dir: str | None = None) -> tuple[Reachability, bool]:
    """Start ``studio engine`` in the background on the loopback URL if nothing answers there.

    Returns the engine's reachability and whether this call started it. The engine outlives the app's rerun
    (its own process session), loads the default model in the background at start, and logs to ``engine.log``
    next to the workspace.
    """
    import subprocess
    import sys
    import time
    from pathlib import Path
    from urllib.parse import urlparse

    url = url or engine_url()
    status = probe_engine(url)
    if status.reachable:
        return status, False
    parsed = urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost"):
        raise ProviderError(f"the local engine at {url} is not running, and only a loopback engine can be started")
    folder = Path(log_dir) if log_dir else Path(os.environ.get("STUDIO_WORKSPACE", "workspace/studio.db")).parent
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "engine.log").open("ab") as log:
        subprocess.Popen([sys.executable, "-m", "studio.cli", "engine", "--host", parsed.hostname,
                          "--port", str(parsed.port or 8765), "--preload", DEFAULT_BASE_MODEL],
                         stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        status = probe_engine(url, timeout=1.0)
        if status.reachable:
            return status, True
        time.sleep(0.5)
    raise ProviderError(f"started the local engine but it did not answer at {url} within {wait_s:.0f} s; "
                        f"see {folder / 'engine.log'}")
