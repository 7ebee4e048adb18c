"""The fast paths of the rules give what the plain RE2 / per-value computation gives, on any chunking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.data.frame import TEXT
from studio.quality import duplicates
from studio.quality.columns import matches

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
texts = st.lists(
    st.one_of(st.none(), st.text(alphabet="abcXYZ ,.!\n\tÉñÑßΣσ😀", max_size=30)),
    max_size=40,
)


def _chunked(values: list[str | None], cut: int) -> pa.ChunkedArray:
    """``values`` as a sliced chunk between all-null chunks, like a turn table's field column."""
    array = pa.array(["padding", *values, "padding"], pa.large_string()).slice(1, len(values))
    nulls = pa.nulls(cut, pa.large_string())
    return pa.chunked_array([nulls, array.slice(0, cut), array.slice(cut), nulls], pa.large_string())


@FAST
@given(texts, st.integers(0, 40))
def test_matches_skips_null_chunks_and_finds_what_re2_finds(values, cut):
    text = _chunked(values * 3, min(cut, len(values)))  # more than the few rows matched in Python
    expected = pc.fill_null(pc.match_substring_regex(text, r"[A-Z]\w"), False).to_numpy(zero_copy_only=False)
    assert matches(text, r"[A-Z]\w").tolist() == expected.tolist()


def test_a_column_that_repeats_its_values_folds_each_one_as_alone():
    values = ["  You are a HELPFUL assistant!! ", "¿Qué es la Gripe?", None, "Niño\tcañón"] * 600
    folded = duplicates.fold_text(pd.Series(values, dtype=TEXT)).to_pylist()
    alone = [None if v is None else duplicates.fold_text(pd.Series([v], dtype=TEXT)).to_pylist()[0] for v in values]
    assert folded == alone
    assert folded[:4] == ["you are a helpful assistant", "que es la gripe", None, "nino canon"]
    assert np.array_equal(pd.Series(folded).isna(), pd.Series(values).isna())
