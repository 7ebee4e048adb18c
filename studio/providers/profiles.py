"""Model providers the studio talks to through the one official ``openai`` SDK.

Only ``base_url`` and the key change between the local engine, OpenAI, Azure OpenAI and OpenAI-compatible
servers (vLLM, Ollama, LM Studio). A :class:`Profile` holds everything but the key; keys are passed in memory
(from ``OPENAI_API_KEY``, Streamlit secrets or a password field) and never written anywhere.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
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


def make_client(
    profile: Profile,
    *,
    api_key: str | None,
    timeout: float = 120.0,
    max_retries: int = 0,
    http_client: httpx.Client | None = None,
) -> openai.OpenAI:
    """An ``openai.OpenAI`` (or ``AzureOpenAI``) client for ``profile``; the key lives only in the client.

    ``timeout`` is seconds of silence allowed per request (httpx's read timeout, 5 s to connect): the local engine
    sends a keep-alive byte every few seconds while a request waits for a place in its batch or decodes, so a
    queued request is never taken for a dead server. The SDK's own retries are off by default: every caller
    retries under the one policy of :mod:`studio.providers.retry`, which (unlike the SDK) never retries a quota
    429; each request carries that policy's ``Idempotency-Key``, so the engine never decodes a retry twice.
    """
    import openai

    from studio.providers.retry import IDEMPOTENCY_HEADER, request_key

    def add_key(request: httpx.Request) -> None:
        key = request_key()
        if key and request.method != "GET" and IDEMPOTENCY_HEADER not in request.headers:
            request.headers[IDEMPOTENCY_HEADER] = key

    if profile.kind in ("openai", "azure") and not api_key:
        raise ProviderError(f"no API key for {profile.kind}: set OPENAI_API_KEY or type one in the sidebar")
    options: dict[str, Any] = {"timeout": httpx.Timeout(timeout, connect=min(timeout, 5.0)), "max_retries": max_retries}
    if http_client is None:
        options["http_client"] = openai.DefaultHttpxClient(event_hooks={"request": [add_key]})
    else:
        hooks = http_client.event_hooks
        http_client.event_hooks = {**hooks, "request": [*hooks.get("request", []), add_key]}
        options["http_client"] = http_client
    if profile.kind == "azure":
        if not profile.base_url or not profile.api_version:
            raise ProviderError("Azure OpenAI needs an endpoint and an api-version")
        return openai.AzureOpenAI(
            azure_endpoint=profile.base_url,
            api_version=profile.api_version,
            api_key=api_key,
            azure_deployment=profile.deployment,
            **options,
        )
    return openai.OpenAI(base_url=profile.url, api_key=api_key or "none", **options)


@dataclass(frozen=True)
class Reachability:
    """Whether a provider answers. For the local engine also who answers: ``version`` (the studio version it
    runs), ``home`` (its folder), ``pid``; ``foreign`` says why this app will not use it (None when it will)."""

    name: str
    reachable: bool
    detail: str
    version: str | None = None
    home: str | None = None
    pid: int | None = None
    foreign: str | None = None
    url: str | None = None
    models: int | None = None
    error: str | None = None

    def shown(self, lang: str = "en") -> str:
        """``detail`` in ``lang`` where it has a translation (a running engine, one that does not answer); the
        other cases (a foreign engine, an HTTP error) keep ``detail``."""
        from studio.i18n import plural, text

        if self.reachable and self.models is not None:
            models = plural("frame.models", self.models, lang)
            return text(
                "frame.engine_detail",
                lang,
                url=self.url,
                models=models,
                pid=self.pid,
                home=self.home,
                version=self.version,
            )
        if self.error is not None:
            return text("frame.engine_detail_down", lang, url=self.url, error=self.error)
        return self.detail


def expected_engine_home() -> Path:
    """The engine folder this app uses: ``$STUDIO_ENGINE_HOME`` or ``./workspace/engine``, absolute."""
    return Path(os.environ.get("STUDIO_ENGINE_HOME") or Path("workspace") / "engine").resolve()


def probe_engine(url: str | None = None, *, timeout: float = 0.5, accept_foreign: bool | None = None) -> Reachability:
    """Whether the local engine answers at ``url``, and whether it is this app's (a quick loopback check).

    An engine is *foreign* when it runs another studio version, or its folder is gone, or (unless the user named
    the URL with ``$STUDIO_ENGINE_URL``, or ``accept_foreign`` says so) it serves another folder than
    :func:`expected_engine_home`: an engine left running by another checkout. A foreign engine is reported, not
    used: ``reachable`` is False and ``detail`` says which engine answered and how to stop it.
    """
    from studio import __version__

    url = url or engine_url()
    root = url.removesuffix("/v1")
    try:
        health = httpx.get(f"{root}/health", timeout=timeout)
        response = httpx.get(
            f"{url}/models", timeout=timeout, headers={"Authorization": f"Bearer {api_key_for(Profile('local'))}"}
        )
    except httpx.HTTPError as exc:
        error = type(exc).__name__
        return Reachability("local", False, f"{url}: not running ({error})", url=url, error=error)
    info = health.json() if health.status_code == 200 else {}
    version, home, pid = info.get("version"), info.get("home"), info.get("pid")
    if accept_foreign is None:
        accept_foreign = bool(os.environ.get("STUDIO_ENGINE_URL"))
    foreign = None
    if version != __version__:
        foreign = f"it runs studio {version or 'of an unknown version'}, this app is {__version__}"
    elif home and not Path(home).exists():
        foreign = f"its folder {home} no longer exists"
    elif home and not accept_foreign and Path(home).resolve() != expected_engine_home():
        foreign = f"it serves {home}, not {expected_engine_home()}"
    who = f"engine pid {pid}, studio {version}, folder {home}"
    if foreign:
        return Reachability(
            "local",
            False,
            f"{url}: another {who} answers ({foreign}); stop it with `studio engine stop`",
            version,
            home,
            pid,
            foreign,
        )
    if response.status_code == 200:
        models = response.json().get("data", [])
        return Reachability(
            "local", True, f"{url}: {len(models)} models ({who})", version, home, pid, url=url, models=len(models)
        )
    return Reachability("local", False, f"{url}: HTTP {response.status_code}", version, home, pid)


def stop_engine(url: str | None = None, *, wait_s: float = 15.0) -> Reachability | None:
    """Stop the loopback engine answering at ``url`` (SIGTERM, then SIGKILL after ``wait_s``) and return who it
    was; None when nothing answers. ``ProviderError`` for an engine on another machine."""
    import signal
    import time
    from urllib.parse import urlparse

    url = url or engine_url()
    if urlparse(url).hostname not in ("127.0.0.1", "localhost"):
        raise ProviderError(f"only an engine on this machine can be stopped, not {url}")
    status = probe_engine(url, accept_foreign=True)
    if status.pid is None:
        return None if not status.version else status
    os.kill(status.pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            os.kill(status.pid, 0)
        except ProcessLookupError:
            return status
        time.sleep(0.2)
    os.kill(status.pid, signal.SIGKILL)
    return status


def openai_key_present(secrets: dict | None = None) -> bool:
    """Whether an OpenAI key is available from the environment or Streamlit secrets (never its value)."""
    return bool(os.environ.get("OPENAI_API_KEY") or (secrets or {}).get("OPENAI_API_KEY"))


def ensure_engine(
    url: str | None = None, *, wait_s: float = 90.0, log_dir: str | None = None, own: bool = True
) -> tuple[Reachability, bool]:
    """Start ``studio engine`` in the background on the loopback URL if nothing answers there.

    Returns the engine's reachability and whether this call started it. The engine runs in its own process
    session (so a page rerun does not stop it), loads ``$STUDIO_ENGINE_PRELOAD`` (default: the default model;
    empty: nothing) in the background, logs to ``engine.log`` next to the workspace, and, with ``own``, is stopped
    when this process exits: an engine the app starts belongs to the app. A foreign engine on the port (see
    :func:`probe_engine`) raises ``ProviderError`` naming it.
    """
    import atexit
    import subprocess
    import sys
    import time
    from urllib.parse import urlparse

    url = url or engine_url()
    status = probe_engine(url)
    if status.reachable:
        return status, False
    if status.foreign:
        raise ProviderError(status.detail)
    parsed = urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost"):
        raise ProviderError(f"the local engine at {url} is not running, and only a loopback engine can be started")
    folder = Path(log_dir) if log_dir else Path(os.environ.get("STUDIO_WORKSPACE", "workspace/studio.db")).parent
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "engine.log").open("ab") as log:
        preload = os.environ.get("STUDIO_ENGINE_PRELOAD", DEFAULT_BASE_MODEL).split(",")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "studio.cli",
                "engine",
                "--host",
                parsed.hostname,
                "--port",
                str(parsed.port or 8765),
                *(arg for name in preload if name for arg in ("--preload", name)),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    if own:
        atexit.register(_stop_started, process)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        status = probe_engine(url, timeout=1.0)
        if status.reachable:
            return status, True
        time.sleep(0.5)
    raise ProviderError(
        f"started the local engine but it did not answer at {url} within {wait_s:.0f} s; see {folder / 'engine.log'}"
    )


def _stop_started(process: Any) -> None:
    """At exit: stop an engine this process started (SIGTERM, then SIGKILL after 15 s)."""
    import subprocess

    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
