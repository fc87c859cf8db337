"""Eval output items stored a chunk of rows at a time (`openrft.evals.output_items`).

One INSERT per chunk instead of one per item. The items stored one per row move over, each
group written together (one chunk's commit: consecutive rows with one `created_at`) becoming
one chunk with the ids and times they had; then `eval_items` goes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Int: sa.types.TypeEngine[int] = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LETTERS = {"pass": "p", "fail": "f", "error": "e"}


def upgrade() -> None:
    op.create_table(
        "eval_chunks",
        sa.Column("run_id", sa.Text(), primary_key=True),
        sa.Column("first_row", Int, primary_key=True),
        sa.Column("eval_id", sa.Text(), nullable=False),
        sa.Column("row_count", Int, nullable=False),
        sa.Column("created_at", Int, nullable=False),
        sa.Column("id_key", sa.Text(), nullable=False),
        sa.Column("ids", sa.Text()),
        sa.Column("samples", sa.Text(), nullable=False),
        sa.Column("statuses", sa.Text(), nullable=False),
        sa.Column("results", sa.Text(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
    )
    op.create_index("eval_chunks_by_eval", "eval_chunks", ["eval_id"])
    conn = op.get_bind()
    runs = conn.execute(sa.text("SELECT DISTINCT run_id FROM eval_items ORDER BY run_id"))
    for (run_id,) in runs.fetchall():
        items = conn.execute(
            sa.text(
                "SELECT id, eval_id, created_at, row, status, item, results, sample "
                "FROM eval_items WHERE run_id = :run ORDER BY row"
            ),
            {"run": run_id},
        ).fetchall()
        for group in _written_together([tuple(item) for item in items]):
            _insert_chunk(conn, run_id, group)
    op.drop_table("eval_items")


def _written_together(items: list[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    groups: list[list[tuple[Any, ...]]] = []
    for item in items:
        last = groups[-1][-1] if groups else None
        if last is not None and last[2] == item[2] and last[3] + 1 == item[3]:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def _insert_chunk(conn: sa.Connection, run_id: str, group: list[tuple[Any, ...]]) -> None:
    body = "\n".join(f'{{"item":{item[5]},"sample":{item[7]}}}' for item in group).encode()
    conn.execute(
        sa.text(
            "INSERT INTO eval_chunks (run_id, first_row, eval_id, row_count, created_at, "
            "id_key, ids, samples, statuses, results, body) VALUES (:run, :first, :eval, "
            ":count, :at, '', :ids, 'record', :statuses, :results, :body)"
        ),
        {
            "run": run_id,
            "first": group[0][3],
            "eval": group[0][1],
            "count": len(group),
            "at": group[0][2],
            "ids": json.dumps([item[0] for item in group]),
            "statuses": "".join(LETTERS[item[4]] for item in group),
            "results": '{"each":[' + ",".join(item[6] for item in group) + "]}",
            "body": body,
        },
    )
