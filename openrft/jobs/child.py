"""The training child: `python -m openrft.jobs.child JOB_ID ATTEMPT HOME PARENT_PID`.

Runs one attempt of one job through the trainer's `run_job`, with events written to the
store and a control that reads the job's status each step (pause, cancel, or a newer attempt
that superseded this one). It records the outcome itself (checkpoints, model name, final
status) with compare-and-set moves from `running`, so a pause or cancel that landed first
wins. It dies with its parent (PR_SET_PDEATHSIG): a dead server leaves no trainer writing.

`OPENRFT_JOB_RUNNER=module` swaps the trainer for a module with the same `JobSpec` and
`run_job` (tests use a scripted one that needs no torch).
"""

from __future__ import annotations

import ctypes
import importlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from openrft import threads
from openrft.errors import OpenRFTError
from openrft.evals.records import EvalStore
from openrft.jobs.events import EventStore
from openrft.jobs.models import ModelCatalog, org_for, parse_base_models
from openrft.jobs.prepare import read_rows
from openrft.jobs.record import fine_tuned_name, record_checkpoints, record_outcome
from openrft.jobs.store import JobStore
from openrft.jobs.validation_runs import ValidationRuns
from openrft.store.db import Database, loads
from openrft.store.disk import is_disk_full
from openrft.store.jobs import JobTable

log = logging.getLogger("openrft.jobs.child")
_PR_SET_PDEATHSIG = 1


class DbEvents:
    """The trainer's `EventSink`, writing `fine_tuning.job.event` rows."""

    def __init__(self, events: EventStore, job_id: str):
        self.store, self.job_id = events, job_id

    def emit(
        self,
        type: str,
        level: str,
        message: str,
        data: dict[str, Any] | None = None,
        step: int | None = None,
    ) -> None:
        self.store.add(self.job_id, message, level=level, type=type, data=data, step=step)


class DbCheckpoints:
    """The trainer's `CheckpointHook`: the checkpoint rows follow the disk as it changes."""

    def __init__(self, events: EventStore, job_id: str, ft_name: str):
        self.events, self.job_id, self.ft_name = events, job_id, ft_name

    def __call__(self, kept: list[dict[str, Any]]) -> None:
        record_checkpoints(self.events, self.job_id, self.ft_name, kept)


class DbControl:
    """The trainer's `Control`: the job's status as the API last set it."""

    def __init__(self, db: Database, job_id: str, attempt: int):
        self.db, self.job_id, self.attempt = db, job_id, attempt

    def check(self) -> str | None:
        row = JobTable(self.db).get(self.job_id)
        if row is None or row["attempt"] != self.attempt or row["status"] == "cancelled":
            return "cancel"
        # Paused, or already resumed (queued) before this attempt stopped: checkpoint and
        # stop; the next attempt continues from that checkpoint.
        if row["status"] != "running":
            return "pause"
        return None


def _die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the prctl took effect
        sys.exit(0)


def runner_module() -> Any:
    return importlib.import_module(os.environ.get("OPENRFT_JOB_RUNNER") or "openrft.train.runner")


def _spec_class(runner: Any) -> Any:
    """The runner's `JobSpec` (the trainer keeps it in `openrft.train.spec`)."""
    if hasattr(runner, "JobSpec"):
        return runner.JobSpec
    from openrft.train.spec import JobSpec

    return JobSpec


def _catalog(db: Database) -> ModelCatalog:
    """The server's allow-list, as the worker passed it (`OPENRFT_BASE_MODELS`)."""
    given = os.environ.get("OPENRFT_BASE_MODELS")
    return ModelCatalog(db, None if given is None else parse_base_models(given.split(",")))


def run(job_id: str, attempt: int, home: Path) -> None:
    db = Database(home)
    jobs, events = JobStore(db), EventStore(db)
    job = jobs.row(job_id)
    if job["status"] != "running" or job["attempt"] != attempt:
        return  # superseded before it started
    workdir = home / "jobs" / job_id
    sink = DbEvents(events, job_id)
    ft_name = fine_tuned_name(job)
    try:
        model = _catalog(db).resolve(job["project"], job["model"])
    except OpenRFTError as exc:  # e.g. the operator took the base model off the allow-list
        sink.emit("message", "error", f"Job failed: {exc.message}")
        record_outcome(jobs, events, job_id, _failed(exc.message, "model_not_found"), ft_name)
        return
    runner = runner_module()
    spec = _spec_class(runner)(
        id=job_id,
        model_name=ft_name,
        model=model,
        training_rows=read_rows(workdir / "train.jsonl"),
        validation_rows=read_rows(workdir / "valid.jsonl"),
        method=loads(job["method"]),
        seed=job["seed"],
        suffix=job["suffix"],
        org=org_for(job["project"]),
        project=job["project"],
        settings=loads(job["settings"]) or {},
    )
    hooks: dict[str, Any] = {"on_checkpoint": DbCheckpoints(events, job_id, ft_name)}
    if job["eval_id"]:
        hooks["on_validation"] = ValidationRuns(EvalStore(db), job)
    try:
        outcome = runner.run_job(
            spec, workdir=workdir, home=home, events=sink,
            control=DbControl(db, job_id, attempt), **hooks,
        )  # fmt: skip
    except Exception as exc:  # boundary: a training crash fails the job, with a reason
        log.exception("job %s failed", job_id)
        code = "disk_full" if is_disk_full(exc) else "training_error"
        outcome = _failed(f"{type(exc).__name__}: {exc}", code)
        sink.emit("message", "error", f"Job failed: {outcome.error['message']}")
    # On a full disk this write fails too; the worker then records the exit (see worker.py).
    record_outcome(jobs, events, job_id, outcome, ft_name)


def _failed(message: str, code: str) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(
        status="failed",
        error={"code": code, "message": message[:2000], "param": None},
        resolved_hyperparameters=None,
        checkpoints=None,  # unknown: the rows the trainer last reported stand
        fine_tuned_model_path=None,
        trained_tokens=None,
    )


def main(argv: list[str]) -> None:
    job_id, attempt, home, parent = argv
    threads.prepare_environment()  # before the trainer imports torch
    _die_with_parent(int(parent))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run(job_id, int(attempt), Path(home))


if __name__ == "__main__":
    main(sys.argv[1:])
