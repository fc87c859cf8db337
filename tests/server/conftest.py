"""A live openrft server on loopback per test module, driven by the official SDK."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from openrft.server import Settings, create_app
from tests.server.fakes import FakeBackend
from tests.support.loopback import serve


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
    with serve(app, lifespan="on", stop_timeout=60) as url:
        yield Live(url, settings.home, backend, app)


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
