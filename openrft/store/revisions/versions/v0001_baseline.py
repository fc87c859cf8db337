"""The baseline: the store as the hand-written SQLite migrations m001..m011 left it.

A SQLite database those made is stamped at this revision instead of running it
(`openrft.store.upgrade`); a new database, SQLite or PostgreSQL, starts here. As m006 did,
it imports the file records a version before the files table kept beside each upload
(`files/<id>.json` in the home), so no file disappears on upgrade.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the schema's types: a revision never changes when `schema.py` does.
Int: sa.types.TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Float: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")
Text = sa.Text


def _column(spec: str) -> sa.Column[Any]:
    """`"name type [!] [0]"`: `!` is NOT NULL, `0` a default of 0; type is `text`, `int` or
    `float`."""
    name, kind, *flags = spec.split()
    types: dict[str, sa.types.TypeEngine[Any]] = {"text": Text(), "int": Int, "float": Float}
    default = sa.text("0") if "0" in flags else None
    return sa.Column(name, types[kind], nullable="!" not in flags, server_default=default)


def _table(name: str, specs: str, *extra: Any, **kw: Any) -> sa.Table:
    key, *rest = (spec.strip() for spec in specs.split(","))
    key_name, key_type = key.split()[:2]
    kind: sa.types.TypeEngine[Any] = Int if key_type == "int" else Text()
    primary: sa.Column[Any] = sa.Column(key_name, kind, primary_key=True)
    return op.create_table(name, primary, *(_column(spec) for spec in rest), *extra, **kw)


def _where(condition: str) -> dict[str, Any]:
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def upgrade() -> None:
    _table(
        "jobs",
        "id text, project text !, created_ns int !, status text !, model text !, "
        "training_file text !, validation_file text, seed int !, suffix text, method text !, "
        "metadata text, integrations text, error text, fine_tuned_model text, "
        "fine_tuned_model_path text, finished_at int, trained_tokens int, resolved text, "
        "attempt int ! 0, lease_owner text, lease_expires_at float, model_deleted int ! 0, "
        "idempotency_key text, settings text, eval_id text",
    )
    op.create_index("jobs_by_project", "jobs", ["project", "created_ns"])
    op.create_index("jobs_by_status", "jobs", ["status"])
    op.create_index("jobs_idempotent", "jobs", ["project", "idempotency_key"], unique=True,
                    **_where("idempotency_key IS NOT NULL"))  # fmt: skip
    _table(
        "events",
        "seq int, id text !, job_id text !, created_at int !, level text !, message text !, "
        "type text !, data text, step int",
        sa.UniqueConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("events_by_job", "events", ["job_id", "seq"])
    op.create_index("metrics_once", "events", ["job_id", "step"], unique=True,
                    **_where("type = 'metrics'"))  # fmt: skip
    op.create_index("messages_once", "events", ["job_id", "step", "message"], unique=True,
                    **_where("type = 'message' AND step IS NOT NULL"))  # fmt: skip
    _table(
        "checkpoints",
        "id text, job_id text !, created_at int !, step int !, path text !, "
        "model_name text !, metrics text !",
        sa.UniqueConstraint("job_id", "step"),
    )
    op.create_index("checkpoints_by_model", "checkpoints", ["model_name"])
    _files()
    _evals()
    _reviews()


def _files() -> None:
    files = _table(
        "files",
        "id text, project text !, bytes int !, created_at int !, created_ns int !, "
        "filename text !, purpose text !, status text !, expires_at int",
    )
    op.create_index("files_by_project", "files", ["project", "created_ns", "id"])
    home: Path | None = context.config.attributes.get("home")
    if home is None:
        return
    names = [column.name for column in files.columns]
    records = [json.loads(meta.read_bytes()) for meta in sorted(home.glob("files/file-*.json"))]
    rows = [{name: record.get(name) for name in names} | {"status": record.get("status")
            or "processed"} for record in records]  # fmt: skip
    if rows:
        op.bulk_insert(files, rows)


def _evals() -> None:
    _table(
        "evals",
        "id text, project text !, created_ns int !, updated_ns int !, name text !, "
        "metadata text, config text !, criteria text !",
    )
    op.create_index("evals_by_project", "evals", ["project", "created_ns", "id"])
    _table(
        "eval_runs",
        "id text, eval_id text !, project text !, created_ns int !, name text !, model text !, "
        "status text !, data_source text !, metadata text, error text, counts text !, "
        "usage text !, per_criteria text !",
    )
    op.create_index("eval_runs_by_eval", "eval_runs", ["eval_id", "created_ns", "id"])
    op.create_index("eval_runs_by_status", "eval_runs", ["status", "created_ns"])
    _table(
        "eval_items",
        "id text, run_id text !, eval_id text !, created_at int !, row int !, status text !, "
        "item text !, results text !, sample text !",
        sa.UniqueConstraint("run_id", "row"),
    )


def _reviews() -> None:
    _table(
        "reviews",
        "id text, project text !, created_ns int !, candidate text !, baseline text !, "
        "grader text, metadata text",
    )
    op.create_index("reviews_by_pair", "reviews", ["project", "candidate", "baseline",
                                                   "created_ns"])  # fmt: skip
    _table(
        "review_items",
        "id text, review_id text !, project text !, position int !, slice text !, item text !, "
        "candidate text !, baseline text !, status text !, note text, decided_at int",
        sa.UniqueConstraint("review_id", "position"),
    )


def downgrade() -> None:
    raise NotImplementedError("the store's migrations go forward only")
