"""Model providers the studio talks to through the one official ``openai`` SDK.

Only ``base_url`` and the key change between the local engine, OpenAI, Azure OpenAI and OpenAI-compatible
servers (vLLM, Ollama, LM Studio). A :class:`Profile` holds everything but the key; keys are passed in memory
(from ``OPENAI_API_KEY``, Streamlit secrets or a password field) and never written anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx

from studio.core.training import DEFAULT_BASE_MODEL, ENGINE_URL
from studio.errors import EngineUnavailableError, ForeignEngineError, ProviderError
from studio.i18n import plural, text

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

    from studio.providers.retry import IDEMPOTENCY_HEADER, NO_KEY, request_key

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
    return openai.OpenAI(base_url=profile.url, api_key=api_key or NO_KEY, **options)


@dataclass(frozen=True)
class Reachability:
    """Whether a provider answers. For the local engine also who answers: ``version`` (the studio version it
    runs), ``home`` (its folder), ``pid``; ``foreign`` says, in English, why this app will not use it (None when
    it will).

    What it says is one sentence of ``studio/locales/frame.toml``: ``key`` names it and ``values`` fill it, with
    ``reason`` (a ``frame.foreign_*`` key) the part that says why an engine is foreign; :attr:`detail` is the
    English, :meth:`shown` any language.
    """

    name: str
    reachable: bool
    key: str
    values: Mapping[str, Any] = field(default_factory=dict)
    reason: str | None = None
    version: str | None = None
    home: str | None = None
    pid: int | None = None
    url: str | None = None
    models: int | None = None

    @property
    def foreign(self) -> str | None:
        """Why this app will not use the engine that answers, in English; None when it will or none answers."""
        return text(f"frame.{self.reason}", "en", **self.values) if self.reason else None

    @property
    def detail(self) -> str:
        """:meth:`shown` in English (the CLI's line)."""
        return self.shown("en")

    def shown(self, lang: str = "en") -> str:
        """Who answers at the URL, or why none does, in ``lang``: ``"http://127.0.0.1:8765/v1: 2 models (engine
        pid 7, studio 0.9, folder /w/engine)"``, ``"…: not running (ConnectError)"`` (the exception's class name
        stays as it is), ``"…: answered HTTP 500"``, or which other engine or program answers and why it is not
        used."""
        values = dict(self.values)
        if self.models is not None:
            values["models"] = plural("frame.models", self.models, lang)
        if self.reason:
            values["reason"] = text(f"frame.{self.reason}", lang, **values)
        return text(f"frame.{self.key}", lang, **values)


def expected_engine_home() -> Path:
    """The engine folder this app uses: ``$STUDIO_ENGINE_HOME`` or ``./workspace/engine``, absolute."""
    return Path(os.environ.get("STUDIO_ENGINE_HOME") or Path("workspace") / "engine").resolve()


def probe_engine(url: str | None = None, *, timeout: float = 0.5, accept_foreign: bool | None = None) -> Reachability:
    """Whether the local engine answers at ``url``, and whether it is this app's (a quick loopback check).

    An engine is *foreign* when it runs another studio version, or its folder is gone, or (unless the user named
    the URL with ``$STUDIO_ENGINE_URL``, or ``accept_foreign`` says so) it serves another folder than
    :func:`expected_engine_home`: an engine left running by another checkout; a program that is no studio engine
    (no ``/health`` with a version) is foreign too. A foreign engine is reported, not used: ``reachable`` is False
    and ``detail`` (:meth:`Reachability.shown` in another language) says which engine answered and how to stop it.
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
        return Reachability("local", False, "engine_detail_down", {"url": url, "error": type(exc).__name__}, url=url)
    info = _json_object(health) if health.status_code == 200 else {}
    version, home, pid = info.get("version"), info.get("home"), info.get("pid")
    if not version:  # no studio /health: another program holds the port
        return Reachability("local", False, "engine_detail_not_studio", {"url": url}, "foreign_not_studio", url=url)
    if accept_foreign is None:
        accept_foreign = bool(os.environ.get("STUDIO_ENGINE_URL"))
    values = {"url": url, "version": version, "home": home, "pid": pid, "mine": __version__}
    reason = None
    if version != __version__:
        reason = "foreign_version"
    elif home and not Path(home).exists():
        reason = "foreign_folder_gone"
    elif home and not accept_foreign and Path(home).resolve() != expected_engine_home():
        reason, values["expected"] = "foreign_other_folder", str(expected_engine_home())
    who = {"version": version, "home": home, "pid": pid, "url": url}
    if reason:
        return Reachability("local", False, "engine_detail_foreign", values, reason, **who)
    if response.status_code == 200:
        models = _json_object(response).get("data", [])
        return Reachability("local", True, "engine_detail", values, **who, models=len(models))
    return Reachability("local", False, "engine_detail_http", {**values, "status": response.status_code}, **who)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object; ``{}`` for a body that is not one (a program other than the engine)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


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
    :func:`probe_engine`) raises :class:`~studio.errors.ForeignEngineError` naming it; an engine it cannot start
    raises :class:`~studio.errors.EngineUnavailableError` (both say why in any language).
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
        raise ForeignEngineError(status)
    parsed = urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost"):
        raise EngineUnavailableError(partial(text, "frame.engine_remote_down", url=url))
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
    said = partial(text, "frame.engine_start_timeout", url=url, seconds=f"{wait_s:.0f}", log=folder / "engine.log")
    raise EngineUnavailableError(said)


def _stop_started(process: Any) -> None:
    """At exit: stop an engine this process started (SIGTERM, then SIGKILL after 15 s)."""
    import subprocess

    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
