"""Duplicate groups, and the order that shows them side by side."""

from __future__ import annotations

import pandas as pd
import pytest

from studio.data.frame import TEXT, build_frame
from studio.quality import duplicates


def frame_of(*pairs: tuple[str, str]) -> pd.DataFrame:
    examples = [{"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}]} for u, a in pairs]
    return build_frame(examples, list(range(1, len(pairs) + 1)))


COLD = ("What helps with a cold?", "Rest, drink plenty of fluids and keep warm until the symptoms pass.")
FLU = (
    "How is flu spread?",
    "Flu spreads through droplets when people cough or sneeze, and from touching surfaces.",
)


@pytest.mark.parametrize(
    "text,folded",
    [
        ("  Hello,   WORLD!! ", "hello world"),
        ("¿Qué   es la Gripe?", "que es la gripe"),
        ("Niño\tcañón\nÉxito", "nino canon exito"),
        ("a-b_c/d", "a b c d"),
    ],
)
def test_fold_text(text, folded):
    assert duplicates.fold_text(pd.Series([text], dtype=TEXT)).to_pylist() == [folded]


def test_groups_are_first_member_ids_and_every_row_has_one():
    frame = frame_of(COLD, FLU, (COLD[0].upper(), COLD[1]), COLD)
    assert duplicates.exact_groups(frame).tolist() == [0, 1, 2, 0]
    assert duplicates.normalized_groups(frame).tolist() == [0, 1, 0, 0]
    groups = duplicates.normalized_groups(frame)
    assert duplicates.duplicated_mask(groups).tolist() == [True, False, True, True]
    assert duplicates.repeats_earlier(frame, groups).tolist() == [False, False, True, True]


def test_group_ids_survive_deleted_rows():
    frame = frame_of(FLU, COLD, COLD).iloc[1:].reset_index(drop=True)
    assert duplicates.exact_groups(frame).tolist() == [1, 1]


def test_group_order_puts_members_together():
    groups = pd.Series([5, 6, 5, 7, 6, 9], index=[10, 11, 12, 13, 14, 15], dtype="Int64")
    assert list(duplicates.group_order(groups)) == [10, 12, 11, 14]
    assert list(duplicates.group_order(groups, only_duplicates=False)) == [10, 12, 11, 14, 13, 15]
