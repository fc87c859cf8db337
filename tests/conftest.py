"""Fixtures every test folder may use: the store on both of its backends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server on loopback for the whole session (started on first use)."""
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a test once per store backend: SQLite in the home, then a fresh PostgreSQL
    database named by `OPENRFT_DATABASE_URL` (which subprocesses inherit)."""
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        monkeypatch.setenv("OPENRFT_DATABASE_URL", server.database())
    else:
        monkeypatch.delenv("OPENRFT_DATABASE_URL", raising=False)
    return str(request.param)
