"""The worker starts attempts only through its `Launcher` (`openrft.jobs.launcher`): any
launcher whose children poll, stop and die like processes plugs in. Driven tick by tick on a
real store, with real child processes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openrft.jobs.launcher import ProcessLauncher
from openrft.jobs.worker import MAX_ATTEMPTS, Worker
from openrft.store.db import Database
from openrft.store.jobs import JobTable

GRADER = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
          "reference": "{{item.answer}}", "operation": "eq"}  # fmt: skip
ROW = '{"messages": [{"role": "user", "content": "w"}], "answer": "1"}\n'


class Recording:
    """Launches through `inner`, remembering each (job, attempt) it was asked to start."""

    def __init__(self, inner: Callable[[str, int], subprocess.Popen[bytes]]):
        self.inner, self.launched = inner, list[tuple[str, int]]()

    def launch(self, job_id: str, attempt: int) -> subprocess.Popen[bytes]:
        self.launched.append((job_id, attempt))
        return self.inner(job_id, attempt)


def queued(home: Path, db: Database, job_id: str, settings: dict[str, Any] | None = None) -> None:
    """A queued job with its rows in its workdir, as a worker finds it after validation."""
    JobTable(db).insert({
        "id": job_id, "project": "default", "created_ns": time.time_ns(), "status": "queued",
        "model": "openrft-tiny", "training_file": "file-x", "seed": 0, "settings": settings,
        "method": {"type": "reinforcement", "reinforcement": {"grader": GRADER}},
    })  # fmt: skip
    workdir = home / "jobs" / job_id
    workdir.mkdir(parents=True)
    (workdir / "train.jsonl").write_text(ROW * 4)
    (workdir / "valid.jsonl").write_text(ROW)


def _tick_until(worker: Worker, job_id: str, *statuses: str) -> str:
    deadline = time.monotonic() + 120
    while (status := worker.jobs.row(job_id)["status"]) not in statuses or worker.children:
        assert time.monotonic() < deadline, f"job stuck in {status}"
        worker.tick()
        time.sleep(0.05)
    return status


def _dies(job_id: str, attempt: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])


def test_a_job_runs_through_the_launcher_it_is_given(tmp_path: Path) -> None:
    db = Database(tmp_path)
    launcher = Recording(ProcessLauncher(tmp_path, {"openrft-tiny": "openrft-tiny"}).launch)
    worker = Worker(tmp_path, db, launcher=launcher)
    queued(tmp_path, db, "ftjob-a")
    assert _tick_until(worker, "ftjob-a", "succeeded", "failed") == "succeeded"
    assert launcher.launched == [("ftjob-a", 1)]
    assert (tmp_path / "jobs" / "ftjob-a" / "child.log").exists()


def test_children_that_die_are_relaunched_then_the_job_fails(tmp_path: Path) -> None:
    """A launcher's child that exits without recording an outcome: the worker releases the
    lease, claims the job again as the next attempt, and fails it after MAX_ATTEMPTS."""
    db = Database(tmp_path)
    launcher = Recording(_dies)
    worker = Worker(tmp_path, db, launcher=launcher)
    queued(tmp_path, db, "ftjob-a")
    assert _tick_until(worker, "ftjob-a", "failed") == "failed"
    assert launcher.launched == [("ftjob-a", n) for n in range(1, MAX_ATTEMPTS + 1)]
    job = worker.jobs.row("ftjob-a")
    assert '"code":"worker_died"' in job["error"] and job["attempt"] == MAX_ATTEMPTS
