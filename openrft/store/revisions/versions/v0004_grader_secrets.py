"""Endpoint graders' header values out of the rows: `job_secrets.graders` and `eval_secrets`.

An endpoint grader's `headers` (an API key) were stored in plain text in a job's `method` and
`settings` (`eval_grader`) and in an eval's `criteria`, though every echo masked them. Now those
rows hold `***` and the values are kept apart: a job's in `job_secrets.graders` until it
finishes (`openrft.jobs.secrets`), an eval's in `eval_secrets` until it is deleted
(`openrft.evals.records`). Rows written before are moved over: an eval's values and an
unfinished job's go to the new places; a finished job's are replaced by `***` (it needs them
no more).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Frozen copies: a revision never changes when the code it once matched does.
UNFINISHED = ("validating_files", "queued", "running", "paused")
MASK = "***"


def upgrade() -> None:
    op.add_column("job_secrets", sa.Column("graders", sa.Text()))
    op.create_table(
        "eval_secrets",
        sa.Column("eval_id", sa.Text(), primary_key=True),
        sa.Column("criteria", sa.Text(), nullable=False),
    )
    conn = op.get_bind()
    _move_eval_values(conn)
    _move_job_values(conn)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _split(obj: Any, path: str, values: dict[str, dict[str, str]]) -> Any:
    """`obj` with every endpoint grader's / tool's header values masked; `values` gets them
    by path (keys and list indexes joined by `/`)."""
    if isinstance(obj, list):
        return [
            _split(item, f"{path}/{i}" if path else str(i), values) for i, item in enumerate(obj)
        ]
    if not isinstance(obj, dict):
        return obj
    out = {
        key: _split(item, f"{path}/{key}" if path else str(key), values)
        for key, item in obj.items()
    }
    headers = obj.get("headers")
    if isinstance(headers, dict) and isinstance(obj.get("url", obj.get("server_url")), str):
        kept = {name: value for name, value in headers.items() if value != MASK}
        if kept:
            values[path] = kept
        out["headers"] = dict.fromkeys(headers, MASK)
    return out


def _move_eval_values(conn: sa.Connection) -> None:
    for eval_id, criteria in conn.execute(sa.text("SELECT id, criteria FROM evals")).fetchall():
        values: dict[str, dict[str, str]] = {}
        masked = _split(json.loads(criteria), "", values)
        if not values:
            continue
        conn.execute(
            sa.text("UPDATE evals SET criteria = :criteria WHERE id = :id"),
            {"criteria": _dumps(masked), "id": eval_id},
        )
        conn.execute(
            sa.text("INSERT INTO eval_secrets (eval_id, criteria) VALUES (:id, :values)"),
            {"id": eval_id, "values": _dumps(values)},
        )


def _move_job_values(conn: sa.Connection) -> None:
    rows = conn.execute(sa.text("SELECT id, status, method, settings FROM jobs")).fetchall()
    for job_id, status, method_text, settings_text in rows:
        method = json.loads(method_text) if method_text else None
        settings = json.loads(settings_text) if settings_text else None
        graders: dict[str, dict[str, dict[str, str]]] = {}
        grader = ((method or {}).get("reinforcement") or {}).get("grader")
        if isinstance(grader, dict):
            values: dict[str, dict[str, str]] = {}
            method["reinforcement"]["grader"] = _split(grader, "", values)  # type: ignore[index]
            if values:
                graders["grader"] = values
        eval_grader = settings.get("eval_grader") if isinstance(settings, dict) else None
        if isinstance(eval_grader, dict):
            values = {}
            settings["eval_grader"] = _split(eval_grader, "", values)  # type: ignore[index]
            if values:
                graders["eval_grader"] = values
        if not graders:
            continue
        conn.execute(
            sa.text("UPDATE jobs SET method = :method, settings = :settings WHERE id = :id"),
            {
                "method": _dumps(method),
                "settings": None if settings is None else _dumps(settings),
                "id": job_id,
            },
        )
        if status not in UNFINISHED:
            continue  # finished: its values are needed no more
        kept = conn.execute(
            sa.text("SELECT job_id FROM job_secrets WHERE job_id = :id"), {"id": job_id}
        ).fetchone()
        if kept is None:
            conn.execute(
                sa.text(
                    "INSERT INTO job_secrets (job_id, tools, graders) VALUES (:id, '{}', :graders)"
                ),
                {"id": job_id, "graders": _dumps(graders)},
            )
        else:
            conn.execute(
                sa.text("UPDATE job_secrets SET graders = :graders WHERE job_id = :id"),
                {"id": job_id, "graders": _dumps(graders)},
            )
