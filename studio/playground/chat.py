"""The Playground's chat: the user talks to every target at once, and each target keeps its own history.

A chat is a list of :class:`ChatTurn`: what the user typed, and each target's reply to it (a
:class:`~studio.playground.answers.StreamStats`, or the error that ended it). :func:`conversation` rebuilds what one
target is asked next from its own replies only. When a target answered with tool calls, the user's next message
is sent to it as the result of each of those calls (``role: "tool"`` with the call's id), which keeps the
conversation valid for OpenAI (a tool call must be answered before the next turn).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from studio.playground.answers import StreamStats


@dataclass
class ChatTurn:
    """One round: the user's text and each target's reply (``StreamStats``) or error text, by target position."""

    text: str
    replies: list[StreamStats | str] = field(default_factory=list)


def pending_calls(turns: Sequence[ChatTurn], target: int) -> list[dict[str, Any]]:
    """The tool calls target number ``target`` made in its last reply (what the next message answers)."""
    if not turns or target >= len(turns[-1].replies):
        return []
    reply = turns[-1].replies[target]
    return list(reply.tool_calls) if isinstance(reply, StreamStats) else []


def conversation(turns: Sequence[ChatTurn], target: int, text: str) -> list[dict[str, Any]]:
    """The messages target number ``target`` is sent for the new user message ``text``: every earlier round as that
    target saw it (its own replies; a failed reply is left out), then ``text`` as a user message, or as the result
    of each tool call the target's last reply made. The system prompt is added when sending (``Params``)."""
    messages: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for turn in [*turns, ChatTurn(text)]:
        if calls:
            messages += [{"role": "tool", "tool_call_id": call["id"], "content": turn.text} for call in calls]
        else:
            messages.append({"role": "user", "content": turn.text})
        reply = turn.replies[target] if target < len(turn.replies) else None
        calls = []
        if isinstance(reply, StreamStats):
            calls = list(reply.tool_calls)
            message: dict[str, Any] = {"role": "assistant", "content": reply.text or (None if calls else "")}
            if calls:
                message["tool_calls"] = calls
            messages.append(message)
    return messages
