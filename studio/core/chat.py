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
