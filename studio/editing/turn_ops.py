"""Operations on one turn of one conversation: the Dataset page's conversation panel records these in the recipe.

Each addresses a turn as (example ``id``, ``turn`` = index in ``messages``), changes only what it names and keeps
the rest of the message — ``name``, ``tool_calls``, ``weight``, non-text content parts, unknown keys — as it was.
Like every :class:`~studio.editing.ops.Op` they are frozen, JSON round-trip through recipes, and are persisted by
the editor before the page says "Saved".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

from studio.core.chat import with_text
from studio.editing.ops import Op
from studio.editing.turn_edits import with_messages
from studio.errors import OperationError

ROLES = ("system", "user", "assistant", "tool", "developer")


def _conversation(frame: pd.DataFrame, example_id: int, op: str) -> tuple[int, list[dict[str, Any]]]:
    positions = (frame["id"] == example_id).to_numpy().nonzero()[0]
    if not len(positions):
        raise OperationError(f"{op}: no example with id {example_id}")
    position = int(positions[0])
    messages = frame["messages"].iat[position]
    return position, list(messages) if isinstance(messages, list) else []


def _check_turn(messages: list[dict[str, Any]], turn: int, example_id: int, op: str, *, end: bool = False) -> None:
    last = len(messages) if end else len(messages) - 1
    if not 0 <= turn <= last:
        raise OperationError(f"{op}: example {example_id} has no turn {turn} (it has {len(messages)})")


def _role(value: str, op: str) -> None:
    if value not in ROLES:
        raise OperationError(f"{op}: role must be one of {', '.join(ROLES)}, got {value!r}")


@dataclass(frozen=True)
class EditTurn(Op):
    """Set the text of one turn (the text parts of a list-valued content; other parts are kept)."""

    id: int
    turn: int
    text: str
    op: ClassVar[str] = "edit_turn"
    one_example: ClassVar[bool] = True

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        position, messages = _conversation(frame, self.id, self.op)
        _check_turn(messages, self.turn, self.id, self.op)
        messages[self.turn] = {
            **messages[self.turn],
            "content": with_text(messages[self.turn].get("content"), self.text),
        }
        return with_messages(frame, {position: messages})

    def describe(self) -> str:
        return f"Set turn {self.turn} of example {self.id} to {self.text[:40]!r}"

    def _described(self, tr: Any) -> dict[str, Any] | None:
        return {"turn": self.turn, "id": self.id, "text": repr(self.text[:40])}


@dataclass(frozen=True)
class SetWeight(Op):
    """Train on an assistant turn (``weight`` 1) or keep it as context only (``weight`` 0).

    Training is OpenAI's default (no ``weight`` key means 1), so ``weight`` 1 removes a ``weight`` 0 rather than
    writing ``"weight": 1``: off then on gives the message back as it was. A turn already trained is left as it is
    (an explicit ``"weight": 1`` stays)."""

    id: int
    turn: int
    weight: int
    op: ClassVar[str] = "set_weight"
    one_example: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.weight not in (0, 1) or isinstance(self.weight, bool):
            raise OperationError(f"set_weight: weight must be 0 or 1, got {self.weight!r}")

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        position, messages = _conversation(frame, self.id, self.op)
        _check_turn(messages, self.turn, self.id, self.op)
        if messages[self.turn].get("role") != "assistant":
            raise OperationError(f"set_weight: turn {self.turn} of example {self.id} is not an assistant turn")
        message = messages[self.turn]
        if self.weight == 0:
            messages[self.turn] = {**message, "weight": 0}
        elif message.get("weight", 1) != 1:  # trained is the default: drop the key rather than write 1
            messages[self.turn] = {k: v for k, v in message.items() if k != "weight"}
        return with_messages(frame, {position: messages})

    def describe(self) -> str:
        return f"{'Train on' if self.weight else 'Do not train on'} turn {self.turn} of example {self.id}"

    def _described(self, tr: Any) -> dict[str, Any] | None:
        return {"train": tr("ops.train_on" if self.weight else "ops.not_train_on"), "turn": self.turn, "id": self.id}


@dataclass(frozen=True)
class DeleteTurn(Op):
    """Remove one turn from a conversation."""

    id: int
    turn: int
    op: ClassVar[str] = "delete_turn"
    one_example: ClassVar[bool] = True

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        position, messages = _conversation(frame, self.id, self.op)
        _check_turn(messages, self.turn, self.id, self.op)
        del messages[self.turn]
        return with_messages(frame, {position: messages})

    def describe(self) -> str:
        return f"Delete turn {self.turn} of example {self.id}"

    def _described(self, tr: Any) -> dict[str, Any] | None:
        return {"turn": self.turn, "id": self.id}


@dataclass(frozen=True)
class InsertTurn(Op):
    """Insert a new text turn at index ``turn`` (``turn`` = the number of turns appends it)."""

    id: int
    turn: int
    role: str
    text: str
    op: ClassVar[str] = "insert_turn"
    one_example: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _role(self.role, self.op)

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        position, messages = _conversation(frame, self.id, self.op)
        _check_turn(messages, self.turn, self.id, self.op, end=True)
        messages.insert(self.turn, {"role": self.role, "content": self.text})
        return with_messages(frame, {position: messages})

    def describe(self) -> str:
        return f"Insert a turn with role {self.role} at {self.turn} in example {self.id}"  # no article: "a assistant"

    def _described(self, tr: Any) -> dict[str, Any] | None:
        return {"role": tr.label("columns", self.role), "turn": self.turn, "id": self.id}


@dataclass(frozen=True)
class MoveTurn(Op):
    """Move turn ``turn`` to index ``to``."""

    id: int
    turn: int
    to: int
    op: ClassVar[str] = "move_turn"
    one_example: ClassVar[bool] = True

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        position, messages = _conversation(frame, self.id, self.op)
        _check_turn(messages, self.turn, self.id, self.op)
        _check_turn(messages, self.to, self.id, self.op)
        messages.insert(self.to, messages.pop(self.turn))
        return with_messages(frame, {position: messages})

    def describe(self) -> str:
        return f"Move turn {self.turn} of example {self.id} to {self.to}"

    def _described(self, tr: Any) -> dict[str, Any] | None:
        return {"turn": self.turn, "id": self.id, "to": self.to}


@dataclass(frozen=True)
class SetRole(Op):
    """Change the role of one turn (its content and other keys are kept)."""

    id: int
    turn: int
    role: str
    op: ClassVar[str] = "set_role"
    one_example: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _role(self.role, self.op)

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        position, messages = _conversation(frame, self.id, self.op)
        _check_turn(messages, self.turn, self.id, self.op)
        messages[self.turn] = {**messages[self.turn], "role": self.role}
        return with_messages(frame, {position: messages})

    def describe(self) -> str:
        return f"Set the role of turn {self.turn} of example {self.id} to {self.role}"

    def _described(self, tr: Any) -> dict[str, Any] | None:
        return {"turn": self.turn, "id": self.id, "role": tr.label("columns", self.role)}


@dataclass(frozen=True)
class EditToolCall(Op):
    """Set the ``arguments`` (a JSON object as text) of tool call ``call`` of one turn; invalid JSON is refused."""

    id: int
    turn: int
    call: int
    arguments: str
    op: ClassVar[str] = "edit_tool_call"
    one_example: ClassVar[bool] = True

    def __post_init__(self) -> None:
        try:
            json.loads(self.arguments)
        except (TypeError, ValueError) as exc:
            raise OperationError(f"edit_tool_call: the arguments are not valid JSON ({exc})") from None

    def apply(self, frame: pd.DataFrame) -> pd.DataFrame:
        position, messages = _conversation(frame, self.id, self.op)
        _check_turn(messages, self.turn, self.id, self.op)
        calls = list(messages[self.turn].get("tool_calls") or [])
        if not 0 <= self.call < len(calls):
            raise OperationError(f"edit_tool_call: turn {self.turn} of example {self.id} has no call {self.call}")
        function = {**calls[self.call].get("function", {}), "arguments": self.arguments}
        calls[self.call] = {**calls[self.call], "function": function}
        messages[self.turn] = {**messages[self.turn], "tool_calls": calls}
        return with_messages(frame, {position: messages})

    def describe(self) -> str:
        return f"Set the arguments of call {self.call} in turn {self.turn} of example {self.id}"

    def _described(self, tr: Any) -> dict[str, Any] | None:
        return {"call": self.call, "turn": self.turn, "id": self.id}


TURN_OPERATIONS: tuple[type[Op], ...] = (EditTurn, SetWeight, DeleteTurn, InsertTurn, MoveTurn, SetRole, EditToolCall)
