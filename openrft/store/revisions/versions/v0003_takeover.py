"""What a job or an eval run needs to move to another host: a job's tool secrets in the store,
and eval runs under a lease.

`job_secrets` keeps an agentic job's tool header values (`openrft.jobs.secrets`) apart from
the job's row, until the job finishes; before, they were a file in the job's folder, which a
worker on another host could not read. `eval_runs.lease_owner` / `lease_expires_at` name the
server grading an `in_progress` run until when (`openrft.server.eval_runs`), so a server
starting elsewhere requeues only a run nobody renews. A job folder's `secrets.json` (a job
created before this revision and not finished yet) is imported; the files are left as they
are (deleting them here would lose the values if the upgrade's transaction rolled back).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen copies of the schema's types: a revision never changes when `schema.py` does.
Float: sa.types.TypeEngine[float] = sa.Double().with_variant(sa.REAL(), "sqlite")
UNFINISHED = ("validating_files", "queued", "running", "paused")


def upgrade() -> None:
    op.create_table(
        "job_secrets",
        sa.Column("job_id", sa.Text(), primary_key=True),
        sa.Column("tools", sa.Text(), nullable=False),
    )
    op.add_column("eval_runs", sa.Column("lease_owner", sa.Text()))
    op.add_column("eval_runs", sa.Column("lease_expires_at", Float))
    _import_secret_files(op.get_bind())


def _import_secret_files(conn: sa.Connection) -> None:
    home = context.config.attributes.get("home")
    if home is None:
        return
    marks = ", ".join(f"'{status}'" for status in UNFINISHED)
    rows = conn.execute(sa.text(f"SELECT id FROM jobs WHERE status IN ({marks})")).fetchall()
    for (job_id,) in rows:
        path = Path(home) / "jobs" / job_id / "secrets.json"
        if path.is_file():
            tools = json.loads(path.read_text(encoding="utf-8"))["tools"]
            conn.execute(
                sa.text("INSERT INTO job_secrets (job_id, tools) VALUES (:job, :tools)"),
                {"job": job_id, "tools": json.dumps(tools, separators=(",", ":"))},
            )
