"""The `jobs` table: every SQL statement on it lives here (a test holds the source to that), in
SQL that SQLite and PostgreSQL both run (`openrft.store.db`).

What it guarantees:
- Every write is one transaction (or joins the caller's, `Database.tx`). A status change is
  a compare-and-set (`move`): of two writers racing, one wins.
- `claim` is exclusive: one statement picks the oldest `queued` job and makes it `running`
  under the caller's lease, bumping `attempt`; two workers (threads, processes or hosts) never
  get the same job. SQLite serialises the statement (`BEGIN IMMEDIATE`); on PostgreSQL the
  pick locks its row (`FOR UPDATE SKIP LOCKED`, so a second claimer takes the next job rather
  than waiting) and the update checks the job is still `queued`. `(id, attempt)` names a
  lease: `release` and `heartbeat` act only on the lease the caller holds, so a worker that
  lost its lease cannot take a job back from the one that claimed it since.
- No host-specific path is stored: a model directory is written relative to the home
  (`openrft.store.paths`) and `model_dir` reads it back under wherever the home is now; an
  error's message has the home taken out of the paths it names.
- JSON columns (`method`, `metadata`, `error`, ...) are encoded here, once.
- A job's header values (its tools' and endpoint graders': `job_secrets`, never its row) are
  deleted in the transaction that moves the job to a final state.
What it does not do: decide which moves are legal (`openrft.jobs.states`), shape rows into
API objects (`openrft.jobs.store`), or time leases (the worker passes its lease length).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update

from openrft.store.db import Database, Row, dumps, loads
from openrft.store.paths import located, stored, without_home
from openrft.store.schema import jobs as _jobs

__all__ = ["FINISHED", "JobTable"]

FINISHED = ("succeeded", "failed", "cancelled")
_JSON_COLUMNS = {"method", "metadata", "integrations", "error", "resolved", "settings"}
_SUCCEEDED = "status = 'succeeded' AND model_deleted = 0 AND fine_tuned_model IS NOT NULL"


class JobTable:
    def __init__(self, db: Database):
        self.db = db

    # -- rows -------------------------------------------------------------------------------

    def insert(self, columns: Mapping[str, Any]) -> None:
        """A new row; SQLAlchemy's `IntegrityError` when its id or idempotency key is taken
        (the caller's transaction, if any, goes on)."""
        names, values = self._encoded(columns)
        marks = ", ".join("?" for _ in names)
        with self.db.savepoint() as conn:
            conn.execute(f"INSERT INTO jobs ({', '.join(names)}) VALUES ({marks})", values)

    def get(self, job_id: str) -> Row | None:
        return self.db.one("SELECT * FROM jobs WHERE id = ?", (job_id,))

    def by_key(self, project: str, key: str) -> Row | None:
        """The project's job created with idempotency key `key`."""
        sql = "SELECT * FROM jobs WHERE project = ? AND idempotency_key = ?"
        return self.db.one(sql, (project, key))

    def page(self, project: str, before: Row | None, limit: int | None) -> list[Row]:
        """The project's jobs, newest first, after (older than) the job `before`."""
        sql = "SELECT * FROM jobs WHERE project = ?"
        params: list[Any] = [project]
        if before is not None:
            sql += " AND (created_ns < ? OR (created_ns = ? AND id < ?))"
            params += [before["created_ns"], before["created_ns"], before["id"]]
        sql += " ORDER BY created_ns DESC, id DESC"
        if limit is not None:
            sql, params = sql + " LIMIT ?", [*params, limit]
        return self.db.all(sql, tuple(params))

    def update(self, job_id: str, **fields: Any) -> None:
        names, values = self._encoded(fields)
        sets = ", ".join(f"{name} = ?" for name in names)
        with self.db.tx() as conn:
            conn.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*values, job_id))

    def move(self, job_id: str, sources: Collection[str], target: str, **fields: Any) -> bool:
        """Compare-and-set: `status := target` (and `fields`) only if the status is one of
        `sources`; False when it was not (another writer moved first)."""
        names, values = self._encoded(fields)
        sets = ", ".join(["status = ?", *(f"{name} = ?" for name in names)])
        marks = ", ".join("?" for _ in sources)
        with self.db.tx() as conn:
            cursor = conn.execute(
                f"UPDATE jobs SET {sets} WHERE id = ? AND status IN ({marks})",
                (target, *values, job_id, *sorted(sources)),
            )
            if cursor.rowcount == 1 and target in FINISHED:  # its last run is over
                conn.execute("DELETE FROM job_secrets WHERE job_id = ?", (job_id,))
        return cursor.rowcount == 1

    # -- secrets (`openrft.jobs.secrets`) ---------------------------------------------------

    def keep_secrets(
        self, job_id: str, tools: Mapping[str, Mapping[str, str]],
        graders: Mapping[str, Mapping[str, Mapping[str, str]]] | None = None,
    ) -> None:  # fmt: skip
        """The job's header values, apart from its row until it finishes (`move`): its tools'
        by tool name, its graders' (`grader`, `eval_grader`) by path in the grader."""
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO job_secrets (job_id, tools, graders) VALUES (?, ?, ?)",
                (job_id, dumps(tools), dumps(graders) if graders else None),
            )

    def secrets(self, job_id: str) -> dict[str, dict[str, str]] | None:
        """The job's tool header values; None when none are kept (or it has finished)."""
        row = self.db.one("SELECT tools FROM job_secrets WHERE job_id = ?", (job_id,))
        return None if row is None else dict(loads(row["tools"]))

    def grader_secrets(self, job_id: str) -> dict[str, dict[str, dict[str, str]]]:
        """The job's endpoint graders' header values (`grader`, `eval_grader`: each by path in
        the grader); empty when none are kept (a row written before revision 0004, a job
        finished)."""
        row = self.db.one("SELECT graders FROM job_secrets WHERE job_id = ?", (job_id,))
        return {} if row is None or row["graders"] is None else dict(loads(row["graders"]))

    # -- the queue --------------------------------------------------------------------------

    def next_with_status(self, status: str) -> Row | None:
        """The oldest job in `status` (the worker takes jobs first come, first served)."""
        sql = "SELECT * FROM jobs WHERE status = ? ORDER BY created_ns, id LIMIT 1"
        return self.db.one(sql, (status,))

    def claim(self, owner: str, lease: float, *, skip: Iterable[str] = ()) -> Row | None:
        """The oldest `queued` job not in `skip`, now `running` under `owner`'s lease for
        `lease` seconds with `attempt` one higher; None when there is none. Exclusive: of two
        claimers racing for one job exactly one gets it."""
        pick = (
            select(_jobs.c.id)
            .where(_jobs.c.status == "queued", _jobs.c.id.not_in(list(skip)))
            .order_by(_jobs.c.created_ns, _jobs.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite's lock is the transaction's
            .scalar_subquery()
        )
        claimed = (
            update(_jobs)
            .where(_jobs.c.id == pick, _jobs.c.status == "queued")
            .values(status="running", attempt=_jobs.c.attempt + 1, lease_owner=owner,
                    lease_expires_at=time.time() + lease)
            .returning(*_jobs.c)
        )  # fmt: skip
        with self.db.tx() as conn:
            return conn.execute(claimed).fetchone()

    def claim_validation(self, owner: str, lease: float) -> Row | None:
        """The oldest `validating_files` job nobody validates now (no lease, or one that ran
        out), under `owner`'s lease for `lease` seconds; None when there is none. Exclusive
        like `claim`: two workers never validate one job (and never both announce it)."""
        now = time.time()
        free = or_(_jobs.c.lease_expires_at.is_(None), _jobs.c.lease_expires_at < now)
        pick = (
            select(_jobs.c.id)
            .where(_jobs.c.status == "validating_files", free)
            .order_by(_jobs.c.created_ns, _jobs.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claimed = (
            update(_jobs)
            .where(_jobs.c.id == pick, _jobs.c.status == "validating_files", free)
            .values(lease_owner=owner, lease_expires_at=now + lease)
            .returning(*_jobs.c)
        )
        with self.db.tx() as conn:
            return conn.execute(claimed).fetchone()

    def heartbeat(self, owner: str, leases: Mapping[str, int], lease: float) -> set[str]:
        """Extend `owner`'s leases (job id -> attempt) by `lease` seconds from now; returns the
        ids still held (a job missing from it was released, finished or claimed again)."""
        until, held = time.time() + lease, set()
        with self.db.tx() as conn:
            for job_id, attempt in leases.items():
                cursor = conn.execute(
                    "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND attempt = ? "
                    "AND lease_owner = ? AND status = 'running'",
                    (until, job_id, attempt, owner),
                )
                if cursor.rowcount == 1:
                    held.add(job_id)
        return held

    def expired(self, now: float | None = None) -> list[Row]:
        """`running` jobs whose lease ran out before `now`: nobody renews them (their worker
        died, or stalled past its lease)."""
        at = time.time() if now is None else now
        sql = "SELECT * FROM jobs WHERE status = 'running' AND lease_expires_at < ?"
        return self.db.all(sql + " ORDER BY created_ns, id", (at,))

    def release(self, job_id: str, attempt: int) -> bool:
        """Back to `queued`, lease cleared, if the job is still `running` under lease
        `attempt`; False when it moved on (finished, paused, or claimed again since)."""
        with self.db.tx() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL "
                "WHERE id = ? AND status = 'running' AND attempt = ?",
                (job_id, attempt),
            )
        return cursor.rowcount == 1

    def finished_before(self, when: float) -> list[str]:
        """Ids of the jobs that finished (succeeded, failed, cancelled) before `when`."""
        marks = ", ".join("?" for _ in FINISHED)
        sql = f"SELECT id FROM jobs WHERE status IN ({marks}) AND finished_at < ? ORDER BY id"
        return [row["id"] for row in self.db.all(sql, (*FINISHED, int(when)))]

    # -- fine-tuned models ------------------------------------------------------------------

    def with_models(self, project: str) -> list[Row]:
        """The project's jobs whose model is not deleted, oldest first (any status: a paused
        job's checkpoints are models too)."""
        sql = "SELECT * FROM jobs WHERE project = ? AND model_deleted = 0 ORDER BY created_ns"
        return self.db.all(sql, (project,))

    def succeeded(self) -> list[Row]:
        """Every project's succeeded jobs whose model is not deleted, oldest first."""
        return self.db.all(f"SELECT * FROM jobs WHERE {_SUCCEEDED} ORDER BY created_ns, id")

    def by_model(self, name: str, project: str | None = None) -> Row | None:
        """The succeeded job whose fine-tuned model is `name` (in `project`, or any)."""
        sql, params = f"SELECT * FROM jobs WHERE {_SUCCEEDED} AND fine_tuned_model = ?", [name]
        if project is not None:
            sql, params = sql + " AND project = ?", [*params, project]
        return self.db.one(sql, tuple(params))

    def checkpoint(self, name: str, project: str) -> Row | None:
        """The checkpoint called `name` of one of `project`'s jobs whose model is kept."""
        return self.db.one(
            "SELECT checkpoints.* FROM checkpoints JOIN jobs ON jobs.id = checkpoints.job_id "
            "WHERE checkpoints.model_name = ? AND jobs.project = ? AND jobs.model_deleted = 0",
            (name, project),
        )

    def delete_model(self, job_id: str) -> None:
        """Hide the job's model and its checkpoints (the weights stay on disk)."""
        with self.db.tx() as conn:
            conn.execute("UPDATE jobs SET model_deleted = 1 WHERE id = ?", (job_id,))

    def model_dir(self, job: Row) -> Path | None:
        """Where the job's fine-tuned model is now (None when it has none recorded)."""
        path = job["fine_tuned_model_path"]
        return located(self.db.home, path) if path else None

    def _encoded(self, fields: Mapping[str, Any]) -> tuple[list[str], tuple[Any, ...]]:
        """Column names and their stored values: JSON text, a model path made relative."""
        return list(fields), tuple(self._encode(key, value) for key, value in fields.items())

    def _encode(self, key: str, value: Any) -> Any:
        if key == "fine_tuned_model_path" and value is not None:
            return stored(self.db.home, value)
        if key == "error" and isinstance(value, dict) and isinstance(value.get("message"), str):
            value = {**value, "message": without_home(self.db.home, value["message"])}
        return dumps(value) if key in _JSON_COLUMNS else value
