"""The store's schema as SQLAlchemy Core tables: one definition for SQLite and PostgreSQL.

This is the schema as it is now; how a database gets there is the Alembic revisions under
`openrft/store/alembic/versions` (a test holds the two equal on both backends). Integers are
64-bit (`created_ns` is nanoseconds) and spelt `INTEGER` on SQLite, where that is 64-bit and
`INTEGER PRIMARY KEY` is the rowid; JSON documents are TEXT, encoded by the store modules.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    REAL,
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeEngine

__all__ = ["Float", "Int", "metadata"]

Int: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
Float: TypeEngine[float] = Double().with_variant(REAL(), "sqlite")

metadata = MetaData()


def _where(condition: str) -> dict[str, Any]:
    """A partial index's condition, for both backends."""
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}


jobs = Table(
    "jobs", metadata,
    Column("id", Text, primary_key=True),
    Column("project", Text, nullable=False),
    Column("created_ns", Int, nullable=False),
    Column("status", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("training_file", Text, nullable=False),
    Column("validation_file", Text),
    Column("seed", Int, nullable=False),
    Column("suffix", Text),
    Column("method", Text, nullable=False),
    Column("metadata", Text),
    Column("integrations", Text),
    Column("error", Text),
    Column("fine_tuned_model", Text),
    Column("fine_tuned_model_path", Text),
    Column("finished_at", Int),
    Column("trained_tokens", Int),
    Column("resolved", Text),
    Column("attempt", Int, nullable=False, server_default=text("0")),
    Column("lease_owner", Text),
    Column("lease_expires_at", Float),
    Column("model_deleted", Int, nullable=False, server_default=text("0")),
    Column("idempotency_key", Text),
    Column("settings", Text),
    Column("eval_id", Text),
    Index("jobs_by_project", "project", "created_ns"),
    Index("jobs_by_status", "status"),
    Index("jobs_idempotent", "project", "idempotency_key", unique=True,
          **_where("idempotency_key IS NOT NULL")),
)  # fmt: skip

events = Table(
    "events", metadata,
    Column("seq", Int, primary_key=True, autoincrement=True),
    Column("id", Text, nullable=False, unique=True),
    Column("job_id", Text, nullable=False),
    Column("created_at", Int, nullable=False),
    Column("level", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("data", Text),
    Column("step", Int),
    Index("events_by_job", "job_id", "seq"),
    # A resumed job replays steps after its last checkpoint: one metrics event per step, and
    # a step's message (killed between emitting and journaling it) once.
    Index("metrics_once", "job_id", "step", unique=True, **_where("type = 'metrics'")),
    Index("messages_once", "job_id", "step", "message", unique=True,
          **_where("type = 'message' AND step IS NOT NULL")),
    sqlite_autoincrement=True,
)  # fmt: skip

job_secrets = Table(
    "job_secrets", metadata,
    Column("job_id", Text, primary_key=True),
    Column("tools", Text, nullable=False),
    Column("graders", Text),
)  # fmt: skip
"""An unfinished job's header values (`openrft.jobs.secrets`): its tools' (`tools`) and its
endpoint graders' (`graders`: `grader` and `eval_grader`, each by path); never in its row."""

checkpoints = Table(
    "checkpoints", metadata,
    Column("id", Text, primary_key=True),
    Column("job_id", Text, nullable=False),
    Column("created_at", Int, nullable=False),
    Column("step", Int, nullable=False),
    Column("path", Text, nullable=False),
    Column("model_name", Text, nullable=False),
    Column("metrics", Text, nullable=False),
    UniqueConstraint("job_id", "step"),
    Index("checkpoints_by_model", "model_name"),
)  # fmt: skip

files = Table(
    "files", metadata,
    Column("id", Text, primary_key=True),
    Column("project", Text, nullable=False),
    Column("bytes", Int, nullable=False),
    Column("created_at", Int, nullable=False),
    Column("created_ns", Int, nullable=False),
    Column("filename", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("expires_at", Int),
    Index("files_by_project", "project", "created_ns", "id"),
)  # fmt: skip

evals = Table(
    "evals", metadata,
    Column("id", Text, primary_key=True),
    Column("project", Text, nullable=False),
    Column("created_ns", Int, nullable=False),
    Column("updated_ns", Int, nullable=False),
    Column("name", Text, nullable=False),
    Column("metadata", Text),
    Column("config", Text, nullable=False),
    Column("criteria", Text, nullable=False),
    Index("evals_by_project", "project", "created_ns", "id"),
)  # fmt: skip

eval_secrets = Table(
    "eval_secrets", metadata,
    Column("eval_id", Text, primary_key=True),
    Column("criteria", Text, nullable=False),
)  # fmt: skip
"""An eval's endpoint graders' header values, by path in its `criteria` (`openrft.evals.records`):
never in its row; deleted with the eval."""

eval_runs = Table(
    "eval_runs", metadata,
    Column("id", Text, primary_key=True),
    Column("eval_id", Text, nullable=False),
    Column("project", Text, nullable=False),
    Column("created_ns", Int, nullable=False),
    Column("name", Text, nullable=False),
    Column("model", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("data_source", Text, nullable=False),
    Column("metadata", Text),
    Column("error", Text),
    Column("counts", Text, nullable=False),
    Column("usage", Text, nullable=False),
    Column("per_criteria", Text, nullable=False),
    Column("lease_owner", Text),
    Column("lease_expires_at", Float),
    Index("eval_runs_by_eval", "eval_id", "created_ns", "id"),
    Index("eval_runs_by_status", "status", "created_ns"),
)  # fmt: skip

eval_chunks = Table(
    "eval_chunks", metadata,
    Column("run_id", Text, primary_key=True),
    Column("first_row", Int, primary_key=True),
    Column("eval_id", Text, nullable=False),
    Column("row_count", Int, nullable=False),
    Column("created_at", Int, nullable=False),
    Column("id_key", Text, nullable=False),
    Column("ids", Text),
    Column("samples", Text, nullable=False),
    Column("statuses", Text, nullable=False),
    Column("results", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Index("eval_chunks_by_eval", "eval_id"),
)  # fmt: skip

reviews = Table(
    "reviews", metadata,
    Column("id", Text, primary_key=True),
    Column("project", Text, nullable=False),
    Column("created_ns", Int, nullable=False),
    Column("candidate", Text, nullable=False),
    Column("baseline", Text, nullable=False),
    Column("grader", Text),
    Column("metadata", Text),
    Index("reviews_by_pair", "project", "candidate", "baseline", "created_ns"),
)  # fmt: skip

review_items = Table(
    "review_items", metadata,
    Column("id", Text, primary_key=True),
    Column("review_id", Text, nullable=False),
    Column("project", Text, nullable=False),
    Column("position", Int, nullable=False),
    Column("slice", Text, nullable=False),
    Column("item", Text, nullable=False),
    Column("candidate", Text, nullable=False),
    Column("baseline", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("note", Text),
    Column("decided_at", Int),
    UniqueConstraint("review_id", "position"),
)  # fmt: skip
