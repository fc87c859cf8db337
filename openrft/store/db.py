"""The SQLite store under `OPENRFT_HOME/openrft.db`: file records, jobs, events, checkpoints.

Guarantees: WAL journal with `synchronous=FULL` (an acknowledged commit survives a process
crash and, where the disk honours fsync, power loss); every write goes through `tx()`, a
`BEGIN IMMEDIATE` transaction, so a state change is a compare-and-set that two processes
cannot both win; `PRAGMA quick_check` runs when the server opens the store. One connection
per thread (sqlite3 connections are not shared across threads). Several processes (the
server and its job children) may open the same file.
What it does not do: work on network filesystems (WAL needs shared memory), or keep file
contents (those live in `files/`, see `openrft.store.files`).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from openrft.store.migrations import migrate

__all__ = ["Database", "dumps", "loads"]

log = logging.getLogger(__name__)


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class Database:
    def __init__(self, home: Path, *, check: bool = False):
        home.mkdir(parents=True, exist_ok=True)
        self.home = Path(os.path.abspath(home))
        """The state root, absolute: stored model paths are relative to it (`store.paths`)."""
        self.path = home / "openrft.db"
        self._local = threading.local()
        conn = self.conn()
        if check:
            result = conn.execute("PRAGMA quick_check").fetchone()[0]
            if result != "ok":
                raise RuntimeError(f"{self.path} failed its integrity check: {result}")
        applied = migrate(conn)
        if applied:
            log.info("store migrated: %s", ", ".join(applied))

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; commits on success, rolls back on any exception. Inside
        another `tx()` on the same thread it joins that one (several writes, one commit)."""
        conn = self.conn()
        if conn.in_transaction:
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn().execute(sql, params).fetchone()
        return row

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return list(self.conn().execute(sql, params).fetchall())

    def close(self) -> None:
        """Close this thread's connection (other threads' close when they end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
