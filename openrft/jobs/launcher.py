"""What starts one attempt of a job: the worker asks a `Launcher` for a `Child` and from then
on only polls, stops and kills it. `ProcessLauncher` (the default) runs
`python -m openrft.jobs.child` on this host; a launcher that wraps the same command in
`torchrun`, or hands it to another machine, plugs in here without touching the worker.

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

    def command(self, job_id: str, attempt: int) -> list[str]:
        """The child's command line (a torchrun launcher would put `torchrun ...` in front)."""
        return [
            sys.executable, "-m", "openrft.jobs.child", job_id, str(attempt),
            str(self.home), str(os.getpid()),
        ]  # fmt: skip

    def launch(self, job_id: str, attempt: int) -> subprocess.Popen[bytes]:
        workdir = self.home / "jobs" / job_id
        workdir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "OPENRFT_BASE_MODELS": render(self.base_models)}
        with open(workdir / "child.log", "ab") as log_file:
            return subprocess.Popen(
                self.command(job_id, attempt), stdout=log_file, stderr=subprocess.STDOUT, env=env
            )
