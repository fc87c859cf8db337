"""`kill -9` of `openrft serve` while it copies an upload into `files/`: the next start removes
the half-written temp file (and any content whose record never landed), keeps every recorded
file whole, and answers as before."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from openai import OpenAI

from tests.server.test_jobs import ROWS, upload
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
