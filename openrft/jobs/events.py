"""Job events and checkpoints in the store, shaped as OpenAI's objects (spec §5.5, §5.6).

Events are append-only and listed newest first; a metrics event is stored once per step
(a resumed job that replays a step does not duplicate it), and each of the trainer's events
once by its key (`openrft.train.events.event_key`), in the store itself: a job resumed on
another host, without the first host's `events.jsonl` journal, repeats none
(`openrft.jobs.record.EventsOf`). Checkpoints are recorded only after the trainer reports them
complete (as each is written, not only when the attempt ends),
and one whose directory is gone (retention) is not listed, so a listed checkpoint is loadable.
An event's message names no host path: paths under the home are stored relative to it.
"""

from __future__ import annotations

import time
from typing import Any

from openrft.errors import InvalidRequestError
from openrft.jobs.models import servable
from openrft.store.db import Database, Row, dumps, loads
from openrft.store.ids import new_id
from openrft.store.paths import stored, without_home

__all__ = ["EventStore", "checkpoint_object", "event_object"]


class EventStore:
    def __init__(self, db: Database):
        self.db = db

    def add(
        self,
        job_id: str,
        message: str,
        *,
        level: str = "info",
        type: str = "message",
        data: Any = None,
        step: int | None = None,
        once: bool = False,
    ) -> None:
        """Append an event. A metrics event, or a message with a step, is stored once per
        (step[, message]) (unique indexes); `once` does the same for a message without a
        step: not stored when the job has that message already. Paths under the home in
        `message` are stored relative to it, as a job's error is: a client sees no host path."""
        message = without_home(self.db.home, message)
        values = (new_id("ftevent-"), job_id, int(time.time()), level, message, type,
                  dumps(data), step)  # fmt: skip
        columns = "INSERT INTO events (id, job_id, created_at, level, message, type, data, step) "
        with self.db.tx() as conn:
            if once and step is None:
                conn.execute(
                    columns + "SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM "
                    "events WHERE job_id = ? AND type = ? AND step IS NULL AND message = ?)",
                    (*values, job_id, type, message),
                )
                return
            conn.execute(columns + "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", values)

    def page(self, job_id: str, after: str | None, limit: int) -> tuple[list[Row], bool]:
        """Newest first."""
        return self._page("events", "seq", "event", job_id, after, limit)

    def _page(
        self, table: str, key: str, what: str, job_id: str, after: str | None, limit: int
    ) -> tuple[list[Row], bool]:
        """A cursor page of a job's rows, descending by `key`; `after` is the last id seen."""
        sql, params = f"SELECT * FROM {table} WHERE job_id = ?", [job_id]
        if after is not None:
            anchor = self.db.one(
                f"SELECT {key} FROM {table} WHERE id = ? AND job_id = ?", (after, job_id)
            )
            if anchor is None:
                raise InvalidRequestError(f"No such {what}: {after}", param="after")
            sql += f" AND {key} < ?"
            params.append(anchor[key])
        rows = self.db.all(sql + f" ORDER BY {key} DESC LIMIT ?", (*params, limit + 1))
        return rows[:limit], len(rows) > limit

    def record_checkpoint(
        self, job_id: str, step: int, path: str, model_name: str, metrics: dict[str, Any]
    ) -> None:
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO checkpoints (id, job_id, created_at, step, path, model_name, metrics) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, step) DO UPDATE SET "
                "path = excluded.path, model_name = excluded.model_name, "
                "metrics = excluded.metrics",
                (
                    new_id("ftckpt_"),
                    job_id,
                    int(time.time()),
                    step,
                    stored(self.db.home, path),
                    model_name,
                    dumps(metrics),
                ),
            )

    def forget_checkpoints(self, job_id: str, keep_steps: set[int]) -> None:
        """Drop rows for checkpoints the trainer no longer keeps (J3 retention), in one
        statement (no read of the rows first that another writer could change meanwhile)."""
        kept = sorted(keep_steps)
        sql = "DELETE FROM checkpoints WHERE job_id = ?"
        if kept:
            sql += f" AND step NOT IN ({', '.join('?' for _ in kept)})"
        with self.db.tx() as conn:
            conn.execute(sql, (job_id, *kept))

    def checkpoint_page(self, job_id: str, after: str | None, limit: int) -> tuple[list[Row], bool]:
        """Newest (highest step) first; only checkpoints whose directory exists (a job keeps
        a handful, so they are filtered here rather than in SQL)."""
        sql = "SELECT * FROM checkpoints WHERE job_id = ? ORDER BY step DESC"
        rows = [row for row in self.db.all(sql, (job_id,)) if servable(self.db.home, row)]
        if after is not None:
            ids = [row["id"] for row in rows]
            if after not in ids:
                raise InvalidRequestError(f"No such checkpoint: {after}", param="after")
            rows = rows[ids.index(after) + 1 :]
        return rows[:limit], len(rows) > limit


def event_object(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "fine_tuning.job.event",
        "created_at": row["created_at"],
        "level": row["level"],
        "message": row["message"],
        "type": row["type"],
        "data": loads(row["data"]) or {},
    }


def checkpoint_object(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "fine_tuning.job.checkpoint",
        "created_at": row["created_at"],
        "fine_tuned_model_checkpoint": row["model_name"],
        "fine_tuning_job_id": row["job_id"],
        "step_number": row["step"],
        "metrics": {"step": row["step"], **loads(row["metrics"])},
    }
