"""Which versions the Train page preselects: never a test split; saved train/validation splits of the head."""

import pytest

from studio.providers.training_data import default_versions
from studio.quality.splits import split_version_name, version_split
from studio.storage.workspace import VersionInfo


def version(id, name, parent=None, rows=10):
    return VersionInfo(id=id, dataset_id=1, name=name, parent_id=parent, rows=rows, created_at=float(id))


def test_split_names_round_trip_and_other_names_are_not_splits():
    assert version_split(split_version_name("validation", 7)) == ("validation", 7)
    assert version_split("test set I made") is None and version_split("original") is None
    with pytest.raises(ValueError):
        split_version_name("holdout", 1)


def test_saved_splits_of_the_head_give_train_and_validation_never_test():
    versions = [
        version(1, "original"),
        version(2, "cleaned", 1),
        version(3, split_version_name("train", 42), 2),
        version(4, split_version_name("validation", 42), 2),
        version(5, split_version_name("test", 42), 2),
    ]
    assert default_versions(versions, head_id=2) == (3, 4, None)


def test_a_validation_split_too_small_to_upload_is_named_not_preselected():
    # style_demo's 60 rows at 0.8/0.1/0.1: a 6-example validation split, which the engine refuses (at least 10).
    versions = [
        version(1, "original", rows=60),
        version(2, split_version_name("train", 42), 1, rows=48),
        version(3, split_version_name("validation", 42), 1, rows=6),
        version(4, split_version_name("test", 42), 1, rows=6),
    ]
    assert default_versions(versions, head_id=1) == (2, None, versions[2])


def test_the_newest_seed_wins_and_its_own_validation_split_goes_with_it():
    versions = [
        version(1, "original"),
        *(version(i, split_version_name(s, 1), 1) for i, s in enumerate(("train", "validation", "test"), 2)),
        *(version(i, split_version_name(s, 9), 1) for i, s in enumerate(("train", "test"), 5)),
    ]
    assert default_versions(versions, head_id=1) == (5, None, None)


def test_splits_of_an_older_head_are_not_offered_over_the_new_head():
    versions = [
        version(1, "original"),
        version(2, split_version_name("train", 42), 1),
        version(3, split_version_name("test", 42), 1),
        version(4, "edited after splitting", 1),
    ]
    assert default_versions(versions, head_id=4) == (4, None, None)


def test_a_test_split_as_the_newest_version_is_skipped():
    versions = [version(1, "original"), version(2, split_version_name("test", 3), 1)]
    assert default_versions(versions) == (1, None, None)
    with pytest.raises(ValueError, match="test split"):
        default_versions([version(2, split_version_name("test", 3), 1)])
