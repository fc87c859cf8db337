"""What starts one attempt of a job: the worker asks a `Launcher` for a `Child` and from then
on only polls, stops and kills it. `ProcessLauncher` (the default) runs
`python -m openrft.jobs.child` on this host, under torchrun (N ranks, `--processes N`) when
the job's `settings.processes` asks for several; a launcher that hands the same command to
another machine plugs in here without touching the worker.

Guarantees of `ProcessLauncher`: the job's folder (`OPENRFT_HOME/jobs/<id>/`) exists before
the child starts, the child's output is appended to `child.log` there, the child gets the
operator's base-model allow-list (`OPENRFT_BASE_MODELS`) and this process's pid, with which
it dies (`openrft.jobs.child`).
What it does not do: decide when to start, restart or stop a child (the worker does), or
record anything in the store (the child records its outcome, the worker a child's death).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from openrft.jobs.models import render
from openrft.store.db import Database, loads
from openrft.store.jobs import JobTable

__all__ = ["Child", "Launcher", "ProcessLauncher"]


class Child(Protocol):
    """A running attempt, as `subprocess.Popen` exposes one."""

    pid: int

    def poll(self) -> int | None:
        """The exit code once it has exited, else None."""

    def terminate(self) -> None: ...

    def kill(self) -> None: ...

    def wait(self, timeout: float | None = None) -> int:
        """The exit code; `subprocess.TimeoutExpired` when it runs past `timeout`."""


class Launcher(Protocol):
    def launch(self, job_id: str, attempt: int) -> Child:
        """Start attempt `attempt` of job `job_id` (already `running` under that attempt)."""


class ProcessLauncher:
    """One child process per attempt on this host: `python -m openrft.jobs.child`."""

    def __init__(self, home: Path, base_models: Mapping[str, str]):
        self.home, self.base_models = home, dict(base_models)

    def command(self, job_id: str, attempt: int, processes: int = 1) -> list[str]:
        """The child's command line; with several processes, the child runs torchrun's agent,
        which starts that many ranks of it (`openrft.jobs.child.torchrun`)."""
        ranks = ["--processes", str(processes)] if processes > 1 else []
        return [
            sys.executable, "-m", "openrft.jobs.child", *ranks, job_id, str(attempt),
            str(self.home), str(os.getpid()),
        ]  # fmt: skip

    def processes(self, job_id: str) -> int:
        """The job's `settings.processes` (checked when the job was created)."""
        db = Database(self.home)
        try:
            row = JobTable(db).get(job_id)
        finally:
            db.close()
        settings = (loads(row["settings"]) if row is not None else None) or {}
        return int(settings.get("processes") or 1)

    def launch(self, job_id: str, attempt: int) -> subprocess.Popen[bytes]:
        workdir = self.home / "jobs" / job_id
        workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "OPENRFT_BASE_MODELS": render(self.base_models)}
        with open(workdir / "child.log", "ab") as log_file:
            command = self.command(job_id, attempt, self.processes(job_id))
            return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
