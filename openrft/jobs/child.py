"""The training child: `python -m openrft.jobs.child JOB_ID ATTEMPT HOME PARENT_PID`.

Runs one attempt of one job: parses the job's row once into the trainer's `JobSpec` (the
contract the route stored: `openrft.train.spec`; nothing here validates the grader again),
resolves the model's name to its weights and computes the fine-tuned model's name once,
runs `run_job` with events written to the store and a control that reads the job's status
each step (pause, cancel, or a newer attempt that superseded this one), and records the
typed `JobOutcome` it returns (checkpoints, model name, final status and the final events)
with compare-and-set moves from `running`, so a pause or cancel that landed first wins. A
crash, or a model the operator took off the allow-list, is a failed outcome recorded the same
way. It dies with its parent (PR_SET_PDEATHSIG): a dead server leaves no trainer writing.

A job whose `settings.processes` is above 1 runs under torchrun:
`python -m openrft.jobs.child --processes N JOB_ID ATTEMPT HOME PARENT_PID` is torchrun's agent
(it dies with the worker), and starts N ranks of this child (each dies with the agent). Every
rank trains its share (`openrft.train.distributed`); rank 0 records the outcome, another rank
only a failure of its own. A rank that crashes (or loses a peer) exits non-zero instead of
recording anything: torchrun stops the other ranks, and the worker requeues the job, which
resumes from its last checkpoint, as after any other dead child.

`OPENRFT_JOB_RUNNER=module` swaps the trainer for a module with the same `run_job` (tests use
a scripted one that needs no torch).
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
from openrft.jobs.record import EventsOf, record_checkpoints, record_outcome
from openrft.jobs.secrets import with_secrets
from openrft.jobs.store import JobStore
from openrft.jobs.validation_runs import ValidationRuns
from openrft.store.blob_dirs import restore
from openrft.store.db import Database, Row, loads
from openrft.store.disk import is_disk_full
from openrft.store.jobs import JobTable
from openrft.train.naming import fine_tuned_name
from openrft.train.outcome import JobOutcome, KeptCheckpoint, failed
from openrft.train.spec import JobSpec

log = logging.getLogger("openrft.jobs.child")
_PR_SET_PDEATHSIG = 1


class DbCheckpoints:
    """The trainer's `CheckpointHook`: the checkpoint rows follow the disk as it changes."""

    def __init__(self, events: EventStore, job_id: str, ft_name: str):
        self.events, self.job_id, self.ft_name = events, job_id, ft_name

    def __call__(self, kept: list[KeptCheckpoint]) -> None:
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


def _catalog(db: Database) -> ModelCatalog:
    """The server's allow-list, as the worker passed it (`OPENRFT_BASE_MODELS`)."""
    given = os.environ.get("OPENRFT_BASE_MODELS")
    return ModelCatalog(db, None if given is None else parse_base_models(given.split(",")))


def job_spec(job: Row, weights: str, ft_name: str, workdir: Path, table: JobTable) -> JobSpec:
    """The job's row as the trainer's spec, parsed once: the stored method and settings as
    the route built them, the rows `validating_files` wrote, the weights the model's name
    resolved to beside the fine-tuned model's name, and its tools' header values (kept apart
    from the job's row, in the store: `openrft.jobs.secrets`)."""
    fields = {
        "id": job["id"],
        "model": weights,
        "model_name": ft_name,
        "training_rows": read_rows(workdir / "train.jsonl"),
        "validation_rows": read_rows(workdir / "valid.jsonl"),
        "method": loads(job["method"]),
        "seed": job["seed"],
        "suffix": job["suffix"],
        "org": org_for(job["project"]),
        "project": job["project"],
        "settings": loads(job["settings"]) or {},
    }
    return with_secrets(JobSpec.model_validate(fields), table)


def run(job_id: str, attempt: int, home: Path) -> None:
    db = Database(home)
    jobs, events = JobStore(db), EventStore(db)
    job = jobs.row(job_id)
    if job["status"] != "running" or job["attempt"] != attempt:
        return  # superseded before it started
    # The job's one model name (J4): from the name the job gave, never the weights' path.
    ft_name = fine_tuned_name(job["model"], org_for(job["project"]), job["suffix"], job_id)
    try:
        weights = _catalog(db).resolve(job["project"], job["model"])
    except OpenRFTError as exc:  # e.g. the operator took the base model off the allow-list
        outcome = failed(exc.message, "model_not_found")
    else:
        outcome = _train(db, home, job, attempt, weights, ft_name)
    if _rank() != 0 and outcome.status != "failed":
        return  # rank 0 records the job's outcome
    # On a full disk this write fails too; the worker then records the exit (see worker.py).
    record_outcome(jobs, events, job_id, outcome, ft_name)


def _rank() -> int:
    """This process's torchrun rank (0 when the job runs in one process)."""
    return int(os.environ.get("RANK", "0"))


def _distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _train(
    db: Database, home: Path, job: Row, attempt: int, weights: str, ft_name: str
) -> JobOutcome:
    """The trainer's outcome, or a failed one for a crash (logged here, in child.log)."""
    workdir = home / "jobs" / job["id"]
    events = EventStore(db)
    try:
        restore(home, [workdir / "train.jsonl", workdir / "valid.jsonl"])  # another host's
        spec = job_spec(job, weights, ft_name, workdir, JobTable(db))
        hooks: dict[str, Any] = {"on_checkpoint": DbCheckpoints(events, job["id"], ft_name)}
        if job["eval_id"]:
            hooks["on_validation"] = ValidationRuns(
                EvalStore(db), job, spec.reinforcement.grader, spec.settings.eval_grader
            )
        outcome = runner_module().run_job(
            spec, workdir=workdir, home=home, events=EventsOf(events, job["id"]),
            control=DbControl(db, job["id"], attempt), **hooks,
        )  # fmt: skip
        if not isinstance(outcome, JobOutcome):
            raise TypeError(f"run_job returned {type(outcome).__name__}, not a JobOutcome")
        return outcome
    except OpenRFTError as exc:  # e.g. a tool's header values were lost
        return failed(exc.message, exc.code or "training_error")
    except Exception as exc:  # boundary: a training crash fails the job, with a reason
        log.exception("job %s failed", job["id"])
        if _distributed():  # maybe a peer's death: exit, and the worker requeues the job
            raise
        code = "disk_full" if is_disk_full(exc) else "training_error"
        return failed(f"{type(exc).__name__}: {exc}", code)


def torchrun(processes: int, job_id: str, attempt: str, home: str, parent: str) -> None:
    """torchrun's agent for one attempt: N ranks of this child on this host, each dying with
    the agent (their parent), which dies with the worker."""
    _die_with_parent(int(parent))
    from torch.distributed.run import main as torchrun_main

    torchrun_main([
        "--standalone", "--nproc-per-node", str(processes), "--max-restarts", "0",
        "-m", "openrft.jobs.child", job_id, attempt, home, str(os.getpid()),
    ])  # fmt: skip


def main(argv: list[str]) -> None:
    if argv[0] == "--processes":
        threads.prepare_environment()  # the ranks inherit it
        torchrun(int(argv[1]), *argv[2:])
        return
    job_id, attempt, home, parent = argv
    threads.prepare_environment()  # before the trainer imports torch
    _die_with_parent(int(parent))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run(job_id, int(attempt), Path(home))


if __name__ == "__main__":
    main(sys.argv[1:])
