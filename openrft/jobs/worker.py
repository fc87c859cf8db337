"""The job worker: one thread in the server that moves jobs along, one child process per
running job (decision C4 of sandbox-and-reliability.md). The queue is the store's
(`openrft.store.jobs.JobTable`: claim, heartbeat, expired, release); what starts a child is
a `Launcher` (`openrft.jobs.launcher`; by default a process on this host).

What it guarantees:
- A job runs under a lease (`lease_owner`, `lease_expires_at`, named by its `attempt`) that
  this worker renews while the job's child lives. Claiming is exclusive (`JobTable.claim`),
  so two workers never run one job; each claim bumps `attempt`, and a child whose attempt is
  no longer current stops (its control says cancel). A lease is released (or its job failed)
  only by the attempt that holds it, so a worker that lost a lease never requeues a job
  another worker claimed since.
- A child that dies without recording an outcome (crash, kill -9, OOM) sends its job back
  to `queued`, up to `MAX_ATTEMPTS`; the trainer resumes from its last verified checkpoint.
  If the disk under the home is full then, the job fails with `disk_full` instead (a retry
  could not write either). The worker holds a small `Reserve` of disk and gives it up when
  its own write finds the disk full, so that this failure is recorded even then; until an
  exit is recorded, the child stays on the worker's books and its lease is renewed.
- On start, `running` jobs whose lease expired (their server died) are requeued. On a clean
  stop, this worker's running jobs are requeued at once, their children killed.
- Pause and cancel are DB states the child polls each step; a child that ignores them is
  killed after `STOP_GRACE` seconds.
What it does not do: schedule across hosts beyond the lease, or run more than
`max_running` jobs at once (one by default: training uses every core).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from openrft.jobs.events import EventStore
from openrft.jobs.launcher import Child, Launcher, ProcessLauncher
from openrft.jobs.models import DEFAULT_BASE_MODELS
from openrft.jobs.prepare import prepare_next
from openrft.jobs.store import JobStore
from openrft.store.db import Database
from openrft.store.disk import Reserve, is_disk_full, no_room
from openrft.store.files import FileStore
from openrft.store.jobs import JobTable

__all__ = ["MAX_ATTEMPTS", "Worker"]

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
STOP_GRACE = 30.0
_TICK = 0.1


class Worker:
    def __init__(
        self,
        home: Path,
        db: Database,
        *,
        lease: float = 30.0,
        max_running: int = 1,
        base_models: Mapping[str, str] = DEFAULT_BASE_MODELS,
        launcher: Launcher | None = None,
    ):
        self.home, self.lease = home, lease
        self.launcher = launcher or ProcessLauncher(home, base_models)
        """Starts each attempt; the default passes the operator's base-model allow-list on."""
        self.db, self.jobs, self.events = db, JobStore(db), EventStore(db)
        self.queue = JobTable(db)
        self.files = FileStore(home, db=db)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.stopping = "Server stopped"
        """Who stopped, in the event a clean stop leaves on each job it requeues."""
        self.max_running = max_running
        self.children: dict[str, tuple[Child, float]] = {}
        """Job id -> (its child, when a stop was asked or 0.0)."""
        self.attempts: dict[str, int] = {}
        """Job id -> the attempt (the lease) its child runs under."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="openrft-worker", daemon=True)
        self._beat = 0.0
        self.reserve = Reserve(home / ".disk-reserve")

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        self._guarded(self._start)
        while not self._stop.is_set():
            self._guarded(self.tick)
            self._stop.wait(_TICK)
        self._shutdown()
        self.db.close()

    def _guarded(self, step: Callable[[], None]) -> None:
        try:
            step()
        except Exception as exc:  # boundary: the worker must outlive one bad tick
            if not is_disk_full(exc):
                log.exception("job worker step failed")
            elif self.reserve.held():  # said once, when the reserve is released
                log.error("job worker: the disk is full: %s", exc)

    def _start(self) -> None:
        self.reserve.hold()
        self.requeue_expired()
        self.sweep_finished()

    def tick(self) -> None:
        self._reap()  # first: a failing step below must not keep dead children unrecorded
        prepare_next(self.db, self.jobs, self.events, self.files, self.home,
                     owner=self.owner, lease=self.lease)  # fmt: skip
        if time.monotonic() - self._beat > self.lease / 3:
            self._heartbeat()
            self.requeue_expired()
            self.reserve.hold()
        if len(self.children) < self.max_running:
            self._claim()

    def workdir(self, job_id: str) -> Path:
        return self.home / "jobs" / job_id

    def _claim(self) -> None:
        # A job resumed while its last child still stops waits for that child to exit.
        job = self.queue.claim(self.owner, self.lease, skip=self.children)
        if job is None:
            return
        job_id, attempt = job["id"], job["attempt"]
        self.events.add(job_id, f"Training process started (attempt {attempt})")
        self.attempts[job_id] = attempt
        self.children[job_id] = (self.launcher.launch(job_id, attempt), 0.0)

    def _reap(self) -> None:
        for job_id, (child, stop_asked) in list(self.children.items()):
            code = child.poll()
            if code is not None:
                self._after_exit(job_id, code)  # if this raises, the next tick retries it
                del self.children[job_id], self.attempts[job_id]
                continue
            status = self.jobs.row(job_id)["status"]
            if status != "running" and not stop_asked:
                self.children[job_id] = (child, time.monotonic())
            elif stop_asked and time.monotonic() - stop_asked > STOP_GRACE:
                log.warning("job %s did not stop within %ss; killing it", job_id, STOP_GRACE)
                child.kill()

    def _after_exit(self, job_id: str, code: int) -> None:
        """A child that left its job `running` died without an outcome: requeue or fail."""
        try:
            self._settle(job_id, code, full=False)
        except Exception as exc:
            if not (is_disk_full(exc) and self.reserve.release()):
                raise
            log.error("job %s: the disk is full; released the reserve to record it", job_id)
            self._settle(job_id, code, full=True)

    def _settle(self, job_id: str, code: int, *, full: bool) -> None:
        job, attempt = self.jobs.row(job_id), self.attempts[job_id]
        if job["status"] != "running" or job["attempt"] != attempt:
            return  # the child recorded an outcome, or the job moved on without it
        if full or no_room(self.workdir(job_id)):
            message = (
                f"The training process exited ({code}) with no space left on the disk under "
                "OPENRFT_HOME; free space and create the job again"
            )
            self._fail(job_id, "disk_full", message)
            return
        if job["attempt"] >= MAX_ATTEMPTS:
            message = f"The training process died {MAX_ATTEMPTS} times (exit {code})"
            self._fail(job_id, "worker_died", message)
            return
        if self.queue.release(job_id, attempt):
            self.events.add(
                job_id, f"Training process exited ({code}); requeued to resume", level="warn"
            )

    def _fail(self, job_id: str, code: str, message: str) -> None:
        error = {"code": code, "param": None, "message": message}
        with self.db.tx():  # one transaction: on a full disk, the reserve's room is enough
            if self.jobs.move(
                job_id, {"running"}, "failed", error=error, finished_at=int(time.time())
            ):
                self.events.add(job_id, message, level="error")

    def _heartbeat(self) -> None:
        self._beat = time.monotonic()
        self.queue.heartbeat(self.owner, self.attempts, self.lease)

    def requeue_expired(self) -> None:
        """Jobs `running` under a lease nobody renewed: their worker died. Requeue each once
        (the lease as listed: one claimed again meanwhile is left to its new worker)."""
        for job in self.queue.expired():
            if job["id"] in self.children:
                continue  # ours, renewed late (a slow tick): its child still runs
            if self.queue.release(job["id"], job["attempt"]):
                self.events.add(
                    job["id"],
                    "Worker lost; job requeued to resume from its checkpoint",
                    level="warn",
                )

    def sweep_finished(self) -> None:
        """Remove the temp files a killed writer left in finished jobs' dirs (half-written
        `checkpoints/step-N.tmp/`, `.tmp-*` rows). A running or paused job's are left to its
        own next start; a job finished under a minute ago may still have a child stopping."""
        for job_id in self.queue.finished_before(time.time() - 2 * STOP_GRACE):
            workdir = self.workdir(job_id)
            for path in [*workdir.glob(".tmp-*"), *workdir.glob("checkpoints/*.tmp")]:
                log.info("removing %s, left by an interrupted write", path)
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)

    def _shutdown(self) -> None:
        for job_id, (child, _) in list(self.children.items()):
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            if self.queue.release(job_id, self.attempts[job_id]):
                self.events.add(job_id, f"{self.stopping}; job requeued to resume", level="warn")
        self.children.clear()
        self.attempts.clear()
