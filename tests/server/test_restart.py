"""Durable jobs across server restarts (Part D 30, 33, 36): a clean stop requeues the running job
at once; a job left `running` under a dead worker's expired lease is requeued exactly once on
the next start; either way it resumes from its last checkpoint and succeeds."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from openai import OpenAI

from openrft.server import Settings
from tests.server.conftest import live_server
from tests.server.fakes import FakeBackend
from tests.server.test_jobs import method, upload, wait_for
from tests.support.loopback import free_port, wait_healthy


def test_restart_resumes_from_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_STEPS", "8")
    monkeypatch.setenv("FAKE_STEP_SECONDS", "0.15")
    settings = Settings(home=tmp_path / "home", lease_seconds=1)
    with (
        live_server(settings, FakeBackend()) as first,
        OpenAI(base_url=first.base_url, api_key="x", max_retries=0) as sdk,
    ):
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
                                          method=method())  # fmt: skip
        wait_for(sdk, job.id, "running")
        workdir = settings.home / "jobs" / job.id
        deadline = time.monotonic() + 20
        while not (workdir / "step-2" / "ok").exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
    with closing(sqlite3.connect(settings.home / "openrft.db", isolation_level=None)) as db:
        status, attempt = db.execute("SELECT status, attempt FROM jobs").fetchone()
        assert (status, attempt) == ("queued", 1)  # the clean stop requeued it
        # Now leave it as a crashed server would: running, under a lease nobody renews.
        db.execute("UPDATE jobs SET status = 'running', lease_owner = 'dead', lease_expires_at = 0")
    with (
        live_server(settings, FakeBackend()) as second,
        OpenAI(base_url=second.base_url, api_key="x", max_retries=0) as sdk,
    ):
        done = wait_for(sdk, job.id, "succeeded", "failed")
        assert done.status == "succeeded"
        events = list(sdk.fine_tuning.jobs.list_events(job.id, limit=100))
    messages = [event.message for event in events]
    assert sum("Worker lost" in message for message in messages) == 1
    assert sum("Server stopped" in message for message in messages) == 1
    steps = [event.data["step"] for event in events if event.type == "metrics"]  # type: ignore[index]
    assert steps == list(range(8, 0, -1))
    with closing(sqlite3.connect(settings.home / "openrft.db")) as db:
        assert db.execute("SELECT attempt FROM jobs").fetchone()[0] == 2
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _children_of(job_id: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and job_id.encode() in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@contextmanager
def openrft_serve(home: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable,
        "-m",
        "openrft.cli",
        "serve",
        "--port",
        str(port),
        "--home",
        str(home),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(port, process)
        yield process
    finally:
        process.kill()
        process.wait()


def test_sigkilled_server_job_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 of `openrft serve` mid-job: its trainer child dies with it (no orphan keeps
    writing), and the next server requeues the job once and finishes it from its checkpoint."""
    for name, value in {"FAKE_STEPS": "10", "FAKE_STEP_SECONDS": "0.1",
                        "OPENRFT_LEASE_SECONDS": "1"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OPENRFT_API_KEYS", raising=False)
    home, port = tmp_path / "home", free_port()
    url = f"http://127.0.0.1:{port}/v1"
    with (
        openrft_serve(home, port) as first,
        OpenAI(base_url=url, api_key="x", max_retries=0) as sdk,
    ):
        job = sdk.fine_tuning.jobs.create(
            model="openrft-tiny", training_file=upload(sdk), method=method()
        )
        deadline = time.monotonic() + 30
        while not (home / "jobs" / job.id / "step-3" / "ok").exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.wait()
        deadline = time.monotonic() + 10
        while _children_of(job.id):
            assert time.monotonic() < deadline, "the trainer child outlived its server"
            time.sleep(0.05)
    with openrft_serve(home, port), OpenAI(base_url=url, api_key="x", max_retries=0) as sdk:
        done = wait_for(sdk, job.id, "succeeded", "failed")
        assert done.status == "succeeded"
        events = list(sdk.fine_tuning.jobs.list_events(job.id, limit=100))
    assert sum("Worker lost" in event.message for event in events) == 1
    steps = [event.data["step"] for event in events if event.type == "metrics"]  # type: ignore[index]
    assert steps == list(range(10, 0, -1))
    with closing(sqlite3.connect(home / "openrft.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
