"""Train/validation/test splits that keep duplicates on one side, and a report of what leaks across them."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from studio.quality.duplicates import exact_groups, normalized_groups

SPLITS = ("train", "validation", "test")


def split_frame(frame: pd.DataFrame, *, ratios: Mapping[str, float], seed: int = 42,
                keep_duplicates_together: bool = True) -> dict[str, pd.DataFrame]:
    """Shuffle with ``seed`` and cut by ``ratios`` (normalised to sum 1); empty splits are left out.

    With ``keep_duplicates_together`` every normalized-duplicate group lands in one split, so the test set
    never contains a copy of a training example.
    """
    if any(r < 0 for r in ratios.values()) or not sum(ratios.values()):
        raise ValueError(f"split ratios must be non-negative and not all zero, got {dict(ratios)}")
    names = [n for n in SPLITS if ratios.get(n, 0) > 0]
    total = sum(ratios[n] for n in names)
    units = (normalized_groups(frame).to_numpy() if keep_duplicates_together and len(frame)
             else frame["id"].to_numpy())
    codes, uniques = pd.factorize(units)
    order = np.random.default_rng(seed).permutation(len(uniques))
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[order] = np.arange(len(uniques))
    # Cut the shuffled units at the cumulative row counts closest to each ratio.
    sizes = np.bincount(codes, minlength=len(uniques))[order]
    cumulative = np.cumsum(sizes)
    bounds = [np.searchsorted(cumulative, len(frame) * sum(ratios[n] for n in names[: i + 1]) / total - 1e-9)
              for i in range(len(names))]
    out, start = {}, 0
    for name, bound in zip(names, bounds):
        stop = len(uniques) if name == names[-1] else int(bound) + 1
        chosen = np.isin(rank[codes], np.arange(start, stop))
        out[name] = frame[chosen].reset_index(drop=True)
        start = stop
    return out


def leakage_report(splits: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Examples that appear in two splits: ``kind`` (exact/normalized), ``splits`` ("train↔test"), ``rows``, ``ids``."""
    names = list(splits)
    if len(names) < 2:
        return pd.DataFrame(columns=["kind", "splits", "rows", "ids"])
    combined = pd.concat([splits[n] for n in names], ignore_index=True)
    combined["id"] = np.arange(len(combined))  # group ids must be unique across splits
    origin = np.concatenate([np.full(len(splits[n]), n, dtype=object) for n in names])
    original_ids = np.concatenate([splits[n]["id"].to_numpy() for n in names])
    rows = []
    for kind, groups in (("exact", exact_groups(combined)), ("normalized", normalized_groups(combined))):
        table = pd.DataFrame({"group": groups.to_numpy(), "split": origin, "id": original_ids})
        for i, left in enumerate(names):
            for right in names[i + 1:]:
                left_groups = set(table.loc[table.split == left, "group"])
                hits = table[(table.split == right) & table.group.isin(left_groups)]
                if len(hits):
                    rows.append({"kind": kind, "splits": f"{left}↔{right}", "rows": len(hits),
                                 "ids": hits["id"].tolist()[:20]})
    return pd.DataFrame(rows, columns=["kind", "splits", "rows", "ids"])


def export_splits(frame: pd.DataFrame, *, ratios: Mapping[str, float], seed: int = 42
                  ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame] | None:
    """The splits of ``frame`` and their leakage report, as the Dataset page's export shows them; None when every
    ratio is 0 (nothing to export)."""
    if not any(ratios.values()):
        return None
    parts = split_frame(frame, ratios=ratios, seed=seed)
    return parts, leakage_report(parts)
