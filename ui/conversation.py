"""The Dataset page's conversation panel: the selected example as chat bubbles, every turn editable.

Text is always shown as text (``st.text``/``st.code``), never as HTML or markdown. Each change is an operation of
:mod:`studio.editing.turn_ops`, applied through the editor (persisted before "Saved" shows, undoable, in the
recipe).
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import streamlit as st

from studio.core.chat import content_text
from studio.cost.format_checks import RULES, check_example
from studio.cost.messages import finding_message
from studio.cost.tokens import turn_token_counts
from studio.data.frame import iter_examples
from studio.editing.grid import apply_and_check, turn_findings
from studio.editing.ops import Op
from studio.editing.session import DatasetSession
from studio.editing.turn_ops import ROLES, DeleteTurn, EditToolCall, EditTurn, InsertTurn, MoveTurn, SetRole, SetWeight
from studio.i18n import Translator
from studio.quality.messages import ROLES as MESSAGE_ROLES
from ui.frame import attempt, kept_choice
from ui.markdown import escape_markdown


def _apply(session: DatasetSession, op: Op, tr: Translator, example_id: int, turn: int) -> None:
    """Persist ``op`` and re-check only its example's row (a one-row change, like a cell edit)."""
    if attempt(apply_and_check, session.editor, session.checks, op) is not None:
        st.session_state["last_saved"] = ("dataset.saved_turn", {"id": example_id, "turn": turn}, 0)
        st.rerun(scope="app")


def _shown_parts(content: Any) -> list[tuple[bool, str]]:
    """A content as the panel shows it, in its own order: ``(True, text)`` for text, ``(False, label)`` for any
    other part (``[image_url] https://…``); a string (or null) is one text."""
    if not isinstance(content, list):
        return [(True, content_text(content))]
    out = []
    for part in content:
        text = content_text([part])
        if isinstance(part, str) or (isinstance(part, dict) and isinstance(part.get("text"), str)):
            out.append((True, text))
        elif isinstance(part, dict):
            kind = str(part.get("type"))
            detail = part.get(kind)
            url = detail.get("url") if isinstance(detail, dict) else None
            out.append((False, f"[{kind}] {url or ''}".strip()))
    return out


def conversation_panel(session: DatasetSession, example_id: int, tr: Translator) -> None:
    """Every turn of example ``example_id`` with its role, tokens and whether it is trained, and its controls."""
    assert session.editor is not None
    frame = session.editor.frame
    found = frame.index[frame["id"] == example_id]
    if not len(found):
        return
    messages = list(frame.loc[found[0], "messages"] or [])
    tokens = turn_token_counts(messages)
    trained = sum(t for t, m in zip(tokens, messages, strict=True) if _trained(m))
    st.subheader(tr("dataset.conversation", id=example_id))
    counts = (("turn_count", len(messages)), ("trained_tokens", trained), ("context_tokens", sum(tokens) - trained))
    st.caption(" · ".join(tr.plural(f"dataset.{key}", n) for key, n in counts))
    position = int(frame.index.get_loc(found[0]))  # what the rules find there: once per revision and language
    findings = session.editor.memo(("findings", example_id, tr.lang), lambda: turn_findings(frame, position, tr.lang))
    for rule, finding in findings.get(None, []):  # a finding quotes dataset text: shown as text, never markdown
        st.caption(f"⚠️ {tr.label('rules', rule)}: {escape_markdown(finding)}")
    for turn, message in enumerate(messages):
        role = str(message.get("role", "?"))
        with st.chat_message(role if role in ("user", "assistant") else "ai"):
            note = "" if _trained(message) or role != "assistant" else " · " + tr("dataset.context_only")
            st.caption(f"{tr.plural('dataset.turn_label', tokens[turn], turn=turn, role=_role(role, tr))}{note}")
            for rule, finding in findings.get(turn, []):  # what the rules found in this turn, in the page's language
                st.caption(f"⚠️ {tr.label('rules', rule)}: {escape_markdown(finding)}")
            for is_text, shown in _shown_parts(message.get("content")) or [(True, "")]:
                if is_text:
                    st.text(shown or "—")
                else:
                    st.caption(escape_markdown(shown))  # a part label holds its URL: data, not markdown
            for call in message.get("tool_calls") or []:
                st.code(json.dumps(call.get("function", call), ensure_ascii=False, indent=2), language="json")
            _turn_controls(session, example_id, turn, message, len(messages), tr)
    with st.expander(tr("dataset.add_turn"), key=f"new_turn_{example_id}"):  # keyed, as the popovers above
        role = st.selectbox(
            tr("dataset.role"),
            ROLES,
            index=1,
            key=kept_choice(f"new_role_{example_id}"),
            format_func=lambda r: _role(r, tr),
        )
        text = st.text_area(tr("dataset.turn_text"), key=f"new_text_{example_id}")
        # never disabled: a text area commits its text when it loses focus, so a button disabled until then took
        # two clicks (the first only moved the focus); the click sends the text typed so far with it
        if st.button(tr("dataset.add"), key=f"add_turn_{example_id}"):
            if text.strip():
                _apply(session, InsertTurn(example_id, len(messages), role, text), tr, example_id, len(messages))
            else:
                st.warning(tr("dataset.add_turn_empty"))
    format_warnings(frame, position, tr)  # never silent: an edit that breaks the chat format says so at once


def _role(role: str, tr: Translator) -> str:
    """A role as the page's language names it (a role no locale names is shown as it is)."""
    return tr(f"rules.msg_role_{role}") if role in MESSAGE_ROLES else role


def _trained(message: dict[str, Any]) -> bool:
    return message.get("role") == "assistant" and message.get("weight", 1) != 0


def _turn_controls(
    session: DatasetSession, example_id: int, turn: int, message: dict[str, Any], turns: int, tr: Translator
) -> None:
    key = f"{example_id}_{turn}"
    # keyed: an unkeyed popover is matched by position, and the "Saved" line above the panel shifts the positions,
    # so a rerun would open the previous turn's popover
    with st.popover(tr("dataset.edit_turn"), key=f"edit_{key}"):
        text = st.text_area(tr("dataset.turn_text"), content_text(message.get("content")), key=f"text_{key}")
        if st.button(tr("dataset.save_turn"), key=f"save_{key}") and text != content_text(message.get("content")):
            _apply(session, EditTurn(example_id, turn, text), tr, example_id, turn)  # unchanged: nothing recorded
        role = str(message.get("role", "user"))
        new_role = st.selectbox(
            tr("dataset.role"),
            ROLES,
            index=ROLES.index(role) if role in ROLES else 1,
            key=kept_choice(f"role_{key}"),
            format_func=lambda r: _role(r, tr),
        )
        if new_role != role and st.button(tr("dataset.set_role"), key=f"setrole_{key}"):
            _apply(session, SetRole(example_id, turn, new_role), tr, example_id, turn)
        for index, call in enumerate(message.get("tool_calls") or []):
            arguments = str(call.get("function", {}).get("arguments", ""))
            edited = st.text_area(
                tr("dataset.call_arguments", name=call.get("function", {}).get("name", "?")),
                arguments,
                key=f"args_{key}_{index}",
            )
            if st.button(tr("dataset.save_call"), key=f"savecall_{key}_{index}"):
                try:
                    json.loads(edited)
                except ValueError as exc:  # refused in the page's words, where the JSON breaks
                    line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
                    st.error(tr("dataset.call_not_json", line=line, column=column))
                else:
                    _apply(session, EditToolCall(example_id, turn, index, edited), tr, example_id, turn)
    up, down, delete, weight = st.columns(4)
    if up.button("↑", key=f"up_{key}", disabled=turn == 0, help=tr("dataset.move_up")):
        _apply(session, MoveTurn(example_id, turn, turn - 1), tr, example_id, turn - 1)
    if down.button("↓", key=f"down_{key}", disabled=turn == turns - 1, help=tr("dataset.move_down")):
        _apply(session, MoveTurn(example_id, turn, turn + 1), tr, example_id, turn + 1)
    if delete.button("✕", key=f"delete_{key}", help=tr("dataset.delete_turn")):
        _apply(session, DeleteTurn(example_id, turn), tr, example_id, turn)
    if message.get("role") == "assistant":
        on = weight.toggle(tr("dataset.trained"), value=_trained(message), key=f"weight_{key}")
        if on != _trained(message):
            _apply(session, SetWeight(example_id, turn, int(on)), tr, example_id, turn)


# --- the example's OpenAI-format problems, under the panel (v9; the rest of the file is the panel itself) --------


def format_warnings(frame: pd.DataFrame, position: int, tr: Translator) -> None:
    """The OpenAI chat-format errors of the example at ``position`` of ``frame`` (its ``messages`` plus
    ``tools``/``parallel_tool_calls``), as the Cost page's validation finds them
    (:func:`studio.cost.format_checks.check_example`, one per check), each naming ``messages[i]`` in ``tr``'s
    language; nothing when the example is valid. A panel edit may break the tool-call structure (a role change that
    leaves ``tool_calls`` on a user turn, a deleted call whose result stays, a result moved above its call, a
    ``tool`` turn with no ``tool_call_id``): the edit stays (it is undoable), and this says what it broke."""
    example = next(iter_examples(frame.iloc[position : position + 1]))
    errors = [(key, message) for key, message in check_example(example) if RULES[key].severity == "error"]
    if not errors:
        return
    lines = [tr("cost.panel_invalid")]
    for key, message in errors:  # a finding quotes dataset text: escaped, shown as text
        lines.append(
            f"- {escape_markdown(tr.label('cost', f'check_{key}') + ': ' + finding_message(message, tr.lang))}"
        )
    st.warning("\n".join(lines), icon="⚠️")
