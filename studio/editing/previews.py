"""What a regex replacement would do, before it is done: rows affected and a sample naming id, turn and role."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from studio.data.frame import TEXT
from studio.editing.ops import RegexReplace, text_changed


@dataclass(frozen=True)
class Preview:
    """What a regex replacement would do: how many rows change, and a few of them before and after."""

    rows_affected: int
    sample: pd.DataFrame  # columns: id, turn, role, before, after

    def clipped(self, *, context: int = 40, longest: int = 240) -> pd.DataFrame:
        """``sample`` with ``before`` and ``after`` cut to the change and ``context`` characters either side
        (see :func:`around_change`), so a long turn still shows what changes."""
        pairs = [
            around_change(b, a, context=context, longest=longest)
            for b, a in zip(self.sample["before"], self.sample["after"], strict=True)
        ]
        return self.sample.assign(before=[b for b, _ in pairs], after=[a for _, a in pairs])


ELLIPSIS = "…"


def around_change(before: str, after: str, *, context: int = 40, longest: int = 240) -> tuple[str, str]:
    """``before`` and ``after`` cut to the part that differs plus up to ``context`` characters either side,
    with ``…`` where text was left out; a changed part longer than ``longest`` characters is cut at its end.
    Texts that fit in ``longest`` are returned whole."""
    if len(before) <= longest and len(after) <= longest:
        return before, after
    prefix = 0
    while prefix < min(len(before), len(after)) and before[prefix] == after[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(before), len(after)) - prefix and before[-1 - suffix] == after[-1 - suffix]:
        suffix += 1
    start = max(0, prefix - context)

    def cut(text: str) -> str:
        end = min(len(text), len(text) - suffix + context)
        body = text[start:end]
        if len(body) > longest:
            body, end = body[: longest - 1], start + longest - 1
        return (ELLIPSIS if start else "") + body + (ELLIPSIS if end < len(text) else "")

    return cut(before), cut(after)


def preview_regex_replace(frame: pd.DataFrame, op: RegexReplace, *, sample: int = 5) -> Preview:
    """Rows ``op`` would change, without applying it; the sample (the first ``sample`` changed pieces of text)
    names each change's example id, turn (index in ``messages``) and role, with the whole text before and after
    (:meth:`Preview.clipped` cuts it around the change for display)."""
    if op.scoped:
        changes = op.in_turns(frame, dry_run=True)[1]
        table = pd.DataFrame(
            [(c.id, c.turn, c.role, c.before, c.after) for c in changes[:sample]],
            columns=["id", "turn", "role", "before", "after"],
        )
        return Preview(
            rows_affected=len({c.id for c in changes}),
            sample=table.astype({"id": "int64", "turn": "int64", "role": TEXT, "before": TEXT, "after": TEXT}),
        )
    old, new = op.replaced(frame)
    changed = text_changed(old, new)
    positions = np.flatnonzero(changed)
    picked = positions[:sample]
    table = pd.DataFrame(
        {
            "id": frame["id"].to_numpy()[picked],
            "turn": [_grid_turn(frame["messages"].iat[p], op.field) for p in picked],
            "role": op.field,
            "before": old.to_numpy()[picked],
            "after": new.to_numpy()[picked],
        }
    ).astype({"turn": "Int64", "role": TEXT, "before": TEXT, "after": TEXT})
    return Preview(rows_affected=len(positions), sample=table)


def _grid_turn(messages: Any, field: str) -> int | None:
    """The index in ``messages`` of the turn a grid column shows (first system, last user/assistant)."""
    indexes = [i for i, m in enumerate(messages or []) if isinstance(m, Mapping) and m.get("role") == field]
    if not indexes:
        return None
    return indexes[0] if field == "system" else indexes[-1]
