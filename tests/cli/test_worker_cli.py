"""`openrft worker` beside `openrft serve --no-worker` on one home (SQLite): a job created
through the official SDK on the API-only server is trained by the worker process, never by
the server; SIGTERM of the worker mid-job stops its child and requeues the job at once, and
the next worker resumes it from its last checkpoint. Real processes on loopback, with the
scripted runner in the job child (`tests.server.fake_runner`). A bad setting of either
command is one line and exit code 2, before a store is opened."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.server.test_jobs import method, upload, wait_for
from tests.support.loopback import free_port, wait_healthy

ENV = {"HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore", "OPENRFT_JOB_RUNNER":
       "tests.server.fake_runner", "OPENRFT_LEASE_SECONDS": "3"}  # fmt: skip


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, **ENV, "OPENRFT_HOME": str(home), **extra}


@contextmanager
def _api(home: Path) -> Iterator[tuple[OpenAI, int]]:
    """`openrft serve --no-worker`: the SDK on it and the server's pid."""
    port = free_port()
    command = [sys.executable, "-m", "openrft.cli", "serve", "--no-worker", "--port", str(port)]
    process = subprocess.Popen(command, env=_env(home), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_healthy(port, process, bound=60)
        assert httpx.get(f"http://127.0.0.1:{port}/health").json()["worker"] == "none"
        with OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0) as sdk:
            yield sdk, process.pid
    finally:
        process.kill()
        process.wait()


def _worker(home: Path, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "openrft.cli", "worker", "--max-running", "2"]
    with open(log, "ab") as out:
        return subprocess.Popen(command, env=_env(home, **extra), stdout=out, stderr=out)


def _job(home: Path, job_id: str) -> tuple[str, int, str | None]:
    with closing(sqlite3.connect(home / "openrft.db")) as db:
        row = db.execute("SELECT status, attempt, lease_owner FROM jobs WHERE id = ?", (job_id,))
        status, attempt, owner = row.fetchone()
    return status, attempt, owner


def _pid(owner: str | None) -> int:
    """The pid in a worker's lease name (`host:pid:token`)."""
    assert owner is not None
    return int(owner.split(":")[1])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_the_worker_process_trains_what_the_api_only_server_takes(
    home: Path, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    worker = _worker(home, log, FAKE_STEPS="3")
    try:
        with _api(home) as (sdk, server_pid):
            ids = [sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
                                               method=method()).id for _ in range(2)]  # fmt: skip
            for job_id in ids:
                assert wait_for(sdk, job_id, "succeeded", "failed").status == "succeeded"
                events = [e.message for e in sdk.fine_tuning.jobs.list_events(job_id, limit=100)]
                assert events.count("Training process started (attempt 1)") == 1
                status, attempt, owner = _job(home, job_id)
                assert (status, attempt) == ("succeeded", 1)
                assert _pid(owner) == worker.pid != server_pid
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    summary = log.read_text()
    assert f":{worker.pid}:" in summary and "up to 2 job(s) at once" in summary


def test_sigterm_of_the_worker_requeues_its_job_for_the_next(home: Path, tmp_path: Path) -> None:
    steps = {"FAKE_STEPS": "6", "FAKE_STEP_SECONDS": "0.3"}
    first = _worker(home, tmp_path / "first.log", **steps)
    with _api(home) as (sdk, _):
        job_id = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
                                             method=method()).id  # fmt: skip
        deadline = time.monotonic() + 60
        while not (home / "jobs" / job_id / "step-1" / "ok").exists():
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
        assert _job(home, job_id) == ("queued", 1, None)  # at once, not after the lease
        assert "Worker stopped; job requeued to resume" in [
            event.message for event in sdk.fine_tuning.jobs.list_events(job_id, limit=100)
        ]
        second = _worker(home, tmp_path / "second.log", **steps)
        try:
            assert wait_for(sdk, job_id, "succeeded", "failed").status == "succeeded"
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=60) == 0
        status, attempt, owner = _job(home, job_id)
        assert (status, attempt, _pid(owner)) == ("succeeded", 2, second.pid)
        metrics = [event.data["step"] for event in sdk.fine_tuning.jobs.list_events(  # type: ignore[index]
            job_id, limit=100) if event.type == "metrics"]  # fmt: skip
        assert set(metrics) == set(range(1, 7))  # every step, once or (cut mid-step) twice


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["worker", "--max-running", "0"], {}, "--max-running 0: a worker runs at least 1 job"),
        (["serve", "--max-running", "-1"], {}, "--max-running -1: a worker runs at least 1 job"),
        (["worker"], {"OPENRFT_MAX_RUNNING": "two"}, "OPENRFT_MAX_RUNNING must be a whole number"),
        (["worker"], {"OPENRFT_LEASE_SECONDS": "0"}, "OPENRFT_LEASE_SECONDS must be a number of"),
        (["serve", "--no-worker"], {"OPENRFT_WORKER_GPUS": "-1"}, "OPENRFT_WORKER_GPUS must be"),
        (["worker"], {"OPENRFT_DATABASE_URL": "mysql://x/y"}, "must name a postgresql:// or"),
    ],
)
def test_a_bad_worker_setting_is_one_line_before_anything_starts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    says: str,
) -> None:
    from openrft.cli import main

    monkeypatch.setenv(
        "OMP_WAIT_POLICY", os.environ.get("OMP_WAIT_POLICY", "PASSIVE")
    )  # main sets it
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "home"
    monkeypatch.setattr(sys, "argv", ["openrft", *args, "--home", str(home)])
    with pytest.raises(SystemExit) as exited:
        main.main()
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("openrft: error: ") and says in lines[0]
    assert not home.exists()  # no store opened, nothing started
