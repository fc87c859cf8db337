"""`kill -9` of `openrft serve` while it copies an upload into `files/`: the next start removes
the half-written temp file (and any content whose record never landed), keeps every recorded
file whole, and answers as before."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest
from openai import OpenAI

from openrft.server import Settings
from tests.server.conftest import live_server
from tests.server.fakes import FakeBackend
from tests.server.test_jobs import ROWS, method, upload, wait_for
from tests.server.test_restart import openrft_serve
from tests.support.loopback import free_port

BIG = 48 * 1024 * 1024


def _upload_in_background(url: str) -> threading.Thread:
    def send() -> None:
        # The server is killed under it (or it finished first).
        with (
            OpenAI(base_url=url, api_key="x", max_retries=0) as sdk,
            contextlib.suppress(Exception),
        ):
            upload(sdk, bytes(BIG))

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def _kill_mid_copy(home: Path, port: int, url: str) -> bool:
    """One try: True when the server died with a `.tmp-*` of the upload on disk."""
    with openrft_serve(home, port) as server:
        sender = _upload_in_background(url)
        while sender.is_alive():
            if any(name.startswith(".tmp-") for name in os.listdir(home / "files")):
                server.send_signal(signal.SIGKILL)
                server.wait()
                sender.join(timeout=30)
                return True
            time.sleep(0.001)
    return False


def test_kill_during_an_upload_copy_leaves_nothing_after_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENRFT_API_KEYS", raising=False)
    home, port = tmp_path / "home", free_port()
    url = f"http://127.0.0.1:{port}/v1"
    with openrft_serve(home, port), OpenAI(base_url=url, api_key="x", max_retries=0) as sdk:
        kept = upload(sdk)
    killed = sum(_kill_mid_copy(home, port, url) for _ in range(3))
    assert killed > 0
    # A record that never landed (killed between the rename and the insert) looks like this:
    (home / "files" / ("file-" + "Z" * 24)).write_bytes(ROWS)
    with openrft_serve(home, port), OpenAI(base_url=url, api_key="x", max_retries=0) as sdk:
        assert sorted(os.listdir(home / "files")) == [kept]
        assert sdk.files.content(kept).content == ROWS
        assert [f.id for f in sdk.files.list()] == [kept]


def test_finished_jobs_temp_files_are_removed_at_start(tmp_path: Path) -> None:
    """A half-written checkpoint (`step-N.tmp/`) or rows file (`.tmp-*`) that a killed writer
    left in a job's dir that finished long ago goes at the next start; a job that finished
    moments ago (its child may still be stopping) keeps them."""
    settings = Settings(home=tmp_path / "home", lease_seconds=1)
    with (
        live_server(settings, FakeBackend()) as first,
        OpenAI(base_url=first.base_url, api_key="x", max_retries=0) as sdk,
    ):
        done = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
                                           method=method())  # fmt: skip
        assert wait_for(sdk, done.id, "succeeded", "failed").status == "succeeded"
        recent = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
                                             method=method())  # fmt: skip
        assert wait_for(sdk, recent.id, "succeeded", "failed").status == "succeeded"
    left = []
    for job_id in (done.id, recent.id):
        half = settings.home / "jobs" / job_id / "checkpoints" / "step-9.tmp"
        half.mkdir(parents=True)
        (half / "optimizer.pt").write_bytes(bytes(1000))
        (settings.home / "jobs" / job_id / ".tmp-rows").write_text("{}")
        left.append({half, settings.home / "jobs" / job_id / ".tmp-rows"})
    with closing(sqlite3.connect(settings.home / "openrft.db", isolation_level=None)) as db:
        db.execute("UPDATE jobs SET finished_at = finished_at - 600 WHERE id = ?", (done.id,))
    with live_server(settings, FakeBackend()):
        deadline = time.monotonic() + 30
        while any(path.exists() for path in left[0]):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert all(path.exists() for path in left[1])
