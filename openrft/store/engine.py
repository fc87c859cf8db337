"""The store's SQLAlchemy engine, built in one place from `OPENRFT_DATABASE_URL` or the home.

- No `OPENRFT_DATABASE_URL`: SQLite at `OPENRFT_HOME/openrft.db`, every connection in WAL mode
  with `synchronous=FULL` and a 10 s busy timeout; the driver's own transaction handling is off
  (`isolation_level=None`), so `BEGIN IMMEDIATE`, which `Database.tx` sends, is the only
  transaction there is (SQLAlchemy's documented recipe for pysqlite).
- `OPENRFT_DATABASE_URL=postgresql://user@host:port/db`: PostgreSQL through psycopg 3
  (`postgresql+psycopg://`), READ COMMITTED, connections checked before use (a restarted
  server does not fail the next request).
What it does not do: create the PostgreSQL database or its role (`docs/deploy.md`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import QueuePool

from openrft.errors import InvalidRequestError

__all__ = ["ENV", "create", "database_url", "normalized", "redacted", "store_exists"]

ENV = "OPENRFT_DATABASE_URL"
"""Names the store's database; unset or empty means SQLite in the home."""


def database_url(home: Path) -> str:
    """The store's URL: `OPENRFT_DATABASE_URL` (psycopg 3 as PostgreSQL's driver), else the
    home's SQLite file."""
    named = os.environ.get(ENV, "").strip()
    return normalized(named) if named else f"sqlite:///{home / 'openrft.db'}"


def store_exists(home: Path) -> bool:
    """Whether `home` has a store to read (named by `OPENRFT_DATABASE_URL`, or SQLite's file):
    readers that must not create one ask first."""
    return bool(os.environ.get(ENV, "").strip()) or (home / "openrft.db").exists()


def normalized(named: str) -> str:
    """`named` with psycopg 3 as PostgreSQL's driver; `InvalidRequestError` (with the password
    hidden) for a URL that names neither backend."""
    try:
        url = make_url(named)
    except ArgumentError:
        raise InvalidRequestError(f"{ENV} is not a database URL") from None
    if url.get_backend_name() not in ("postgresql", "sqlite"):
        raise InvalidRequestError(
            f"{ENV} must name a postgresql:// or sqlite:// database, not {redacted(named)}"
        )
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def redacted(url: str) -> str:
    """The URL with its password hidden (for logs and errors)."""
    return make_url(url).render_as_string(hide_password=True)


def create(url: str) -> Engine:
    """An engine for `url`, with the store's per-connection settings."""
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, poolclass=QueuePool, pool_size=5, max_overflow=-1,
                               connect_args={"check_same_thread": False})  # fmt: skip
        event.listen(engine, "connect", _sqlite_settings)
        return engine
    return create_engine(url, pool_size=5, max_overflow=15, pool_pre_ping=True)


def _sqlite_settings(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # no implicit BEGIN: `Database.tx` sends its own
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=10000"):
        dbapi_connection.execute(f"PRAGMA {pragma}")
