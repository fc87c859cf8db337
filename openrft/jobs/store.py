"""The jobs table, shaped as OpenAI's `fine_tuning.job` (spec §5.4, every required field).
A fine-tuned model's directory is stored relative to the home (`openrft.store.paths`).

Every status change is a compare-and-set inside `BEGIN IMMEDIATE` (`move`): of two writers
racing (the API pausing, the child finishing) exactly one wins and the other sees False.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from openrft.errors import NotFoundError
from openrft.jobs import states
from openrft.jobs.ids import new_id
from openrft.store.db import Database, dumps, loads
from openrft.store.paths import stored
from openrft.train.spec import echo_hyperparameters

__all__ = ["JobStore", "job_object"]


class JobStore:
    def __init__(self, db: Database):
        self.db = db

    def create(
        self, project: str, fields: dict[str, Any], idempotency_key: str | None = None
    ) -> tuple[sqlite3.Row, bool]:
        """(the job, whether it is new). A key seen before in this project returns the job
        it created, so a client retrying a create never makes two jobs."""
        if idempotency_key is not None:
            known = self._by_key(project, idempotency_key)
            if known is not None:
                return known, False
        job_id = new_id("ftjob-")
        columns = {"id": job_id, "project": project, "created_ns": time.time_ns()}
        columns.update(status="validating_files", idempotency_key=idempotency_key)
        columns.update({key: self._encode(key, value) for key, value in fields.items()})
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        try:
            with self.db.tx() as conn:
                conn.execute(
                    f"INSERT INTO jobs ({names}) VALUES ({marks})", tuple(columns.values())
                )
        except sqlite3.IntegrityError:
            known = self._by_key(project, idempotency_key) if idempotency_key else None
            if known is None:
                raise
            return known, False  # a concurrent retry with the same key won
        return self.row(job_id), True

    def _by_key(self, project: str, key: str) -> sqlite3.Row | None:
        return self.db.one(
            "SELECT * FROM jobs WHERE project = ? AND idempotency_key = ?", (project, key)
        )

    def row(self, job_id: str) -> sqlite3.Row:
        row = self.db.one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            raise _missing(job_id)
        return row

    def get(self, project: str, job_id: str) -> sqlite3.Row:
        """The job, or 404 when unknown or another project's (the same answer for both)."""
        row = self.row(job_id)
        if row["project"] != project:
            raise _missing(job_id)
        return row

    def page(
        self, project: str, after: str | None, limit: int, metadata: dict[str, str] | None
    ) -> tuple[list[sqlite3.Row], bool]:
        """Newest first; `metadata` keeps jobs whose metadata has every given pair."""
        sql, params = "SELECT * FROM jobs WHERE project = ?", [project]
        if after is not None:
            anchor = self.get(project, after)
            sql += " AND (created_ns < ? OR (created_ns = ? AND id < ?))"
            params += [anchor["created_ns"], anchor["created_ns"], anchor["id"]]
        sql += " ORDER BY created_ns DESC, id DESC"
        if not metadata:
            rows = self.db.all(sql + " LIMIT ?", (*params, limit + 1))
        else:
            # Filtered here, not in SQL: user-chosen keys never become part of a JSON path.
            wanted = metadata.items()
            rows = [
                row
                for row in self.db.all(sql, tuple(params))
                if wanted <= (loads(row["metadata"]) or {}).items()
            ][: limit + 1]
        return rows[:limit], len(rows) > limit

    def move(
        self, job_id: str, sources: set[str] | frozenset[str], target: str, **fields: Any
    ) -> bool:
        """Compare-and-set: `status := target` only if the status is one of `sources`."""
        states.check_move(sources, target)
        sets = ", ".join(["status = ?", *(f"{key} = ?" for key in fields)])
        values = [target, *(self._encode(key, value) for key, value in fields.items())]
        marks = ", ".join("?" for _ in sources)
        with self.db.tx() as conn:
            cursor = conn.execute(
                f"UPDATE jobs SET {sets} WHERE id = ? AND status IN ({marks})",
                (*values, job_id, *sorted(sources)),
            )
        return cursor.rowcount == 1

    def update(self, job_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{key} = ?" for key in fields)
        values = [self._encode(key, value) for key, value in fields.items()]
        with self.db.tx() as conn:
            conn.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*values, job_id))

    def _encode(self, key: str, value: Any) -> Any:
        """A column's stored form: JSON text, or a model path relative to the home."""
        if key == "fine_tuned_model_path" and value is not None:
            return stored(self.db.home, value)
        return _encode(key, value)

    def act(self, project: str, job_id: str, action: str) -> sqlite3.Row:
        """cancel / pause / resume, as the API asks: a 400 when the state does not allow it."""
        row = self.get(project, job_id)
        target = states.check_action(action, job_id, row["status"])
        extra: dict[str, Any] = {"finished_at": int(time.time())} if target == "cancelled" else {}
        if not self.move(job_id, {row["status"]}, target, **extra):
            return self.act(project, job_id, action)  # lost a race: judge the new state
        return self.row(job_id)


def _missing(job_id: str) -> NotFoundError:
    return NotFoundError(f"No such fine-tuning job: {job_id}", param="fine_tuning_job_id")


_JSON_COLUMNS = {"method", "metadata", "integrations", "error", "resolved", "settings"}


def _encode(key: str, value: Any) -> Any:
    return dumps(value) if key in _JSON_COLUMNS else value


def job_object(row: sqlite3.Row) -> dict[str, Any]:
    """OpenAI's `FineTuningJob` for a row."""
    method = loads(row["method"])
    given = method["reinforcement"].get("hyperparameters") or {}
    hyper = echo_hyperparameters(given, loads(row["resolved"]))
    method["reinforcement"]["hyperparameters"] = hyper
    method["reinforcement"].setdefault("response_format", None)
    return {
        "id": row["id"],
        "object": "fine_tuning.job",
        "created_at": row["created_ns"] // 10**9,
        "error": loads(row["error"]),
        "fine_tuned_model": row["fine_tuned_model"],
        "finished_at": row["finished_at"],
        # Only "returned for supervised jobs", yet required by the SDK type (spec §11.10).
        "hyperparameters": {
            key: hyper[key] for key in ("batch_size", "learning_rate_multiplier", "n_epochs")
        },
        "model": row["model"],
        "organization_id": row["project"],
        "result_files": [],
        "status": row["status"],
        "trained_tokens": row["trained_tokens"],
        "training_file": row["training_file"],
        "validation_file": row["validation_file"],
        "seed": row["seed"],
        "estimated_finish": None,
        "integrations": loads(row["integrations"]) or [],
        "metadata": loads(row["metadata"]),
        "method": method,
        "user_provided_suffix": row["suffix"],
        "eval_id": row["eval_id"],
    }
