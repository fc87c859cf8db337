"""What starts one attempt of a job: the worker asks a `Launcher` for a `Child` and from then
on only polls, stops and kills it. `ProcessLauncher` (the default) runs
`python -m openrft.jobs.child` on this host, under torchrun (N ranks, `--processes N`) when
the job's `settings.processes` asks for several, seeing only the GPUs its `settings.devices`
picks (`CUDA_VISIBLE_DEVICES`); a launcher that hands the same command to
another machine plugs in here without touching the worker.

Guarantees of `ProcessLauncher`: the job's folder (`OPENRFT_HOME/jobs/<id>/`) exists before
the child starts, the child's output is appended to `child.log` there, the child gets the
operator's base-model allow-list (`OPENRFT_BASE_MODELS`) and this process's pid, with which
it dies (`openrft.jobs.child`). A job's `settings.devices` are indices among the GPUs this
worker sees: with `CUDA_VISIBLE_DEVICES=4,5` set for the worker, device 0 is GPU 4, so an
operator may split a machine between workers. A count takes the lowest indices that this
launcher's live children do not hold (all of them held: the lowest, shared).
What it does not do: decide when to start, restart or stop a child (the worker does), or
record anything in the store (the child records its outcome, the worker a child's death).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from openrft.jobs.models import render
from openrft.store.db import Database, loads
from openrft.store.jobs import JobTable

__all__ = ["VISIBLE", "Child", "Launcher", "ProcessLauncher"]

VISIBLE = "CUDA_VISIBLE_DEVICES"


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
        self.held: list[tuple[subprocess.Popen[bytes], list[int]]] = []
        """Each live child that was given GPUs, with their indices (`devices`)."""

    def command(self, job_id: str, attempt: int, processes: int = 1) -> list[str]:
        """The child's command line; with several processes, the child runs torchrun's agent,
        which starts that many ranks of it (`openrft.jobs.child.torchrun`)."""
        ranks = ["--processes", str(processes)] if processes > 1 else []
        return [
            sys.executable, "-m", "openrft.jobs.child", *ranks, job_id, str(attempt),
            str(self.home), str(os.getpid()),
        ]  # fmt: skip

    def settings(self, job_id: str) -> dict[str, Any]:
        """The job's stored `settings` (checked when the job was created)."""
        db = Database(self.home)
        try:
            row = JobTable(db).get(job_id)
        finally:
            db.close()
        settings: dict[str, Any] = (loads(row["settings"]) if row is not None else None) or {}
        return settings

    def processes(self, job_id: str) -> int:
        """The job's `settings.processes`."""
        return int(self.settings(job_id).get("processes") or 1)

    def devices(self, asked: list[int] | int) -> list[int]:
        """The indices a job's `settings.devices` names: a list as it is; a count, the lowest
        indices of this host's GPUs that no live child of this launcher holds (too few free:
        the lowest, shared)."""
        if isinstance(asked, list):
            return asked
        self.held = [(child, held) for child, held in self.held if child.poll() is None]
        taken = {index for _, held in self.held for index in held}
        free = [index for index in range(self.gpus()) if index not in taken]
        return free[:asked] if len(free) >= asked else list(range(asked))

    def gpus(self) -> int:
        """The GPUs this worker sees: its `CUDA_VISIBLE_DEVICES` entries, else torch's count."""
        if VISIBLE in os.environ:
            return len(_entries(os.environ[VISIBLE]))
        import torch  # only for a job that asks for a count of GPUs

        return torch.cuda.device_count() if torch.cuda.is_available() else 0

    def visible(self, devices: list[int]) -> str:
        """`CUDA_VISIBLE_DEVICES` for a child given `devices`: through this process's own
        `CUDA_VISIBLE_DEVICES` when set (index i is its i-th entry), else the indices."""
        mine = _entries(os.environ.get(VISIBLE, ""))
        return ",".join(mine[i] if i < len(mine) else str(i) for i in devices)

    def launch(self, job_id: str, attempt: int) -> subprocess.Popen[bytes]:
        workdir = self.home / "jobs" / job_id
        workdir.mkdir(parents=True, exist_ok=True)
        settings = self.settings(job_id)
        env = {**os.environ, "OPENRFT_BASE_MODELS": render(self.base_models)}
        devices = None if settings.get("devices") is None else self.devices(settings["devices"])
        if devices is not None:
            env[VISIBLE] = self.visible(devices)
        processes = int(settings.get("processes") or 1)
        with open(workdir / "child.log", "ab") as log_file:
            command = self.command(job_id, attempt, processes)
            child = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        if devices is not None:
            self.held.append((child, devices))
        return child


def _entries(visible: str) -> list[str]:
    return [part.strip() for part in visible.split(",") if part.strip()]
