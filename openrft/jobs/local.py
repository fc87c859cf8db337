"""`openrft train`'s jobs in the home's store, so `openrft serve` on the same `OPENRFT_HOME`
serves the `ft:` name the command printed (and lists the job, its events and checkpoints).

Guarantees: the job is the default project's (the keyless server's, org `openrft`), named as
the server names its own jobs (`fine_tuned_name`'s rule: a local model directory by its last
part, never its path); the row is written once the trainer returns, in one transaction with
its events (the job's `events.jsonl`, the trainer's exactly-once journal), then its kept
checkpoints, so a rerun (a resume) replaces what the last run recorded. A row the server
owns (another project's job, or one queued or running) is never touched.
What it does not do: record a run that died (kill, crash) before the trainer returned; the
next run of the same job file records it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from openrft.jobs.events import EventStore
from openrft.jobs.record import record_checkpoints
from openrft.store.db import Database, dumps
from openrft.store.jobs import FINISHED, JobTable
from openrft.store.paths import without_home
from openrft.train.events import read_events
from openrft.train.naming import base_model_of, model_id

__all__ = ["PROJECT", "local_model_name", "record_local_job"]

PROJECT = "default"
"""The project a keyless `openrft serve` gives every request."""


def local_model_name(spec: Any) -> str:
    """The fine-tuned model's id for a job `openrft train` runs (J4)."""
    return spec.model_name or model_id(base_model_of(spec.model), spec.org, spec.suffix, spec.id)


def record_local_job(home: Path, spec: Any, outcome: Any) -> str:
    """Record a finished `run_job` in `home`'s store; returns the model's name."""
    name = local_model_name(spec)
    db = Database(home)
    try:
        with db.tx() as conn:
            if not _upsert(JobTable(db), spec, outcome, name):
                return name
            _copy_events(conn, home, spec.id)
        record_checkpoints(EventStore(db), spec.id, name, outcome.checkpoints)
    finally:
        db.close()
    return name


def _upsert(jobs: JobTable, spec: Any, outcome: Any, name: str) -> bool:
    """Insert or update the job's row; False when the id is a server job's."""
    known = jobs.get(spec.id)
    if known is not None and (known["project"] != PROJECT or known["status"] not in FINISHED):
        return False
    succeeded = outcome.status == "succeeded" and outcome.fine_tuned_model_path
    row = {
        "status": outcome.status if outcome.status in FINISHED else "failed",
        "model": base_model_of(spec.model),
        "training_file": "openrft-train",
        "seed": spec.seed,
        "suffix": spec.suffix,
        "method": spec.method.to_json(),
        "settings": spec.settings.model_dump(mode="json"),
        "error": outcome.error,
        "resolved": outcome.resolved_hyperparameters,
        "trained_tokens": outcome.trained_tokens,
        "fine_tuned_model": name if succeeded else None,
        "fine_tuned_model_path": outcome.fine_tuned_model_path if succeeded else None,
        "finished_at": int(time.time()),
    }
    if known is None:
        jobs.insert(row | {"id": spec.id, "project": PROJECT, "created_ns": time.time_ns()})
    else:
        jobs.update(spec.id, **row)
    return True


def _copy_events(conn: Any, home: Path, job_id: str) -> None:
    """The job's events as the journal has them (each once, in order), naming no host path
    (as `EventStore.add` stores them: `openrft serve` on this home shows them to clients)."""
    conn.execute("DELETE FROM events WHERE job_id = ?", (job_id,))
    for number, event in enumerate(read_events(home / "jobs" / job_id / "events.jsonl")):
        conn.execute(
            "INSERT INTO events (id, job_id, created_at, level, message, type, data, step) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                f"ftevent-{job_id.removeprefix('ftjob-')}-{number}",
                job_id,
                event.get("created_at") or int(time.time()),
                event["level"],
                without_home(home, event["message"]),
                event["type"],
                dumps(event.get("data")),
                event.get("step"),
            ),
        )
