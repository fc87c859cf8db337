"""Durable jobs across server restarts (Part D 30, 36): a clean stop requeues the running job
at once; a job left `running` under a dead worker's expired lease is requeued exactly once on
the next start; either way it resumes from its last checkpoint and succeeds."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest
from openai import OpenAI

from openrft.server import Settings
from tests.server.conftest import live_server
from tests.server.fakes import FakeBackend
from tests.server.test_jobs import method, upload, wait_for


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
