"""The SQLite schema before Alembic: hand-written migrations m001..m011, frozen.

A store made by an earlier openrft records these in `_migrations`; `openrft.store.upgrade`
applies the ones it lacks (each once, recorded in `_migrations`), then stamps the store at
Alembic's baseline revision, which is the schema m011 leaves. Nothing is added here: a change
to the schema is an Alembic revision (`openrft/store/revisions/versions`) on both backends.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from openrft.store.paths import in_home


def m001_jobs(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY, project TEXT NOT NULL, created_ns INTEGER NOT NULL,
            status TEXT NOT NULL, model TEXT NOT NULL, training_file TEXT NOT NULL,
            validation_file TEXT, seed INTEGER NOT NULL, suffix TEXT,
            method TEXT NOT NULL, metadata TEXT, integrations TEXT, error TEXT,
            fine_tuned_model TEXT, fine_tuned_model_path TEXT, finished_at INTEGER,
            trained_tokens INTEGER, resolved TEXT, attempt INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT, lease_expires_at REAL, model_deleted INTEGER NOT NULL DEFAULT 0)"""
    )
    db.execute("CREATE INDEX jobs_by_project ON jobs (project, created_ns)")
    db.execute("CREATE INDEX jobs_by_status ON jobs (status)")


def m002_events(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
            job_id TEXT NOT NULL, created_at INTEGER NOT NULL, level TEXT NOT NULL,
            message TEXT NOT NULL, type TEXT NOT NULL, data TEXT, step INTEGER)"""
    )
    db.execute("CREATE INDEX events_by_job ON events (job_id, seq)")
    # A resumed job replays steps after its last checkpoint: one metrics event per step.
    db.execute("CREATE UNIQUE INDEX metrics_once ON events (job_id, step) WHERE type = 'metrics'")


def m003_checkpoints(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE checkpoints (
            id TEXT PRIMARY KEY, job_id TEXT NOT NULL, created_at INTEGER NOT NULL,
            step INTEGER NOT NULL, path TEXT NOT NULL, model_name TEXT NOT NULL,
            metrics TEXT NOT NULL, UNIQUE (job_id, step))"""
    )
    db.execute("CREATE INDEX checkpoints_by_model ON checkpoints (model_name)")


def m004_message_events_once(db: sqlite3.Connection) -> None:
    # The trainer's event key is (type, step, message): a resumed attempt that re-emits a
    # step's message (killed between emitting and journaling it) must not show it twice.
    db.execute(
        "CREATE UNIQUE INDEX messages_once ON events (job_id, step, message) "
        "WHERE type = 'message' AND step IS NOT NULL"
    )


def m005_job_idempotency(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE jobs ADD COLUMN idempotency_key TEXT")
    db.execute(
        "CREATE UNIQUE INDEX jobs_idempotent ON jobs (project, idempotency_key) "
        "WHERE idempotency_key IS NOT NULL"
    )


def m006_files(db: sqlite3.Connection) -> None:
    """File metadata moves into the store; records an earlier version kept as one JSON file
    beside each upload (`files/<id>.json`) are imported, so no file disappears on upgrade."""
    db.execute(
        """CREATE TABLE files (
            id TEXT PRIMARY KEY, project TEXT NOT NULL, bytes INTEGER NOT NULL,
            created_at INTEGER NOT NULL, created_ns INTEGER NOT NULL, filename TEXT NOT NULL,
            purpose TEXT NOT NULL, status TEXT NOT NULL, expires_at INTEGER)"""
    )
    db.execute("CREATE INDEX files_by_project ON files (project, created_ns, id)")
    main = next(row for row in db.execute("PRAGMA database_list") if row[1] == "main")
    if not main[2]:  # an in-memory database has no home
        return
    for meta in sorted((Path(main[2]).parent / "files").glob("file-*.json")):
        record = json.loads(meta.read_bytes())
        record.setdefault("status", "processed")
        db.execute(
            f"INSERT OR IGNORE INTO files ({', '.join(FILE_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(FILE_COLUMNS))})",
            tuple(record.get(column) for column in FILE_COLUMNS),
        )


def m007_job_settings(db: sqlite3.Connection) -> None:
    """The engine settings a job was created with (openrft's `settings` extension)."""
    db.execute("ALTER TABLE jobs ADD COLUMN settings TEXT")


def m008_evals(db: sqlite3.Connection) -> None:
    """The Evals API (spec §9): evals, their runs, and one output item per graded row."""
    db.execute(
        """CREATE TABLE evals (
            id TEXT PRIMARY KEY, project TEXT NOT NULL, created_ns INTEGER NOT NULL,
            updated_ns INTEGER NOT NULL, name TEXT NOT NULL, metadata TEXT,
            config TEXT NOT NULL, criteria TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX evals_by_project ON evals (project, created_ns, id)")
    db.execute(
        """CREATE TABLE eval_runs (
            id TEXT PRIMARY KEY, eval_id TEXT NOT NULL, project TEXT NOT NULL,
            created_ns INTEGER NOT NULL, name TEXT NOT NULL, model TEXT NOT NULL,
            status TEXT NOT NULL, data_source TEXT NOT NULL, metadata TEXT, error TEXT,
            counts TEXT NOT NULL, usage TEXT NOT NULL, per_criteria TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX eval_runs_by_eval ON eval_runs (eval_id, created_ns, id)")
    db.execute("CREATE INDEX eval_runs_by_status ON eval_runs (status, created_ns)")
    db.execute(
        """CREATE TABLE eval_items (
            id TEXT PRIMARY KEY, run_id TEXT NOT NULL, eval_id TEXT NOT NULL,
            created_at INTEGER NOT NULL, row INTEGER NOT NULL, status TEXT NOT NULL,
            item TEXT NOT NULL, results TEXT NOT NULL, sample TEXT NOT NULL,
            UNIQUE (run_id, row))"""
    )


def m009_job_evals(db: sqlite3.Connection) -> None:
    """The eval each reinforcement job gets: one run per validation step (spec §5.7)."""
    db.execute("ALTER TABLE jobs ADD COLUMN eval_id TEXT")


def m010_relative_paths(db: sqlite3.Connection) -> None:
    """Model and checkpoint directories are stored relative to the home (`store.paths`):
    rewrite the absolute (or working-directory-relative) paths earlier versions stored."""
    home = _home(db)
    jobs = db.execute("SELECT id, fine_tuned_model_path FROM jobs").fetchall()
    for job_id, path in jobs:
        if path:
            db.execute(
                "UPDATE jobs SET fine_tuned_model_path = ? WHERE id = ?",
                (in_home(path, job_id, home), job_id),
            )
    ckpts = db.execute("SELECT id, job_id, path FROM checkpoints").fetchall()
    for ckpt_id, job_id, path in ckpts:
        db.execute(
            "UPDATE checkpoints SET path = ? WHERE id = ?", (in_home(path, job_id, home), ckpt_id)
        )


def m011_reviews(db: sqlite3.Connection) -> None:
    """Human review before a rollout: a candidate's sampled outputs beside the baseline's, per
    slice, each approved or rejected by a person (`openrft.evals.review_store`)."""
    db.execute(
        """CREATE TABLE reviews (
            id TEXT PRIMARY KEY, project TEXT NOT NULL, created_ns INTEGER NOT NULL,
            candidate TEXT NOT NULL, baseline TEXT NOT NULL, grader TEXT, metadata TEXT)"""
    )
    db.execute("CREATE INDEX reviews_by_pair ON reviews (project, candidate, baseline, created_ns)")
    db.execute(
        """CREATE TABLE review_items (
            id TEXT PRIMARY KEY, review_id TEXT NOT NULL, project TEXT NOT NULL,
            position INTEGER NOT NULL, slice TEXT NOT NULL, item TEXT NOT NULL,
            candidate TEXT NOT NULL, baseline TEXT NOT NULL, status TEXT NOT NULL,
            note TEXT, decided_at INTEGER, UNIQUE (review_id, position))"""
    )


def _home(db: sqlite3.Connection) -> Path | None:
    """The directory holding the database file (None for an in-memory database)."""
    main = next(row for row in db.execute("PRAGMA database_list") if row[1] == "main")
    return Path(main[2]).parent if main[2] else None


FILE_COLUMNS = (
    "id", "project", "bytes", "created_at", "created_ns", "filename", "purpose", "status",
    "expires_at",
)  # fmt: skip


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    m001_jobs,
    m002_events,
    m003_checkpoints,
    m004_message_events_once,
    m005_job_idempotency,
    m006_files,
    m007_job_settings,
    m008_evals,
    m009_job_evals,
    m010_relative_paths,
    m011_reviews,
]


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply the migrations not yet recorded, in the caller's (write) transaction; returns the
    names applied now."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    applied = []
    for migration in MIGRATIONS:
        done = db.execute(
            "SELECT 1 FROM _migrations WHERE name = ?", (migration.__name__,)
        ).fetchone()
        if not done:
            migration(db)
            db.execute(
                "INSERT INTO _migrations VALUES (?, strftime('%s','now'))", (migration.__name__,)
            )
            applied.append(migration.__name__)
    return applied
