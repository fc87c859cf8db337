"""Two hosts, one service: two real `openrft serve` processes, each with its own home (no disk
shared but the built tiny model, read-only) and its own worker, share only PostgreSQL
(`OPENRFT_DATABASE_URL`) and an S3 bucket (`OPENRFT_STORAGE_URL`, moto's server). Real
training on `openrft-tiny`, through the official SDK: several jobs all succeed, each trained
once by one of the two workers; a server SIGKILLed mid-job (after its first checkpoint is in
the bucket) loses its lease, and the other takes the job over from that checkpoint, with no
event twice, and serves the fine-tuned model."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from openrft.demo import task
from openrft.store.db import Database
from openrft.store.jobs import JobTable
from tests.support.loopback import free_port, wait_healthy
from tests.support.postgres import PostgresServer
from tests.support.s3 import CREDENTIALS, S3Server, moto_server
from tests.train.helpers import tiny_home

pytestmark = pytest.mark.slow

GRADER = json.loads((Path(task.__file__).parent / "grader.json").read_text())
LEASE = "3"  # seconds: a dead server's job is taken over ~3 s after it dies


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with moto_server() as server:
        yield server


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's home with the built `openrft-tiny` (shared with tests/train)."""
    return tiny_home(tmp_path_factory)


class Host:
    """One `openrft serve` process and its home."""

    def __init__(self, home: Path, process: subprocess.Popen[bytes], port: int):
        self.home, self.process, self.port = home, process, port
        self.sdk = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)


@contextmanager
def hosts(root: Path, tiny: Path, env: dict[str, str], *names: str) -> Iterator[list[Host]]:
    """One `openrft serve` per name, each in a home of its own, started together."""
    started: list[Host] = []
    try:
        for name in names:
            home = root / name
            home.mkdir()
            (home / "models").symlink_to(tiny / "models")  # the built base model, nothing else
            port = free_port()
            command = [sys.executable, "-m", "openrft.cli", "serve", "--port", str(port),
                       "--home", str(home)]  # fmt: skip
            with open(root / f"{name}.log", "ab") as log:
                process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
            started.append(Host(home, process, port))
        for each in started:
            wait_healthy(each.port, each.process, bound=60)
        yield started
    finally:
        for each in started:
            each.process.kill()
            each.process.wait()
            each.sdk.close()


def _env(postgres: PostgresServer, s3: S3Server) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("OPENRFT_JOB_RUNNER", "OPENRFT_API_KEYS", "OPENRFT_HOME")}  # fmt: skip
    env.update(CREDENTIALS, OPENRFT_DATABASE_URL=postgres.database(),
               OPENRFT_STORAGE_URL=f"s3://{s3.bucket}/multihost",
               OPENRFT_S3_ENDPOINT_URL=s3.endpoint, OPENRFT_LEASE_SECONDS=LEASE,
               HF_HUB_OFFLINE="1")  # fmt: skip
    return env


def _rows(count: int, seed: int) -> io.BytesIO:
    rows = task.make_rows(count, seed=seed)
    return io.BytesIO(b"".join(json.dumps(row).encode() + b"\n" for row in rows))


def _create(sdk: OpenAI, train: str, valid: str, every: int) -> str:
    """A job of one step per 4 training rows, validated (and checkpointed) every `every`."""
    hyper = {"n_epochs": 1, "batch_size": 4, "compute_multiplier": 0.25, "eval_interval": every}
    method = {
        "type": "reinforcement",
        "reinforcement": {"grader": GRADER, "hyperparameters": hyper},
    }
    job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=train,
                                      validation_file=valid, method=method)  # type: ignore[arg-type]  # fmt: skip
    return job.id


def _upload(sdk: OpenAI, rows: int, seed: int) -> str:
    return sdk.files.create(file=("rows.jsonl", _rows(rows, seed)), purpose="fine-tune").id


def _finished(sdk: OpenAI, job_ids: list[str], timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        jobs = {job_id: sdk.fine_tuning.jobs.retrieve(job_id) for job_id in job_ids}
        if all(job.status in ("succeeded", "failed", "cancelled") for job in jobs.values()):
            return jobs
        assert time.monotonic() < deadline, {job_id: job.status for job_id, job in jobs.items()}
        time.sleep(0.2)


def _events(sdk: OpenAI, job_id: str) -> list[Any]:
    return list(reversed(sdk.fine_tuning.jobs.list_events(job_id, limit=1000).data))


def _trained_once(sdk: OpenAI, job_id: str, steps: int) -> list[str]:
    """The job's messages, after checking each step's metrics and each of the trainer's
    messages are there exactly once."""
    events = _events(sdk, job_id)
    metrics = [event.data["step"] for event in events if event.type == "metrics"]
    assert metrics == list(range(1, steps + 1))
    messages = [event.message for event in events if event.type == "message"]
    for once in ("Fine-tuning job started", "Hyperparameters resolved",
                 "The job has successfully completed"):  # fmt: skip
        assert sum(message.startswith(once) for message in messages) == 1, (once, messages)
    assert any(m.startswith("Checkpoint created at step") for m in messages)
    assert len(messages) == len(set(messages)), messages  # none twice, the workers' too
    return messages


def _server_pid(owner: str) -> int:
    """The server whose worker holds a lease (`host:pid:token`)."""
    return int(owner.split(":")[1])


def test_two_servers_share_the_jobs_and_one_takes_over_a_killed_one(
    postgres: PostgresServer, s3: S3Server, tiny: Path, tmp_path: Path
) -> None:
    env = _env(postgres, s3)
    store = Database(tmp_path / "reader", url=env["OPENRFT_DATABASE_URL"])
    with hosts(tmp_path, tiny, env, "one", "two") as (one, two):
        by_pid = {one.process.pid: one, two.process.pid: two}

        # Three 2-step jobs and, created last, a 4-step one checkpointed every step, created
        # on either server. A worker trains one job at a time, oldest first: while one
        # server trains the first job, the other takes the second.
        train, valid = _upload(one.sdk, 8, seed=2), _upload(two.sdk, 4, seed=3)
        short = [_create(host_.sdk, train, valid, every=2) for host_ in (one, two, one)]
        long_id = _create(two.sdk, _upload(two.sdk, 16, seed=4), valid, every=1)

        # The server training the 4-step job is killed once step 1's checkpoint is in the
        # bucket; the other takes it over when the lease runs out, from that checkpoint.
        first = f"multihost/jobs/{long_id}/checkpoints/step-1/manifest.json"
        deadline = time.monotonic() + 240
        while first not in s3.keys(f"multihost/jobs/{long_id}/"):
            assert time.monotonic() < deadline, "no checkpoint reached the bucket"
            time.sleep(0.05)
        row = JobTable(store).get(long_id)
        assert row is not None and row["status"] == "running"
        doomed = by_pid.pop(_server_pid(row["lease_owner"]))
        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait()
        (survivor,) = by_pid.values()

        finished = _finished(survivor.sdk, [*short, long_id])
        owners = set()
        for job_id in short:  # each trained exactly once, by one attempt
            assert finished[job_id].status == "succeeded", finished[job_id].error
            _trained_once(survivor.sdk, job_id, steps=2)
            row = JobTable(store).get(job_id)
            assert row is not None and row["attempt"] == 1
            owners.add(_server_pid(row["lease_owner"]))
        assert owners == {one.process.pid, two.process.pid}  # both servers trained

        done = finished[long_id]
        assert done.status == "succeeded", done.error
        messages = _trained_once(survivor.sdk, long_id, steps=4)
        resumed = [m for m in messages if m.startswith("Resumed from step")]
        assert len(resumed) == 1 and int(resumed[0].split()[-1]) >= 1, messages
        assert sum(m.startswith("Worker lost") for m in messages) == 1
        row = JobTable(store).get(long_id)
        assert row is not None and row["attempt"] == 2
        assert _server_pid(row["lease_owner"]) == survivor.process.pid
        # The killed server's journal and child.log stay on its disk; the survivor's journal
        # starts at the checkpoint it resumed from.
        assert (doomed.home / "jobs" / long_id / "child.log").exists()
        journal = survivor.home / "jobs" / long_id / "events.jsonl"
        assert "Fine-tuning job started" not in journal.read_text()

        assert done.fine_tuned_model is not None  # served by the server that finished it
        reply = survivor.sdk.chat.completions.create(
            model=done.fine_tuned_model, messages=[{"role": "user", "content": "sort: 3 1 2"}],
            max_tokens=8,
        )  # fmt: skip
        assert reply.model == done.fine_tuned_model and reply.choices[0].message.content
    store.close()
