"""The SQLite store: pragmas, appended migrations applied once, nested transactions."""

from __future__ import annotations

from pathlib import Path

import pytest

from openrft.store.db import Database
from openrft.store.migrations import MIGRATIONS


def test_pragmas_and_migrations_once(tmp_path: Path) -> None:
    db = Database(tmp_path, check=True)
    conn = db.conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    names = [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == [migration.__name__ for migration in MIGRATIONS]
    db.close()
    again = Database(tmp_path, check=True)  # reopening applies nothing twice
    assert again.one("SELECT count(*) FROM _migrations")[0] == len(MIGRATIONS)  # type: ignore[index]
    again.close()


def test_nested_transactions_commit_or_roll_back_together(tmp_path: Path) -> None:
    db = Database(tmp_path)
    insert = (
        "INSERT INTO events (id, job_id, created_at, level, message, type) "
        "VALUES (?, 'j', 0, 'info', ?, 'message')"
    )
    with db.tx() as outer:
        outer.execute(insert, ("e1", "one"))
        with db.tx() as inner:
            assert inner is outer
            inner.execute(insert, ("e2", "two"))
    assert db.one("SELECT count(*) FROM events")[0] == 2  # type: ignore[index]
    with pytest.raises(RuntimeError), db.tx() as outer:
        with db.tx() as inner:
            inner.execute(insert, ("e3", "three"))
        raise RuntimeError("undo both")
    assert db.one("SELECT count(*) FROM events")[0] == 2  # type: ignore[index]
    db.close()
