"""Fine-tuning jobs as the API sees them: OpenAI's `fine_tuning.job` (spec §5.4, every
required field), created once per idempotency key, another project's job a 404, and the
actions (cancel, pause, resume) checked against the job's state (`openrft.jobs.states`).

The SQL lives in `openrft.store.jobs` (`JobTable`, also the worker's queue); every status
change is its compare-and-set `move`: of two writers racing (the API pausing, the child
finishing) exactly one wins and the other sees False.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.exc import IntegrityError

from openrft.errors import NotFoundError
from openrft.jobs import states
from openrft.outbound import redact_headers
from openrft.store.db import Database, Row, loads
from openrft.store.ids import new_id
from openrft.store.jobs import JobTable
from openrft.train.spec import echo_hyperparameters

__all__ = ["JobStore", "job_object"]


class JobStore:
    def __init__(self, db: Database):
        self.db, self.table = db, JobTable(db)

    def create(
        self, project: str, fields: dict[str, Any], idempotency_key: str | None = None
    ) -> tuple[Row, bool]:
        """(the job, whether it is new). A key seen before in this project returns the job
        it created, so a client retrying a create never makes two jobs."""
        if idempotency_key is not None:
            known = self.table.by_key(project, idempotency_key)
            if known is not None:
                return known, False
        job_id = new_id("ftjob-")
        columns = {"id": job_id, "project": project, "created_ns": time.time_ns()}
        columns.update(status="validating_files", idempotency_key=idempotency_key)
        try:
            self.table.insert(columns | fields)
        except IntegrityError:
            known = self.table.by_key(project, idempotency_key) if idempotency_key else None
            if known is None:
                raise
            return known, False  # a concurrent retry with the same key won
        return self.row(job_id), True

    def row(self, job_id: str) -> Row:
        row = self.table.get(job_id)
        if row is None:
            raise _missing(job_id)
        return row

    def get(self, project: str, job_id: str) -> Row:
        """The job, or 404 when unknown or another project's (the same answer for both)."""
        row = self.row(job_id)
        if row["project"] != project:
            raise _missing(job_id)
        return row

    def page(
        self, project: str, after: str | None, limit: int, metadata: dict[str, str] | None
    ) -> tuple[list[Row], bool]:
        """Newest first; `metadata` keeps jobs whose metadata has every given pair."""
        anchor = self.get(project, after) if after is not None else None
        if not metadata:
            rows = self.table.page(project, anchor, limit + 1)
        else:
            # Filtered here, not in SQL: user-chosen keys never become part of a JSON path.
            wanted = metadata.items()
            rows = [
                row
                for row in self.table.page(project, anchor, None)
                if wanted <= (loads(row["metadata"]) or {}).items()
            ][: limit + 1]
        return rows[:limit], len(rows) > limit

    def move(
        self, job_id: str, sources: set[str] | frozenset[str], target: str, **fields: Any
    ) -> bool:
        """Compare-and-set: `status := target` only if the status is one of `sources`."""
        states.check_move(sources, target)
        return self.table.move(job_id, sources, target, **fields)

    def update(self, job_id: str, **fields: Any) -> None:
        self.table.update(job_id, **fields)

    def act(self, project: str, job_id: str, action: str) -> Row:
        """cancel / pause / resume, as the API asks: a 400 when the state does not allow it."""
        row = self.get(project, job_id)
        target = states.check_action(action, job_id, row["status"])
        extra: dict[str, Any] = {"finished_at": int(time.time())} if target == "cancelled" else {}
        if not self.move(job_id, {row["status"]}, target, **extra):
            return self.act(project, job_id, action)  # lost a race: judge the new state
        return self.row(job_id)


def _missing(job_id: str) -> NotFoundError:
    return NotFoundError(f"No such fine-tuning job: {job_id}", param="fine_tuning_job_id")


def job_object(row: Row) -> dict[str, Any]:
    """OpenAI's `FineTuningJob` for a row."""
    method = redact_headers(loads(row["method"]))  # header values are secrets
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
