"""The job worker: one thread in the server that moves jobs along, one child process per
running job (decision C4 of sandbox-and-reliability.md).

What it guarantees:
- A job runs under a lease (`lease_owner`, `lease_expires_at`) that this worker renews
  while the job's child lives. Claiming is a compare-and-set `queued → running`, so two
  workers never run one job; each claim bumps `attempt`, and a child whose attempt is no
  longer current stops (its control says cancel).
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
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from openrft.jobs.events import EventStore
from openrft.jobs.models import DEFAULT_BASE_MODELS, render
from openrft.jobs.prepare import prepare_next
from openrft.jobs.store import JobStore
from openrft.store.db import Database
from openrft.store.disk import Reserve, is_disk_full, no_room
from openrft.store.files import FileStore

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
    ):
        self.home, self.lease = home, lease
        self.base_models = dict(base_models)
        """The operator's allow-list; the child resolves a job's base model by it."""
        self.db, self.jobs, self.events = db, JobStore(db), EventStore(db)
        self.files = FileStore(home, db=db)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.max_running = max_running
        self.children: dict[str, tuple[subprocess.Popen[bytes], float]] = {}
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
        prepare_next(self.db, self.jobs, self.events, self.files, self.home)
        if time.monotonic() - self._beat > self.lease / 3:
            self._heartbeat()
            self.requeue_expired()
            self.reserve.hold()
        if len(self.children) < self.max_running:
            self._claim()

    def workdir(self, job_id: str) -> Path:
        return self.home / "jobs" / job_id

    def _claim(self) -> None:
        job = self.db.one("SELECT * FROM jobs WHERE status = 'queued' ORDER BY created_ns LIMIT 1")
        if job is None or job["id"] in self.children:
            return
        attempt = job["attempt"] + 1
        won = self.jobs.move(
            job["id"],
            {"queued"},
            "running",
            attempt=attempt,
            lease_owner=self.owner,
            lease_expires_at=time.time() + self.lease,
        )
        if won:
            self.events.add(job["id"], f"Training process started (attempt {attempt})")
            self.children[job["id"]] = (self._spawn(job["id"], attempt), 0.0)

    def _spawn(self, job_id: str, attempt: int) -> subprocess.Popen[bytes]:
        workdir = self.workdir(job_id)
        workdir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "openrft.jobs.child", job_id, str(attempt)]
        command += [str(self.home), str(os.getpid())]
        env = {**os.environ, "OPENRFT_BASE_MODELS": render(self.base_models)}
        with open(workdir / "child.log", "ab") as log_file:
            return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)

    def _reap(self) -> None:
        for job_id, (child, stop_asked) in list(self.children.items()):
            code = child.poll()
            if code is not None:
                self._after_exit(job_id, code)  # if this raises, the next tick retries it
                del self.children[job_id]
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
        job = self.jobs.row(job_id)
        if job["status"] != "running" or job["lease_owner"] != self.owner:
            return
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
        if self.jobs.move(job_id, {"running"}, "queued", lease_owner=None, lease_expires_at=None):
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
        with self.db.tx() as conn:
            conn.executemany(
                "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND lease_owner = ?",
                [(time.time() + self.lease, job_id, self.owner) for job_id in self.children],
            )

    def requeue_expired(self) -> None:
        """Jobs `running` under a lease nobody renewed: their worker died. Requeue each once."""
        expired = self.db.all(
            "SELECT id FROM jobs WHERE status = 'running' AND lease_expires_at < ?", (time.time(),)
        )
        for job in expired:
            if self.jobs.move(
                job["id"], {"running"}, "queued", lease_owner=None, lease_expires_at=None
            ):
                self.events.add(
                    job["id"],
                    "Worker lost; job requeued to resume from its checkpoint",
                    level="warn",
                )

    def sweep_finished(self) -> None:
        """Remove the temp files a killed writer left in finished jobs' dirs (half-written
        `checkpoints/step-N.tmp/`, `.tmp-*` rows). A running or paused job's are left to its
        own next start; a job finished under a minute ago may still have a child stopping."""
        done = self.db.all(
            "SELECT id FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled') "
            "AND finished_at < ?",
            (int(time.time() - 2 * STOP_GRACE),),
        )
        for job in done:
            workdir = self.workdir(job["id"])
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
            if self.jobs.move(
                job_id, {"running"}, "queued", lease_owner=None, lease_expires_at=None
            ):
                self.events.add(job_id, "Server stopped; job requeued to resume", level="warn")
        self.children.clear()
