"""The store: file records, jobs, events, checkpoints, evals and reviews, in SQLite under
`OPENRFT_HOME/openrft.db` or in the PostgreSQL database `OPENRFT_DATABASE_URL` names.

Guarantees: every write goes through `tx()`, one transaction (SQLite's `BEGIN IMMEDIATE`, which
serialises writers; PostgreSQL's READ COMMITTED), so a state change written as a compare-and-set
(`UPDATE ... WHERE status IN (...)`) is won by one of two racing writers; a commit acknowledged
is durable (SQLite: WAL with `synchronous=FULL`; PostgreSQL: its default `synchronous_commit`).
Statements are written once, portable: SQL text with `?` parameters (bound by SQLAlchemy, so
the driver's own style never shows) or SQLAlchemy Core expressions. The schema is Alembic's
(`openrft.store.upgrade`), brought up to date when a process opens the store. `PRAGMA
quick_check` runs when the server opens a SQLite store. Several processes (servers, workers,
job children) may open the same store; a thread reads through pooled connections, and inside
`tx()` through the transaction's, so it sees its own writes.
What it does not do: run SQLite on network filesystems (WAL needs shared memory), keep file
contents (`files/`, see `openrft.store.files`), or create the PostgreSQL database.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import CursorResult, Executable, TextClause, text

from openrft.store import engine, upgrade

__all__ = ["Connection", "Database", "Result", "Row", "dumps", "loads"]

log = logging.getLogger(__name__)
Params = Sequence[Any] | Mapping[str, Any]


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class Row:
    """A result row, read as `sqlite3.Row` reads: by position, by column name, or as a mapping
    (`keys()`, so `dict(row)` works)."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: Mapping[str, int], values: Sequence[Any]):
        self._names, self._values = names, tuple(values)

    def __getitem__(self, key: Any) -> Any:
        return self._values[self._names[key] if isinstance(key, str) else key]

    def keys(self) -> list[str]:
        return list(self._names)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._names, self._values, strict=True))!r})"


class Result:
    """A statement's outcome, read at once (a statement left stepping would hold its locks):
    `rowcount` for a write, the rows for a query."""

    def __init__(self, cursor: CursorResult[Any]):
        self.rowcount = cursor.rowcount
        self.rows: list[Row] = []
        if cursor.returns_rows:
            names = {name: index for index, name in enumerate(cursor.keys())}
            self.rows = [Row(names, values) for values in cursor.fetchall()]

    def fetchone(self) -> Row | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Row]:
        return self.rows

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)


# A quoted literal (kept, its colons escaped), a `?` parameter, or a bare colon (escaped, so
# that SQLAlchemy's `text()` does not read `:word` as a parameter).
_TOKENS = re.compile(r"'(?:[^']|'')*'|\?|:")


@functools.lru_cache(maxsize=1024)
def _text(sql: str) -> TextClause:
    """`sql` with its `?` parameters as SQLAlchemy's named ones, `:p0`, `:p1`, ..."""
    count = iter(range(1 << 30))

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        return f":p{next(count)}" if token == "?" else token.replace(":", "\\:")

    return text(_TOKENS.sub(swap, sql))


def _named(params: Params) -> dict[str, Any]:
    return (
        dict(params) if isinstance(params, Mapping) else {f"p{i}": v for i, v in enumerate(params)}
    )


class Connection:
    """A connection inside a `Database.tx()` transaction (or a pooled one for a read)."""

    def __init__(self, sa: sqlalchemy.Connection):
        self.sa = sa
        """The SQLAlchemy connection, for what the store modules need beyond `execute`."""

    def execute(self, sql: str | Executable, params: Params = ()) -> Result:
        statement = _text(sql) if isinstance(sql, str) else sql
        return Result(self.sa.execute(statement, _named(params)))

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        batch = [_named(params) for params in rows]
        if batch:
            self.sa.execute(_text(sql), batch)


class Database:
    def __init__(self, home: Path, *, check: bool = False, url: str | None = None):
        home.mkdir(parents=True, exist_ok=True)
        self.home = Path(os.path.abspath(home))
        """The state root, absolute: stored model paths are relative to it (`store.paths`)."""
        self.url = engine.normalized(url) if url else engine.database_url(self.home)
        self.engine = engine.create(self.url)
        weakref.finalize(self, self.engine.dispose)  # a store dropped unclosed closes its pool
        self.backend = self.engine.dialect.name
        """"sqlite" or "postgresql"."""
        self._local = threading.local()
        if check and self.backend == "sqlite":
            result = self.one("PRAGMA quick_check")
            if result is None or result[0] != "ok":
                where = engine.redacted(self.url)
                raise RuntimeError(f"{where} failed its integrity check: {result and result[0]}")
        self._upgrade()

    def _upgrade(self) -> None:
        with self.engine.connect() as conn:
            if upgrade.revision(conn) == upgrade.HEAD:
                return
        with self.tx() as tx:
            applied = upgrade.upgrade(tx.sa, self.home)
        if applied:
            log.info("store migrated: %s", ", ".join(applied))

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """A write transaction; commits on success, rolls back on any exception. Inside
        another `tx()` on the same thread it joins that one (several writes, one commit)."""
        current: Connection | None = getattr(self._local, "tx", None)
        if current is not None:
            yield current
            return
        with self.engine.connect() as sa:
            if self.backend == "sqlite":
                sa.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock now, not at the 1st write
            self._local.tx = conn = Connection(sa)
            try:
                yield conn
                sa.commit()
            except BaseException:
                sa.rollback()
                raise
            finally:
                self._local.tx = None

    @contextmanager
    def savepoint(self) -> Iterator[Connection]:
        """Writes an error undoes alone: the enclosing transaction goes on (after a failed
        statement PostgreSQL refuses every later one in its transaction; SQLite does not).
        Outside a transaction, one of its own."""
        with self.tx() as conn, conn.sa.begin_nested():
            yield conn

    def execute(self, sql: str | Executable, params: Params = ()) -> Result:
        """One statement: in this thread's transaction if it is in one, else on its own."""
        current: Connection | None = getattr(self._local, "tx", None)
        if current is not None:
            return current.execute(sql, params)
        with self.engine.connect() as sa:
            return Connection(sa).execute(sql, params)

    def one(self, sql: str | Executable, params: Params = ()) -> Row | None:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str | Executable, params: Params = ()) -> list[Row]:
        return self.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the pooled connections (a later call opens new ones)."""
        self.engine.dispose()
