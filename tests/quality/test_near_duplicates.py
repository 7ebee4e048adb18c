"""Near-duplicate clusters: the small cases, the all-pairs reference, the caps and the memory check."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from studio.core import memory
from studio.quality import duplicates, near_duplicates
from tests.quality.test_duplicates import COLD, FLU, frame_of


@pytest.mark.parametrize(
    "threshold,expected",
    [
        (0.8, [0, 0, 2, 0]),
        (0.999, [0, 1, 2, 3]),
    ],
)
def test_near_duplicate_clusters(threshold, expected):
    frame = frame_of(
        COLD,
        (COLD[0], COLD[1].replace("plenty of", "lots of")),
        FLU,
        ("What helps with a bad cold?", COLD[1]),
    )
    assert near_duplicates.near_duplicate_clusters(frame, threshold=threshold).tolist() == expected


def test_near_duplicates_are_deterministic_and_scale_past_one_bucket():
    base = [
        (
            f"Question number {i} about topic {i * 7}",
            f"Answer {i}: " + " ".join(f"w{i}x{k}" for k in range(12)),
        )
        for i in range(300)
    ]
    copies = [(u + " please", a) for u, a in base[:40]]
    frame = frame_of(*base, *copies)
    first = near_duplicates.near_duplicate_clusters(frame, threshold=0.85)
    assert first.equals(near_duplicates.near_duplicate_clusters(frame, threshold=0.85))
    assert first.iloc[300:].tolist() == list(range(40))
    assert duplicates.duplicated_mask(first).sum() == 80


def test_near_duplicates_handle_empty_and_tiny_frames():
    assert near_duplicates.near_duplicate_clusters(frame_of()).tolist() == []
    assert near_duplicates.near_duplicate_clusters(frame_of(COLD)).tolist() == [0]
    assert near_duplicates.near_duplicate_clusters(frame_of(("", ""), ("", ""), COLD)).tolist() == [0, 0, 2]
    with pytest.raises(ValueError, match="threshold"):
        near_duplicates.near_duplicate_clusters(frame_of(COLD), threshold=0)


def _all_pairs_clusters(frame: pd.DataFrame, threshold: float) -> list[int]:
    """The unbounded reference: rapidfuzz on every pair of rows, connected components, first id of each."""
    from rapidfuzz import fuzz, process

    texts = near_duplicates._joined_folded(frame, near_duplicates.NEAR_FIELDS).to_pylist()
    scores = process.cdist(texts, texts, scorer=fuzz.ratio, score_cutoff=threshold * 100)
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in zip(*scores.nonzero(), strict=True):
        a, b = root(int(i)), root(int(j))
        parent[max(a, b)] = min(a, b)
    ids = frame["id"].tolist()
    return [ids[root(i)] for i in range(len(texts))]


def _edited(rng: random.Random, text: str) -> str:
    words = text.split()
    words[rng.randrange(len(words))] = rng.choice(("quick", "late", "other", "new"))
    return " ".join(words)


def test_streamed_clusters_equal_the_all_pairs_reference():
    rng = random.Random(7)
    vocabulary = [f"word{k}" for k in range(400)]
    pairs = []
    for _ in range(40):
        question = " ".join(rng.choices(vocabulary, k=8))
        answer = " ".join(rng.choices(vocabulary, k=20))
        pairs.append((question, answer))
        pairs += [(_edited(rng, question), _edited(rng, answer)) for _ in range(rng.randint(0, 5))]
    rng.shuffle(pairs)
    frame = frame_of(*pairs)
    found = near_duplicates.near_duplicates(frame, threshold=0.8)
    reference = _all_pairs_clusters(frame, 0.8)
    assert found.clusters.tolist() == reference
    assert len(set(reference)) < len(pairs) - 40  # the set really has clusters
    assert found.note is None and found.capped_buckets == 0


def test_a_capped_bucket_is_said_with_a_count():
    from studio.quality.rules import analyze

    base = ("How do I reset the router at home tonight", "Hold the small button for ten seconds and wait")
    copies = [(f"{base[0]} {k}", base[1]) for k in range(12)]
    frame = frame_of(*copies)
    capped = near_duplicates.near_duplicates(frame, max_bucket=3)
    assert capped.capped_buckets > 0 and capped.capped_rows > 0
    analysis = analyze(frame, rules=["near_duplicate"], params={"near_duplicate": {"max_bucket": 3}})
    note = analysis.notes["near_duplicate"]
    assert "more than 3" in note and f"{capped.capped_rows} bucket member" in note
    assert analyze(frame, rules=["near_duplicate"]).notes == {}
    assert analyze(frame, rules=["near_duplicate"]).counts["near_duplicate"] == 12


def test_near_duplicates_refuse_before_running_out_of_memory(monkeypatch):
    from studio.errors import ResourceError

    monkeypatch.setattr(memory, "available_memory", lambda: 10 * 2**20)
    with pytest.raises(ResourceError, match=r"near-duplicates over 2 rows would need about .* GB are free") as refused:
        near_duplicates.near_duplicate_clusters(frame_of(COLD, FLU))
    assert refused.value.shown("es").startswith("buscar casi duplicados en 2 filas necesitaría unos")


def test_the_clusters_do_not_depend_on_the_number_of_threads():
    rng = random.Random(11)
    vocabulary = [f"term{k}" for k in range(300)]
    pairs = []
    for _ in range(60):
        question, answer = " ".join(rng.choices(vocabulary, k=10)), " ".join(rng.choices(vocabulary, k=25))
        pairs += [(question, answer)] + [(_edited(rng, question), _edited(rng, answer)) for _ in range(4)]
    rng.shuffle(pairs)
    frame = frame_of(*pairs)
    one = near_duplicates.near_duplicates(frame, threshold=0.8, workers=1)
    three = near_duplicates.near_duplicates(frame, threshold=0.8, workers=3)
    assert one.clusters.equals(three.clusters) and one.compared == three.compared
    assert one.clusters.tolist() == _all_pairs_clusters(frame, 0.8)
