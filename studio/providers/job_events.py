"""A fine-tuning job's events in the user's language: the Train page's events table and the job's error line.

OpenAI's cloud and the local engine both write English events in OpenAI's wording; a message is recognised by its
shape (:func:`studio.core.job_events.parse_event_message`, one table shared with the engine) and said again from
its Spanish template in ``studio/locales/train.toml`` (``event_<key>``), with ids, model names and numbers kept as
written. A message of no known shape is a provider's own text and is shown as it came.
"""

from __future__ import annotations

from studio.core.job_events import parse_event_message
from studio.i18n import translator


def event_text(message: str, lang: str = "en") -> str:
    """``message`` (an event's or a job error's text) in ``lang``; unchanged in English, for a shape no table
    knows, or where ``lang`` has no template for it. ``"Job failed: X"`` also says ``X`` in ``lang`` when it is
    a known message. Example: ``event_text("Checkpoint created at step 4", "es")`` is
    ``"Punto de control creado en el paso 4"``."""
    if lang == "en":
        return message
    found = parse_event_message(message)
    if found is None:
        return message
    key, values = found
    if "error" in values:
        values["error"] = event_text(values["error"], lang)
    name = f"event_{key}"
    template = translator(lang).label("train", name)
    return message if template == name else template.format(**values)


def event_level(level: str, lang: str = "en") -> str:
    """An event's level (OpenAI's ``info``, ``warn``, ``error``) as ``lang`` shows it; another level as it is."""
    name = f"level_{level}"
    shown = translator(lang).label("train", name)
    return level if shown == name else shown
