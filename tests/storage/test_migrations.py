"""The workspace schema: one place creates tables, and a workspace file of any earlier version upgrades in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from studio.storage.migrations import MIGRATIONS, migrate, schema_version
from studio.storage.workspace import Workspace

# The schema a workspace had before studio.storage.migrations (user_version 2 for the editor's tables; jobs and
# the Playground created theirs on first use, unversioned). Frozen here as it was: never edit to match new code.
V2 = """
CREATE TABLE datasets (id INTEGER PRIMARY KEY, name TEXT NOT NULL, source_name TEXT NOT NULL,
    source_sha256 TEXT NOT NULL, format TEXT NOT NULL, encoding TEXT, head_version_id INTEGER,
    created_at REAL NOT NULL);
CREATE TABLE versions (id INTEGER PRIMARY KEY, dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    name TEXT NOT NULL, parent_id INTEGER REFERENCES versions(id), rows INTEGER NOT NULL, data BLOB NOT NULL,
    created_at REAL NOT NULL);
CREATE TABLE operations (id INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE, op TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1, created_at REAL NOT NULL);
CREATE INDEX operations_by_version ON operations(version_id, id);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE flags (version_id INTEGER PRIMARY KEY REFERENCES versions(id) ON DELETE CASCADE,
    signature TEXT NOT NULL, data BLOB NOT NULL, created_at REAL NOT NULL);
PRAGMA user_version=2;
"""
V2_JOBS = """
CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, provider TEXT NOT NULL, profile TEXT NOT NULL, job_id TEXT,
    model TEXT NOT NULL, suffix TEXT, status TEXT NOT NULL, fine_tuned_model TEXT, training_file TEXT,
    validation_file TEXT, dataset_version_id INTEGER, settings TEXT NOT NULL, estimate_usd REAL,
    trained_tokens INTEGER, error TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_provider_id ON jobs(provider, job_id);
INSERT INTO jobs(provider, profile, job_id, model, status, settings, created_at, updated_at)
    VALUES ('openai', '{"kind": "openai", "base_url": null, "api_version": null, "deployment": null}', 'ftjob-old',
            'gpt-4o-mini', 'succeeded', '{"epochs": 3}', 1.0, 2.0);
"""
V2_COMPARE = """
CREATE TABLE IF NOT EXISTS compare_runs (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    targets TEXT NOT NULL, params TEXT NOT NULL, source TEXT NOT NULL, rows INTEGER NOT NULL,
    created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS compare_results (run_id INTEGER NOT NULL REFERENCES compare_runs(id) ON DELETE CASCADE,
    row_index INTEGER NOT NULL, target TEXT NOT NULL, model TEXT NOT NULL, messages TEXT NOT NULL,
    prompt TEXT NOT NULL, reference TEXT, answer TEXT, tokens_in INTEGER, tokens_out INTEGER, latency_s REAL,
    cost REAL, error TEXT, attempts INTEGER NOT NULL, finish_reason TEXT, updated_at REAL NOT NULL,
    UNIQUE (run_id, row_index, target));
CREATE TABLE IF NOT EXISTS compare_votes (run_id INTEGER NOT NULL REFERENCES compare_runs(id) ON DELETE CASCADE,
    row_index INTEGER NOT NULL, left_target TEXT NOT NULL, right_target TEXT NOT NULL,
    vote TEXT NOT NULL CHECK (vote IN ('A', 'B', 'tie', 'both_bad')), created_at REAL NOT NULL,
    UNIQUE (run_id, row_index, left_target, right_target));
INSERT INTO compare_runs(key, name, targets, params, source, rows, created_at) VALUES ('k1', 'old run',
    '[{"name": "a", "model": "m", "profile": {"kind": "local", "base_url": null, "api_version": null, '
        || '"deployment": null}}]',
    '{}', 'test.jsonl', 1, 1.0);
INSERT INTO compare_results(run_id, row_index, target, model, messages, prompt, answer, attempts, updated_at)
    VALUES (1, 0, 'a', 'm', '[]', 'hi', 'hello', 1, 1.0);
INSERT INTO compare_votes VALUES (1, 0, 'a', 'b', 'A', 1.0);
"""
TABLES = {
    "datasets",
    "versions",
    "operations",
    "settings",
    "flags",
    "turn_views",
    "jobs",
    "train_presets",
    "compare_runs",
    "compare_results",
    "compare_votes",
}


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _old_workspace(path: Path, *scripts: str) -> Path:
    db = sqlite3.connect(path)
    db.executescript(V2 + "".join(scripts))
    db.execute("INSERT INTO settings VALUES ('language', '\"es\"')")
    db.commit()
    db.close()
    return path


def test_a_new_workspace_has_every_table_at_the_latest_version(tmp_path):
    Workspace(tmp_path / "new.db")
    assert _tables(tmp_path / "new.db") == TABLES
    with sqlite3.connect(tmp_path / "new.db") as db:
        assert schema_version(db) == len(MIGRATIONS) == 8


@pytest.mark.parametrize(
    "features",
    [(), (V2_JOBS,), (V2_COMPARE,), (V2_JOBS, V2_COMPARE)],
    ids=["editor only", "with jobs", "with playground", "with both"],
)
def test_a_workspace_of_today_upgrades_in_place_keeping_its_rows(tmp_path, features):
    from studio.playground.compare import list_runs, load_results, load_votes
    from studio.providers.jobs import list_jobs

    path = _old_workspace(tmp_path / "old.db", *features)
    workspace = Workspace(path)
    assert _tables(path) == TABLES
    with workspace.connect() as db:
        assert schema_version(db) == len(MIGRATIONS)
    assert workspace.setting("language") == "es"
    jobs, runs = list_jobs(workspace), list_runs(workspace)
    assert [j.job_id for j in jobs] == (["ftjob-old"] if V2_JOBS in features else [])
    assert [r.name for r in runs] == (["old run"] if V2_COMPARE in features else [])
    if V2_COMPARE in features:
        assert load_results(workspace, 1)["answer"].tolist() == ["hello"]
        assert load_votes(workspace, 1)["winner"].tolist() == ["a"]
    frame = pd.DataFrame({"id": [1], "messages": [[{"role": "user", "content": "hi"}]]})
    info = workspace.import_dataset(frame, name="new", source_name="n.jsonl", format="jsonl/chat")
    assert Workspace(path).dataset(info.id).name == "new"  # reopening applies nothing twice


def test_migrating_twice_or_from_a_second_connection_is_a_no_op(tmp_path):
    path = _old_workspace(tmp_path / "old.db", V2_JOBS)
    first = sqlite3.connect(path, isolation_level=None)
    second = sqlite3.connect(path, isolation_level=None)
    assert migrate(first) == migrate(second) == migrate(first) == len(MIGRATIONS)
    assert second.execute("SELECT count(*) FROM jobs").fetchone()[0] == 1


def test_a_failed_migration_leaves_the_file_at_its_old_version(tmp_path, monkeypatch):
    import studio.storage.migrations as migrations

    path = _old_workspace(tmp_path / "old.db")
    monkeypatch.setattr(migrations, "MIGRATIONS", (*MIGRATIONS[:3], "CREATE TABLE compare_runs (x); BROKEN SQL"))
    db = sqlite3.connect(path, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        migrations.migrate(db)
    assert schema_version(db) == 3 and "compare_runs" not in _tables(path)


def test_only_the_migrations_create_or_alter_workspace_tables():
    studio = Path(__file__).resolve().parents[2] / "studio"
    offenders = [
        str(p.relative_to(studio))
        for p in studio.rglob("*.py")
        if p.parts[-2] != "engine"  # the engine's own database (studio.engine.store), not the workspace
        and p.name != "migrations.py"
        and any(s in p.read_text().upper() for s in ("CREATE TABLE", "ALTER TABLE", "CREATE INDEX"))
    ]
    assert offenders == []
