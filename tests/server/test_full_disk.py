"""A full disk under `openrft serve` (a real tmpfs, filled while a job trains): uploads, job
and eval creates answer 507 `disk_full` (docs/server.md), what was stored before stays whole,
the running job fails with `disk_full` instead of staying `running`, and once space is back
the server works again."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from openai import InternalServerError, OpenAI

from tests.server.test_jobs import ROWS, method, upload, wait_for
from tests.support.loopback import free_port, wait_healthy
from tests.support.small_disk import fill, small_disk, view

EVAL = {
    "data_source_config": {
        "type": "custom",
        "item_schema": {"type": "object", "properties": {"a": {"type": "string"}}},
    },
    "testing_criteria": [
        {
            "type": "string_check",
            "name": "s",
            "input": "{{ item.a }}",
            "reference": "x",
            "operation": "eq",
        }
    ],
}


@contextmanager
def serve_on_small_disk(home: Path, mib: int) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    command = [sys.executable, "-m", "openrft.cli", "serve", "--port", str(port)]
    process = small_disk(home, mib, [*command, "--home", str(home)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_healthy(port, process)
        yield process, f"http://127.0.0.1:{port}/v1"
    finally:
        process.kill()
        process.wait()


def _wait_until(done: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _assert_disk_full(call: Callable[[], Any]) -> None:
    with pytest.raises(InternalServerError) as info:
        call()
    error = info.value
    assert (error.status_code, error.code, error.type) == (507, "disk_full", "server_error")
    assert "No space left" in error.message


def test_full_disk_answers_disk_full_and_fails_the_running_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {"FAKE_STEPS": "400", "FAKE_STEP_SECONDS": "0.05",
                        "OPENRFT_LEASE_SECONDS": "3"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OPENRFT_API_KEYS", raising=False)
    home = tmp_path / "home"
    with (
        serve_on_small_disk(home, 12) as (server, url),
        OpenAI(base_url=url, api_key="x", max_retries=0) as sdk,
    ):
        disk = view(server, home)
        kept = upload(sdk)
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=kept,
                                          method=method())  # fmt: skip
        _wait_until(lambda: (disk / "jobs" / job.id / "step-2" / "ok").exists())
        assert fill(disk / "filler") > 0
        failed = wait_for(sdk, job.id, "failed", "succeeded", "queued")
        assert failed.status == "failed" and failed.error.code == "disk_full"
        # The worker gave up its reserve to record that; take that space too.
        fill(disk / "filler-2")

        for call in (
            lambda: upload(sdk, ROWS * 40),
            lambda: sdk.fine_tuning.jobs.create(
                model="openrft-tiny", training_file=kept, method=method()
            ),
            lambda: sdk.evals.create(**EVAL),
        ):
            _assert_disk_full(call)

        (disk / "filler").unlink()
        (disk / "filler-2").unlink()
        assert sdk.files.content(kept).content == ROWS  # nothing stored was lost
        assert [f.id for f in sdk.files.list()] == [kept]
        assert sorted(os.listdir(disk / "files")) == [kept]  # no half upload left behind
        again = upload(sdk)
        assert sdk.files.content(again).content == ROWS
        assert sdk.evals.create(**EVAL).id.startswith("eval")
        with closing(sqlite3.connect(disk / "openrft.db")) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
