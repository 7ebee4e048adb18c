"""Playground targets: a display name, a provider profile (no key) and a model id, from a CLI spec or form fields.

A target is what the Playground compares: a base model, a fine-tuned one or a checkpoint, on any provider.
:func:`usage_snippets` gives the code that calls one outside the studio.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from studio.errors import CompareError
from studio.providers.profiles import PROVIDER_KINDS, Profile, api_key_for, make_client

MIN_TARGETS, MAX_TARGETS = 2, 4
DEFAULT_AZURE_API_VERSION = "2024-10-21"


@dataclass(frozen=True)
class Target:
    """A model to compare: a display name, a provider profile (no key) and a model id."""

    name: str
    profile: Profile
    model: str

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise CompareError("a target needs a name")
        if not self.model.strip():
            raise CompareError(f"target {self.name!r} needs a model")

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "profile": self.profile.public()}


def parse_target(spec: str, *, base_url: str | None = None, api_version: str | None = None) -> Target:
    """``NAME=PROVIDER:MODEL[@URL]`` → :class:`Target`.

    PROVIDER is local, openai, azure or compatible. The model may contain colons (``ft:gpt-4o-mini:org::id``).
    ``@URL`` (http:// or https://) sets the endpoint, else ``base_url``; compatible and azure need one.
    For azure the model is the deployment name.
    """
    name, eq, rest = spec.partition("=")
    provider, colon, model = rest.partition(":")
    if not eq or not colon or not name.strip() or not model:
        raise CompareError(f"target {spec!r}: expected NAME=PROVIDER:MODEL[@URL], e.g. base=openai:gpt-4o-mini")
    if provider not in PROVIDER_KINDS:
        raise CompareError(f"target {spec!r}: unknown provider {provider!r}; use one of {', '.join(PROVIDER_KINDS)}")
    url = base_url
    at = model.rfind("@")
    if at > 0 and model[at + 1 :].startswith(("http://", "https://")):
        model, url = model[:at], model[at + 1 :]
    if provider in ("compatible", "azure") and not url:
        raise CompareError(f"target {spec!r}: the {provider} provider needs an endpoint: add @URL or --base-url")
    if provider == "azure":
        profile = Profile("azure", base_url=url, api_version=api_version or DEFAULT_AZURE_API_VERSION, deployment=model)
    else:
        profile = Profile(provider, base_url=url.rstrip("/") if url else None)
    return Target(name.strip(), profile, model)


def build_target(
    name: str, kind: str, model: str, *, base_url: str | None = None, api_version: str | None = None
) -> Target:
    """A target from form fields (the page's sidebar); blank name → the model id."""
    if kind not in PROVIDER_KINDS:
        raise CompareError(f"unknown provider {kind!r}; use one of {', '.join(PROVIDER_KINDS)}")
    url = (base_url or "").strip().rstrip("/") or None
    if kind in ("compatible", "azure") and not url:
        raise CompareError(f"the {kind} provider needs an endpoint URL")
    profile = Profile(
        kind,
        base_url=url,
        api_version=(api_version or DEFAULT_AZURE_API_VERSION) if kind == "azure" else None,
        deployment=model.strip() if kind == "azure" else None,
    )
    return Target((name or "").strip() or model.strip(), profile, model.strip())


def targets_from_form(rows: Sequence[tuple[str, str, str, str | None]]) -> list[Target]:
    """Checked targets from (name, provider, model, endpoint) form rows; the first problem raises."""
    targets = [build_target(name, kind, model, base_url=url) for name, kind, model, url in rows]
    check_targets(targets)
    return targets


def target_from_public(public: Mapping[str, Any]) -> Target:
    """Inverse of :meth:`Target.public` (a saved run's targets)."""
    return Target(public["name"], Profile(**public["profile"]), public["model"])


def check_targets(targets: Sequence[Target]) -> None:
    """2 to 4 targets with distinct names."""
    if not MIN_TARGETS <= len(targets) <= MAX_TARGETS:
        raise CompareError(f"choose {MIN_TARGETS} to {MAX_TARGETS} targets, got {len(targets)}")
    names = [t.name for t in targets]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise CompareError(f"target names must be unique; repeated: {', '.join(duplicated)}")


def list_models(profile: Profile, *, api_key: str | None = None, timeout: float = 2.0) -> list[str]:
    """Model ids the provider lists (``GET /models``), base models first (by name), then fine-tuned models and
    checkpoints (``ft:…``), newest first; raises :class:`CompareError` when it is unreachable."""
    import openai

    try:
        client = make_client(profile, api_key=api_key or api_key_for(profile), timeout=timeout, max_retries=0)
        listed = [(m.id, int(getattr(m, "created", 0) or 0)) for m in client.models.list()]
    except openai.OpenAIError as exc:
        raise CompareError(f"{profile.kind} at {profile.url}: cannot list models ({type(exc).__name__})") from None
    bases = sorted(name for name, _ in listed if not name.startswith("ft:"))
    tuned = [name for name, _ in sorted((x for x in listed if x[0].startswith("ft:")), key=lambda x: (-x[1], x[0]))]
    return bases + tuned


def default_model_index(models: Sequence[str], target: int) -> int:
    """Which of ``models`` (ordered as :func:`list_models` gives them) target number ``target`` (0-based) starts
    on: the base model of the newest fine-tune (``ft:<base>:…``, OpenAI's and the engine's naming) when it is
    listed, else the first base model; then the newest fine-tune; then the next ones in order. -1 for an empty
    list."""
    if not models:
        return -1
    tuned = [i for i, name in enumerate(models) if name.startswith("ft:")]
    if target == 0 and tuned:
        base = models[tuned[0]].split(":")[1]
        return models.index(base) if base in models else 0
    if target == 1 and tuned:
        return tuned[0]
    return min(target, len(models) - 1)


LANGCHAIN_INSTALL = "# pip install langchain-openai"  # the LangChain snippet's package (not a studio dependency)


def usage_snippets(target: Target) -> dict[str, str]:
    """Code that calls ``target`` with its base URL: openai SDK, LangChain ``ChatOpenAI`` (``AzureChatOpenAI``; it
    starts with the ``pip install langchain-openai`` it needs), curl; no keys in them. Keys: python, langchain,
    curl."""
    profile, model = target.profile, target.model
    if profile.kind == "azure":
        env = "AZURE_OPENAI_API_KEY"
        python = (
            f"import os\nfrom openai import AzureOpenAI\n\nclient = AzureOpenAI(\n"
            f"    azure_endpoint={profile.base_url!r},\n    api_version={profile.api_version!r},\n"
            f"    api_key=os.environ[{env!r}],\n)\nresponse = client.chat.completions.create(\n"
            f'    model={model!r},\n    messages=[{{"role": "user", "content": "Hello"}}],\n)\n'
            "print(response.choices[0].message.content)\n"
        )
        langchain = (
            f"{LANGCHAIN_INSTALL}\nfrom langchain_openai import AzureChatOpenAI\n\nllm = AzureChatOpenAI(\n"
            f"    azure_endpoint={profile.base_url!r},\n    api_version={profile.api_version!r},\n"
            f'    azure_deployment={model!r},\n)  # reads {env}\nprint(llm.invoke("Hello").content)\n'
        )
        url = f"{profile.url}/openai/deployments/{model}/chat/completions?api-version={profile.api_version}"
        curl = (
            f'curl {url!s} \\\n  -H "api-key: ${env}" \\\n  -H "Content-Type: application/json" \\\n'
            f"  -d '{json.dumps({'messages': [{'role': 'user', 'content': 'Hello'}]})}'\n"
        )
        return {"python": python, "langchain": langchain, "curl": curl}
    base_url = profile.url
    env = "STUDIO_ENGINE_KEY" if profile.kind == "local" else "OPENAI_API_KEY"
    key_expr = f"os.environ.get({env!r}, 'local-engine')" if profile.kind == "local" else f"os.environ[{env!r}]"
    python = (
        f"import os\nfrom openai import OpenAI\n\nclient = OpenAI(base_url={base_url!r}, api_key={key_expr})\n"
        f"response = client.chat.completions.create(\n    model={model!r},\n"
        f'    messages=[{{"role": "user", "content": "Hello"}}],\n)\n'
        "print(response.choices[0].message.content)\n"
    )
    langchain = (
        f"{LANGCHAIN_INSTALL}\nimport os\nfrom langchain_openai import ChatOpenAI\n\n"
        f"llm = ChatOpenAI(model={model!r}, base_url={base_url!r}, api_key={key_expr})\n"
        'print(llm.invoke("Hello").content)\n'
    )
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello"}]})
    curl = (
        f'curl {base_url}/chat/completions \\\n  -H "Authorization: Bearer ${env}" \\\n'
        f"  -H \"Content-Type: application/json\" \\\n  -d '{body}'\n"
    )
    return {"python": python, "langchain": langchain, "curl": curl}
