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


def preview_regex_replace(frame: pd.DataFrame, op: RegexReplace, *, sample: int = 5) -> Preview:
    """Rows ``op`` would change, without applying it; the sample names each change's turn and role."""
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
