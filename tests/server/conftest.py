"""A live openrft server on loopback per test module, driven by the official SDK."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from openrft.server import Settings, create_app
from tests.server.fakes import FakeBackend
from tests.support.loopback import free_port


@dataclass
class Live:
    url: str
    home: Path
    backend: FakeBackend
    app: Any

    @property
    def base_url(self) -> str:
        return self.url + "/v1"


@contextmanager
def live_server(settings: Settings, backend: Any) -> Iterator[Live]:
    """uvicorn in a thread with the lifespan on (the job worker and engine start with it)."""
    app = create_app(settings, backend=backend)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.01)
    try:
        yield Live(f"http://127.0.0.1:{port}", settings.home, backend, app)
    finally:
        server.should_exit = True
        thread.join(timeout=60)


@pytest.fixture(autouse=True)
def _runner(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENRFT_JOB_RUNNER", "tests.server.fake_runner")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


KEYS = {"key-a": "alpha", "key-b": "beta"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    home = tmp_path_factory.mktemp("home")
    settings = Settings(home=home, api_keys=dict(KEYS), max_upload_bytes=64 * 1024, lease_seconds=3)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENRFT_JOB_RUNNER", "tests.server.fake_runner")
        with live_server(settings, FakeBackend()) as server:
            yield server
