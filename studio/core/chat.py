"""Chat messages as OpenAI's chat format defines them, read the same way by the library and the engine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from studio.errors import OperationError


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
    """``content`` saying ``text`` (as :func:`content_text` reads it), changing only what the edit touched.

    A string (or null) becomes ``text``. In a list of parts, the text parts are read as :func:`content_text` joins
    them (one line break between two parts); the change is what lies between the longest common start and end of
    the old and the new text. The text parts it falls in take the new text (several, when nothing but text lies
    between them, become the first of them) and every other part (text, image, audio, file: its place and its
    bytes) is kept. An unchanged text returns ``content`` itself; a list without text parts gets one in front.
    Raises :class:`~studio.errors.OperationError` for a change across a part that is not text (it would move text
    over an image): change one part at a time."""
    if not isinstance(content, list):
        return text
    slots = [i for i, part in enumerate(content) if isinstance(part, str) or _part_text(part) is not None]
    if not slots:
        return content if not text else [{"type": "text", "text": text}, *content]
    pieces = [part if isinstance(part, str) else _part_text(part) or "" for part in (content[i] for i in slots)]
    old = "\n".join(pieces)  # content_text's reading of the parts
    if text == old:
        return content
    start = 0
    while start < min(len(old), len(text)) and old[start] == text[start]:
        start += 1
    end = 0  # common end, not reaching into the common start of either text
    while end < min(len(old), len(text)) - start and old[-1 - end] == text[-1 - end]:
        end += 1
    bounds, at = [], 0  # each text part's span in ``old``, ends included (an insertion at a part's end is its own)
    for piece in pieces:
        bounds.append((at, at + len(piece)))
        at += len(piece) + 1
    first = next(k for k, (a, b) in enumerate(bounds) if start <= b)
    last = next(k for k, (a, b) in reversed(list(enumerate(bounds))) if a <= len(old) - end)
    last = max(first, last)
    between = [p for p in content[slots[first] : slots[last]] if not (isinstance(p, str) or _part_text(p) is not None)]
    if between:
        raise OperationError(
            f"this change spans {last - first + 1} text parts with {', '.join(_part_kind(p) for p in between)} "
            "between them, and text is never moved across them: change one part at a time (a line break "
            "separates two parts)"
        )
    a, b = bounds[first][0], bounds[last][1]
    changed = old[a:start] + text[start : len(text) - end] + old[len(old) - end : b]
    part = content[slots[first]]
    out = list(content)
    out[slots[first]] = changed if isinstance(part, str) else {**part, "text": changed}
    for k in reversed(slots[first + 1 : last + 1]):
        del out[k]
    return out


def _part_text(part: Any) -> str | None:
    """A list-valued content part's text, or None for a part that holds none (an image, audio, a file)."""
    text = part.get("text") if isinstance(part, Mapping) else None
    return text if isinstance(text, str) else None


def _part_kind(part: Any) -> str:
    return str(part.get("type", "part")) if isinstance(part, Mapping) else type(part).__name__


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
