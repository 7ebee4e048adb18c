"""What the Dataset page's grid shows: the server-side filter, the page of rows, and what an edit in it does.

The grid never receives the whole dataset: the filter runs here (RE2 regex, duplicate groups, rule flags), the
grid gets one page, and an edit comes back as a single-cell delta (:func:`parse_grid_event`; the grid's own
options and JavaScript live with the app, in ``ui/aggrid.py``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from studio.core.chat import tool_call_summary
from studio.data.frame import TEXT_FIELDS, iter_examples
from studio.editing.turn_edits import SCOPE_ROLES, TurnPick, match_ids
from studio.quality.patterns import compile_pattern
from studio.quality.turn_scope import finding_where

if TYPE_CHECKING:
    from studio.editing.editor import DatasetEditor
    from studio.editing.ops import Op
    from studio.quality.near_duplicates import NearDuplicates

DuplicateMode = Literal["off", "exact", "normalized", "near"]
DUPLICATE_MODES: tuple[DuplicateMode, ...] = ("off", "exact", "normalized", "near")
GRID_COLUMNS = ("id", "flags", "system", "user", "assistant", "tokens", "cluster_id")
EDITABLE = TEXT_FIELDS


@dataclass(frozen=True)
class ViewSpec:
    """The sidebar's filters. Empty ``regex`` and ``rules`` and ``duplicates="off"`` show every row."""

    regex: str = ""
    fields: tuple[str, ...] = SCOPE_ROLES  # roles the regex searches, in every turn of the conversation
    turns: TurnPick = "any"  # or the first / last turn of each role
    ignore_case: bool = True
    duplicates: DuplicateMode = "off"
    rules: tuple[str, ...] = field(default=())
    ids: tuple[int, ...] = field(default=())  # a jump from another page (?id=...) shows just these examples


def filter_rows(
    frame: pd.DataFrame, flags: pd.DataFrame | None, spec: ViewSpec, groups: pd.Series | None = None
) -> np.ndarray:
    """Positions of the rows the view shows, in display order.

    ``groups`` is the duplicate group per row for ``spec.duplicates`` (see :mod:`studio.quality.duplicates`); when
    given, only rows in a group of two or more are kept and each group's members sit next to each other.
    Raises :class:`~studio.errors.PatternError` for an invalid regex.
    """
    keep = np.ones(len(frame), dtype=bool)
    if spec.ids:
        keep &= np.isin(frame["id"].to_numpy(), np.asarray(spec.ids, dtype=np.int64))
    if spec.regex:
        pattern = compile_pattern(spec.regex, ignore_case=spec.ignore_case)
        keep &= match_ids(frame, pattern, spec.fields, spec.turns)
    if spec.rules and flags is not None:
        flagged = np.zeros(len(frame), dtype=bool)
        for rule in spec.rules:
            if rule in flags.columns:
                flagged |= flags[rule].to_numpy(dtype=bool)
        keep &= flagged
    if spec.duplicates != "off" and groups is not None:
        codes = pd.factorize(groups.to_numpy(), use_na_sentinel=True)[0]
        valid = codes >= 0
        in_group = valid.copy()
        if valid.any():
            sizes = np.bincount(codes[valid])
            in_group[valid] = sizes[codes[valid]] >= 2
        keep &= in_group
        positions = np.flatnonzero(keep)
        first_seen = _first_position(codes)
        order = np.lexsort((positions, first_seen[codes[positions]]))
        return positions[order]
    return np.flatnonzero(keep)


def _first_position(codes: np.ndarray) -> np.ndarray:
    if not len(codes) or codes.max() < 0:
        return np.zeros(0, dtype=np.int64)
    first = np.full(codes.max() + 1, len(codes), dtype=np.int64)
    valid = codes >= 0
    np.minimum.at(first, codes[valid], np.flatnonzero(valid))
    return first


def page_count(rows: int, page_size: int) -> int:
    return max(1, math.ceil(rows / page_size))


def grid_page(
    frame: pd.DataFrame,
    positions: np.ndarray,
    *,
    page: int,
    page_size: int,
    flags: pd.DataFrame | None = None,
    rule_keys: Sequence[str] = (),
    encoding: str | None = "o200k_base",
    lang: str = "en",
) -> pd.DataFrame:
    """The rows of one page (1-based) as the grid's frame: id, flags, system, user, assistant, tokens, cluster,
    and for the grid's JavaScript ``<field>_turn`` (which turn each text cell is, see :func:`turn_labels`) and
    ``flag_notes`` (what each flag found and in which turn, see :func:`flag_notes`), both in ``lang``.

    ``tokens`` is each example's exact chat token count in ``encoding`` (counted for the shown page only, so it
    costs milliseconds whatever the dataset's size); None leaves the column empty.
    """
    start = (max(page, 1) - 1) * page_size
    chosen = positions[start : start + page_size]
    rows = frame.iloc[chosen]
    out = pd.DataFrame({"id": rows["id"].to_numpy()})
    if flags is not None and rule_keys:
        present = [k for k in rule_keys if k in flags.columns]
        marks = flags.iloc[chosen][present].to_numpy(dtype=bool) if present else np.zeros((len(chosen), 0), bool)
        out["flags"] = [" ".join(k for k, on in zip(present, row, strict=True) if on) for row in marks]
    else:
        out["flags"] = ""
    for name in TEXT_FIELDS:
        out[name] = rows[name].astype(object).where(rows[name].notna(), None).to_numpy()
    out["assistant"] = [
        _answer_shown(text, messages) for text, messages in zip(out["assistant"], rows["messages"], strict=True)
    ]
    for field_name, labels in turn_labels(rows["messages"], lang).items():
        out[f"{field_name}{TURN_LABEL_SUFFIX}"] = labels
    out["flag_notes"] = flag_notes(rows, out["flags"], lang)
    if encoding and len(rows):
        from studio.cost.tokens import count_tokens

        out["tokens"] = count_tokens(list(iter_examples(rows)), encoding=encoding, workers=1)
    else:
        out["tokens"] = None
    if flags is not None and "cluster_id" in flags.columns:
        out["cluster_id"] = (
            flags["cluster_id"]
            .iloc[chosen]
            .astype(object)
            .where(flags["cluster_id"].iloc[chosen].notna(), None)
            .to_numpy()
        )
    else:
        out["cluster_id"] = None
    return out


TURN_LABEL_SUFFIX = "_turn"


def turn_labels(conversations: pd.Series, lang: str = "en") -> dict[str, list[str]]:
    """For each grid text column (system, user, assistant), which turn of each conversation its cell shows:
    ``"last assistant · turn 5 (6 turns)"`` (turns are indexes in ``messages``, as everywhere in the studio), or
    that there is none yet and saving adds one."""
    from studio.i18n import plural, text

    out: dict[str, list[str]] = {name: [] for name in TEXT_FIELDS}
    roles = {name: text(f"dataset.role_{name}", lang) for name in TEXT_FIELDS}
    for messages in conversations:
        turns = list(messages) if isinstance(messages, list | tuple | np.ndarray) else []
        for name, role in roles.items():
            at = [i for i, m in enumerate(turns) if isinstance(m, dict) and m.get("role") == name]
            if not at:
                out[name].append(text("dataset.grid_turn_none", lang, role=role))
                continue
            which = "first" if name == "system" else "last"
            turn = at[0] if which == "first" else at[-1]
            count = plural("dataset.turn_count", len(turns), lang)
            out[name].append(text(f"dataset.grid_turn_{which}_of", lang, role=role, turn=turn, turns=count))
    return out


def flag_notes(rows: pd.DataFrame, flags: pd.Series, lang: str = "en") -> list[str]:
    """Per row, a JSON object ``{rule: [where, finding]}`` for its row-local flags: ``where`` is the turn the
    finding names (``"turn 1 (user)"``, empty when it is the turn the grid shows) and ``finding`` the rule's
    message, both in ``lang``, so a badge can say where its problem is. Only the page's flagged rows are checked
    again, for the rules they are flagged by ("" for a row without such flags)."""
    from studio.quality.messages import finding_message
    from studio.quality.rules import analyze

    marks = [set(str(value).split()) & set(ROW_LOCAL_RULES) for value in flags]
    flagged = [i for i, keys in enumerate(marks) if keys]
    notes: list[dict[str, list[str]]] = [{} for _ in marks]
    if flagged:
        keys = sorted(set().union(*(marks[i] for i in flagged)))
        issues = analyze(rows.iloc[flagged], rules=keys).issues
        where = {int(example_id): i for i, example_id in enumerate(rows["id"].to_numpy())}
        found = zip(issues["id"], issues["rule"], issues["turn"], issues["field"], issues["message"], strict=True)
        for example_id, rule, turn, field, message in found:  # a finding names its turn (issue 19)
            at = where[int(example_id)]
            label = finding_where(rows["messages"].iat[at], turn, field, lang)
            notes[at].setdefault(str(rule), [label, finding_message(str(message), lang)])
    return [json.dumps(n, ensure_ascii=False) if n else "" for n in notes]


def turn_findings(frame: pd.DataFrame, position: int, lang: str = "en") -> dict[int | None, list[tuple[str, str]]]:
    """What the row-local rules find in the example at ``position`` of ``frame``, by the turn each finding is in
    (an index in its ``messages``; None for one about the whole example): ``[(rule key, message in lang)]``. Every
    flagged turn is listed (:func:`~studio.quality.turn_scope.every_turn`), not only the first one a row's flag
    names: PII in turns 1 and 3 shows under both."""
    from studio.quality.messages import finding_message
    from studio.quality.rules import RULES
    from studio.quality.turn_scope import every_turn, turn_cache

    row = frame.iloc[[position]]
    out: dict[int | None, list[tuple[str, str]]] = {}
    with turn_cache():
        for rule in ROW_LOCAL_RULES:
            with every_turn() as flagged:
                result = RULES[rule].check(row, RULES[rule].resolve(None))
            found: list[tuple[int | None, str]] = [(turn, message) for _, turn, message in flagged]
            if not found and bool(result.mask.iat[0]):  # a rule about the whole example
                turn = result.turn.iat[0] if result.turn is not None else pd.NA
                found = [(None if pd.isna(turn) else int(turn), str(result.reason.iat[0]))]
            for at, message in found:
                out.setdefault(at, []).append((rule, finding_message(str(message), lang)))
    return out


def _answer_shown(text: str | None, messages: Any) -> str | None:
    """The assistant cell: the last answer's text, or, when that answer only calls tools, the calls
    (``→ takeoff_drone(altitude=100)``) — never a blank cell for a tool-calling example."""
    if not isinstance(text, str):  # no answer: the column, strings and None, is read back as pandas' str (NaN)
        text = None
    if text and text.strip():
        return text
    answers = [m for m in messages or [] if isinstance(m, dict) and m.get("role") == "assistant"]
    return (tool_call_summary(answers[-1]) or text) if answers else text


# ---------------------------------------------------------------------------------------------- checks

# Rules whose verdict on a row depends on that row alone: after a cell edit only the edited row is re-checked.
ROW_LOCAL_RULES = ("empty", "too_short", "truncated", "placeholder", "pii", "blocklist", "uppercase")


def refresh_row_flags(flags: pd.DataFrame, frame: pd.DataFrame, example_id: int) -> pd.DataFrame:
    """``flags`` with the row-local rules re-run on one edited example (duplicate rules wait for a full check)."""
    return refresh_rows_flags(flags, frame, [example_id])


def refresh_rows_flags(flags: pd.DataFrame, frame: pd.DataFrame, example_ids: Sequence[int]) -> pd.DataFrame:
    """``flags`` with the row-local rules re-run on these edited examples, in one pass of the rules (each pass
    costs ~60 ms whatever its size at 100k multi-turn rows); ids no longer in ``frame`` are skipped."""
    from studio.quality.rules import analyze

    positions = np.flatnonzero(np.isin(frame["id"].to_numpy(), np.asarray(list(example_ids), dtype=np.int64)))
    keys = [k for k in ROW_LOCAL_RULES if k in flags.columns]
    if not len(positions) or not keys:
        return flags
    fresh = analyze(frame.iloc[positions], rules=keys).flags
    out = flags.copy()
    for key in keys:
        column = out[key].to_numpy(copy=True)
        column[positions] = fresh[key].to_numpy(dtype=bool)
        out[key] = column
    return out


@dataclass(frozen=True)
class GridEvent:
    kind: Literal["edit", "select"]
    token: str
    id: int | None = None
    field: str | None = None
    value: str | None = None
    ids: tuple[int, ...] = ()


def parse_grid_event(raw: Any, last_token: str | None) -> GridEvent | None:
    """The grid's returned delta, or None when there is none or it was already handled (same token)."""
    if not isinstance(raw, dict) or raw.get("token") in (None, last_token):
        return None
    if raw.get("kind") == "edit" and raw.get("field") in EDITABLE:
        value = raw.get("value")
        return GridEvent(
            kind="edit",
            token=raw["token"],
            id=int(raw["id"]),
            field=raw["field"],
            value="" if value is None else str(value),
        )
    if raw.get("kind") == "select":
        return GridEvent(kind="select", token=raw["token"], ids=tuple(int(i) for i in raw.get("ids") or ()))
    return None


def handle_grid_event(editor: DatasetEditor, checks: Checks, raw: Any, last_token: str | None) -> GridEvent | None:
    """Act on the grid's returned delta: a cell edit is persisted through ``editor`` (raising its
    :class:`~studio.errors.OperationError` when refused) and its row re-checked; a selection is just returned.
    None when there is nothing new."""
    from studio.editing.ops import EditCell

    event = parse_grid_event(raw, last_token)
    if event is not None and event.kind == "edit":
        assert event.id is not None and event.field is not None
        apply_and_check(editor, checks, EditCell(id=event.id, field=event.field, value=event.value or ""))
    return event


def apply_and_check(editor: DatasetEditor, checks: Checks, op: Op) -> pd.DataFrame:
    """Persist ``op`` through ``editor`` (its :class:`~studio.errors.OperationError` when refused); an operation
    on one example (``Op.one_example``: a cell edit, a conversation-panel edit) re-checks only that example's
    row, anything else is checked in full on the next :meth:`Checks.update`. Returns the new frame."""
    version = editor.version
    frame = editor.apply(op)
    if op.one_example and editor.version == version:  # else another session's edits were merged: update() checks all
        checks.edited(editor, int(getattr(op, "id")))  # noqa: B009  # every one-example operation names its id
    return frame


_MAX_EDITS_TO_RECHECK = 200
"""Beyond this many cell edits since the stored flags, running every rule again is about as fast."""


class Checks:
    """Rule flags for an editor's frame: a full run when rows change, a one-row re-check after a cell edit.

    Near-duplicate clusters are the expensive part, so they are computed only when asked for, once per data
    version and threshold.
    """

    def __init__(self) -> None:
        self._version: tuple[int, int] | None = None
        self.flags = pd.DataFrame()
        self._near: dict[tuple[int, int, float], NearDuplicates] = {}

    def update(self, editor: DatasetEditor, *, force: bool = False) -> pd.DataFrame:
        """The flags of the editor's frame: kept in memory per version, else read from the workspace (stored at
        import and after each full run), else computed and stored. ``force`` runs the rules again.

        Flags stored before a run of cell edits are reused with the edited rows re-checked, as they were when the
        edits were made, so reopening a dataset after editing shows what the session showed.
        """
        from studio.editing.recipes import ONE_EXAMPLE_OPS
        from studio.quality.rules import flags_signatures, grid_flags

        key = (editor.dataset_id, editor.version)
        if force or key != self._version:
            frame, head = editor.frame, editor.info.head_version_id
            ops = [op.to_dict() for op in editor.recipe().ops]
            signatures = flags_signatures(ops)
            stored_signature = None if force else editor.workspace.flags_signature(head)
            flags = None
            for cut in range(len(ops), -1, -1):  # the stored set, if it is this state minus some cell edits
                if signatures[cut] == stored_signature and len(ops) - cut <= _MAX_EDITS_TO_RECHECK:
                    flags = editor.workspace.load_flags(head, stored_signature, frame)
                    if flags is not None and cut < len(ops):
                        flags = refresh_rows_flags(flags, frame, [int(op["id"]) for op in ops[cut:]])
                    break
                if cut == 0 or ops[cut - 1].get("op") not in ONE_EXAMPLE_OPS:
                    break
            if flags is None:
                flags = grid_flags(frame)
                editor.workspace.save_flags(head, signatures[-1], frame, flags)
            self.flags = flags
            self._version = key
        return self.flags

    def edited(self, editor: DatasetEditor, example_id: int) -> None:
        self.flags = refresh_row_flags(self.flags, editor.frame, example_id)

    def counts(self, keys: Sequence[str]) -> dict[str, int]:
        return {k: int(self.flags[k].sum()) for k in keys if k in self.flags.columns}

    def groups(self, editor: DatasetEditor, mode: DuplicateMode, threshold: float) -> pd.Series | None:
        """The duplicate group of every row for the duplicates filter (None when it is off)."""
        if mode == "off":
            return None
        if mode in ("exact", "normalized"):
            return self.flags[f"{mode}_group"]
        from studio.quality.near_duplicates import near_duplicates

        key = (editor.dataset_id, editor.version, round(threshold, 3))
        if key not in self._near:
            self._near = {key: near_duplicates(editor.frame, threshold=threshold)}
        return self._near[key].clusters

    def near_capped(self, editor: DatasetEditor) -> NearDuplicates | None:
        """The near-duplicate run of the editor's current data when it hit the LSH bucket cap (some members of
        over-full buckets were not compared, so a few near-duplicates may be missed), else None."""
        for (dataset_id, version, _), found in self._near.items():
            if (dataset_id, version) == (editor.dataset_id, editor.version) and found.capped_buckets:
                return found
        return None
