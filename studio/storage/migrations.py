"""The workspace database's schema: the only place that creates or alters its tables.

Numbered migrations, applied in order when a :class:`~studio.storage.workspace.Workspace` opens the file;
``PRAGMA user_version`` records how many ran. A released migration never changes: a schema change is a new one at
the end. Each runs in one ``BEGIN IMMEDIATE`` transaction that first re-reads the version, so two processes
opening the same old file upgrade it once.

1. datasets, versions, operations, settings (the dataset editor)
2. flags (rule flags kept per version)
3. jobs (fine-tuning jobs on any provider, :mod:`studio.providers.jobs`)
4. compare_runs, compare_results, compare_votes (the Playground, :mod:`studio.playground`)
5. datasets.revision: a counter every change to a dataset's head or edit log bumps, so two sessions editing one
   dataset notice each other's edits (:meth:`~studio.storage.workspace.Workspace.append_operation`)
6. compare_results tool calls: the answer's ``tool_calls``, the reference's, and the case's ``tools`` (JSON text)
7. train_presets (named training settings, :mod:`studio.providers.train_settings`)
8. turn_views (each version's turn view, :func:`studio.data.turns.turn_view`, as an Arrow file: built once per
   version, read back by the next session instead of built again; ``builder`` names the code that built it, so a
   studio whose view differs builds its own; :mod:`studio.storage.turn_views`)

Migrations 3 and 4 say ``IF NOT EXISTS``: before they existed, those features created their tables on first use
without recording a version, so a workspace at version 2 may already hold them (with their rows).
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE datasets (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        source_name TEXT NOT NULL,
        source_sha256 TEXT NOT NULL,
        format TEXT NOT NULL,
        encoding TEXT,
        head_version_id INTEGER,
        created_at REAL NOT NULL
    );
    CREATE TABLE versions (
        id INTEGER PRIMARY KEY,
        dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        parent_id INTEGER REFERENCES versions(id),
        rows INTEGER NOT NULL,
        data BLOB NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE operations (
        id INTEGER PRIMARY KEY,
        dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
        op TEXT NOT NULL,
        active INTEGER NOT NULL DEFAULT 1,
        created_at REAL NOT NULL
    );
    CREATE INDEX operations_by_version ON operations(version_id, id);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    """
    CREATE TABLE flags (
        version_id INTEGER PRIMARY KEY REFERENCES versions(id) ON DELETE CASCADE,
        signature TEXT NOT NULL,
        data BLOB NOT NULL,
        created_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE IF NOT EXISTS jobs (
        id INTEGER PRIMARY KEY,
        provider TEXT NOT NULL,
        profile TEXT NOT NULL,
        job_id TEXT,
        model TEXT NOT NULL,
        suffix TEXT,
        status TEXT NOT NULL,
        fine_tuned_model TEXT,
        training_file TEXT,
        validation_file TEXT,
        dataset_version_id INTEGER,
        settings TEXT NOT NULL,
        estimate_usd REAL,
        trained_tokens INTEGER,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_provider_id ON jobs(provider, job_id);
    """,
    """
    CREATE TABLE IF NOT EXISTS compare_runs (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        targets TEXT NOT NULL,
        params TEXT NOT NULL,
        source TEXT NOT NULL,
        rows INTEGER NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS compare_results (
        run_id INTEGER NOT NULL REFERENCES compare_runs(id) ON DELETE CASCADE,
        row_index INTEGER NOT NULL,
        target TEXT NOT NULL,
        model TEXT NOT NULL,
        messages TEXT NOT NULL,
        prompt TEXT NOT NULL,
        reference TEXT,
        answer TEXT,
        tokens_in INTEGER,
        tokens_out INTEGER,
        latency_s REAL,
        cost REAL,
        error TEXT,
        attempts INTEGER NOT NULL,
        finish_reason TEXT,
        updated_at REAL NOT NULL,
        UNIQUE (run_id, row_index, target)
    );
    CREATE TABLE IF NOT EXISTS compare_votes (
        run_id INTEGER NOT NULL REFERENCES compare_runs(id) ON DELETE CASCADE,
        row_index INTEGER NOT NULL,
        left_target TEXT NOT NULL,
        right_target TEXT NOT NULL,
        vote TEXT NOT NULL CHECK (vote IN ('A', 'B', 'tie', 'both_bad')),
        created_at REAL NOT NULL,
        UNIQUE (run_id, row_index, left_target, right_target)
    );
    """,
    """
    ALTER TABLE datasets ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
    """,
    """
    ALTER TABLE compare_results ADD COLUMN tool_calls TEXT;
    ALTER TABLE compare_results ADD COLUMN reference_tool_calls TEXT;
    ALTER TABLE compare_results ADD COLUMN tools TEXT;
    """,
    """
    CREATE TABLE train_presets (
        name TEXT PRIMARY KEY,
        settings TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    """
    CREATE TABLE turn_views (
        version_id INTEGER PRIMARY KEY REFERENCES versions(id) ON DELETE CASCADE,
        builder TEXT NOT NULL,
        data BLOB NOT NULL,
        created_at REAL NOT NULL
    );
    """,
)


def schema_version(db: sqlite3.Connection) -> int:
    """How many migrations the open database has had (``PRAGMA user_version``)."""
    return db.execute("PRAGMA user_version").fetchone()[0]


def _statements(script: str) -> list[str]:
    # Our scripts hold no triggers or string literals with ";", so a split is exact.
    return [statement.strip() for statement in script.split(";") if statement.strip()]


def migrate(db: sqlite3.Connection) -> int:
    """Apply the migrations ``db`` has not had yet, one transaction each; returns the schema version reached.

    ``db`` must be in autocommit mode (``isolation_level=None``). A version newer than this code knows is left
    alone (an older studio opening a newer workspace) rather than guessed at.
    """
    for number, script in enumerate(MIGRATIONS, start=1):
        if schema_version(db) >= number:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(db) < number:  # another process may have run it while we waited for the lock
                for statement in _statements(script):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version={number}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return schema_version(db)
