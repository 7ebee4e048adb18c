"""Chat messages as OpenAI's chat format defines them, read the same way by the library and the engine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def content_text(content: Any) -> str:
    """Text of a message ``content``: a string as is, the ``text`` of list-valued parts joined by newlines
    (non-text parts such as ``image_url`` contribute nothing), ``None`` as ``""``, anything else ``str()``."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, Mapping):
                text = part.get("text")
                if isinstance(text, str):
                    parts.append(text)
            elif isinstance(part, str):
                parts.append(part)
        return "\n".join(parts)
    return str(content)


def with_text(content: Any, text: str) -> Any:
    """``content`` saying ``text``: a string (or null) becomes ``text``; in a list of parts the first text part
    takes ``text`` and other text parts are dropped (the grid shows them joined as one), every other part is
    kept as it was; a list without text parts gets one in front."""
    if not isinstance(content, list):
        return text
    out, placed = [], False
    for part in content:
        is_text = isinstance(part, Mapping) and (part.get("type") in (None, "text")) and "text" in part
        if not is_text:
            out.append(part)
        elif not placed:
            out.append({**part, "text": text})
            placed = True
    return out if placed else [{"type": "text", "text": text}, *out]


def tool_call_summary(message: Mapping[str, Any], *, limit: int = 200) -> str:
    """A message's tool calls as one line for display, e.g. ``→ takeoff_drone(altitude=100)``; several calls
    are joined by ``; ``. Arguments that are a JSON object show as ``key=value``, anything else as given; the
    line is cut at ``limit`` characters. Empty when the message calls nothing."""
    import json

    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping):
            continue
        arguments = function.get("arguments")
        try:
            parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
        except ValueError:
            parsed = arguments
        if isinstance(parsed, Mapping):
            shown = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in parsed.items())
        else:
            shown = "" if parsed in (None, "") else str(parsed)
        calls.append(f"{function.get('name', '?')}({shown})")
    line = "→ " + "; ".join(calls) if calls else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
