"""The store on both backends: the SQLite pragmas, one schema reached by Alembic (and, for a
SQLite store an earlier openrft made, by its hand-written migrations, then stamped), nested
transactions, and SQL text whose literals keep their `?` and `:`."""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from openrft.store import upgrade
from openrft.store.db import Database
from openrft.store.migrations import MIGRATIONS
from openrft.store.schema import metadata


def _schema_diff(db: Database, *, legacy: bool = False) -> list[Any]:
    """What differs between the store's tables and `schema.metadata` (Alembic's autogenerate
    comparison: tables, columns, types, nullability, indexes, unique constraints). `legacy`:
    the old migrations' `_migrations` table is left, and their primary keys were declared
    without NOT NULL (which SQLite then does not imply; openrft never writes a NULL id)."""
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    if not legacy:
        return list(diff)
    keys = {(table.name, column.name) for table in metadata.tables.values()
            for column in table.primary_key}  # fmt: skip
    return [
        d for d in diff
        if not (d[0] == "remove_table" and d[1].name == "_migrations")
        and not (isinstance(d, list) and d[0][0] == "modify_nullable" and d[0][2:4] in keys)
    ]  # fmt: skip


def test_sqlite_pragmas_on_every_connection(tmp_path: Path) -> None:
    db = Database(tmp_path, check=True)
    assert db.one("PRAGMA journal_mode")[0] == "wal"  # type: ignore[index]
    with db.tx() as conn:  # a transaction's connection, then a read's on another thread
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # type: ignore[index]
        seen: list[object] = []
        reader = threading.Thread(target=lambda: seen.append(db.one("PRAGMA synchronous")[0]))  # type: ignore[index]
        reader.start()
        reader.join(30)
    assert seen == [2]  # FULL
    db.close()


def test_a_new_store_is_at_the_newest_revision_and_matches_the_schema(
    tmp_path: Path, store_backend: str
) -> None:
    db = Database(tmp_path, check=True)
    assert db.backend == store_backend
    with db.engine.connect() as conn:
        assert upgrade.revision(conn) == upgrade.head() == upgrade.HEAD
        assert not inspect(conn).has_table("_migrations")
    assert _schema_diff(db) == []
    db.close()
    again = Database(tmp_path, check=True)  # reopening applies nothing
    assert again.one("SELECT count(*) FROM alembic_version")[0] == 1  # type: ignore[index]
    again.close()


def test_a_store_made_by_the_old_migrations_opens_stamped_with_its_rows(tmp_path: Path) -> None:
    """A SQLite store from before Alembic, part-way through the hand-written migrations (m001
    to m005, with a job): the rest run, it is stamped at the baseline, the newer revisions
    run, and its schema is the one new stores get."""
    with closing(sqlite3.connect(tmp_path / "openrft.db", isolation_level=None)) as raw:
        raw.execute("BEGIN")
        done = [migration.__name__ for migration in MIGRATIONS[:5]]
        for migration in MIGRATIONS[:5]:
            migration(raw)
        raw.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
        raw.executemany("INSERT INTO _migrations VALUES (?, 0)", [(name,) for name in done])
        raw.execute(
            "INSERT INTO jobs (id, project, created_ns, status, model, training_file, seed, "
            "method) VALUES ('ftjob-old', 'p', 1, 'succeeded', 'm', 'file-x', 0, '{}')"
        )
        raw.execute("COMMIT")
    db = Database(tmp_path, check=True)
    with db.engine.connect() as conn:
        assert upgrade.revision(conn) == upgrade.head()
    names = [row[0] for row in db.all("SELECT name FROM _migrations ORDER BY name")]
    assert names == [migration.__name__ for migration in MIGRATIONS]
    assert db.one("SELECT status FROM jobs WHERE id = ?", ("ftjob-old",))["status"] == "succeeded"  # type: ignore[index]
    assert _schema_diff(db, legacy=True) == []
    db.close()


def test_nested_transactions_commit_or_roll_back_together(
    tmp_path: Path, store_backend: str
) -> None:
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
    assert db.one("SELECT count(*) FROM events")[0] == 2  # type: ignore[index]
    with pytest.raises(RuntimeError), db.tx() as outer:
        with db.tx() as inner:
            inner.execute(insert, ("e3", "three"))
        raise RuntimeError("undo both")
    assert db.one("SELECT count(*) FROM events")[0] == 2  # type: ignore[index]
    db.close()


def test_literals_keep_their_question_marks_and_colons(tmp_path: Path, store_backend: str) -> None:
    """`?` is a parameter and `:name` is text: inside a quoted literal both are kept."""
    db = Database(tmp_path)
    with db.tx() as conn:
        conn.execute(
            "INSERT INTO events (id, job_id, created_at, level, message, type) "
            "VALUES (?, 'ft:a?b', 0, 'info', 'it''s :late?', ?)",
            ("e1", "message"),
        )
    row = db.one("SELECT job_id, message FROM events WHERE id = ? AND level = 'info'", ("e1",))
    assert row is not None and (row["job_id"], row[1]) == ("ft:a?b", "it's :late?")
    assert dict(row) == {"job_id": "ft:a?b", "message": "it's :late?"}
    db.close()


def test_revision_0003_moves_an_unfinished_job_s_secrets_file_into_the_store(
    tmp_path: Path, store_backend: str
) -> None:
    """A store at 0002 whose jobs kept their tools' header values in `jobs/<id>/secrets.json`:
    the upgrade imports those of unfinished jobs (a finished job needs them no more)."""
    db = Database(tmp_path)
    with db.tx() as conn:  # the schema as 0002 left it
        conn.execute("DROP TABLE job_secrets")
        conn.execute("DROP TABLE eval_secrets")  # 0004's
        conn.execute("ALTER TABLE eval_runs DROP COLUMN lease_owner")
        conn.execute("ALTER TABLE eval_runs DROP COLUMN lease_expires_at")
        conn.execute("UPDATE alembic_version SET version_num = '0002'")
        for job_id, status in (("ftjob-run", "running"), ("ftjob-done", "succeeded")):
            conn.execute(
                "INSERT INTO jobs (id, project, created_ns, status, model, training_file, seed, "
                "method) VALUES (?, 'p', 1, ?, 'openrft-tiny', 'file-x', 0, '{}')",
                (job_id, status),
            )
            folder = tmp_path / "jobs" / job_id
            folder.mkdir(parents=True)
            (folder / "secrets.json").write_text('{"tools": {"lookup": {"X-Key": "v"}}}')
    db.close()

    upgraded = Database(tmp_path)
    rows = upgraded.all("SELECT job_id, tools FROM job_secrets")
    assert [(row["job_id"], row["tools"]) for row in rows] == [
        ("ftjob-run", '{"lookup":{"X-Key":"v"}}')
    ]
    assert _schema_diff(upgraded) == []
    upgraded.close()


def test_revision_0004_moves_endpoint_header_values_out_of_the_rows(
    tmp_path: Path, store_backend: str
) -> None:
    """A store at 0003 whose evals and jobs hold endpoint graders' header values in plain text:
    an eval's and an unfinished job's go to `eval_secrets` / `job_secrets.graders`, a finished
    job's are masked; a job's tool values kept by 0003 stay as they were."""
    endpoint = {"type": "endpoint", "name": "e", "url": "http://127.0.0.1:9/grade",
                "headers": {"X-Functions-Key": "plain-key"}}  # fmt: skip
    multi = {"type": "multi", "graders": {"e": endpoint}, "calculate_output": "e"}
    db = Database(tmp_path)
    with db.tx() as conn:  # the schema as 0003 left it
        conn.execute("DROP TABLE eval_secrets")
        conn.execute("ALTER TABLE job_secrets DROP COLUMN graders")
        conn.execute("UPDATE alembic_version SET version_num = '0003'")
        conn.execute(
            "INSERT INTO evals VALUES ('eval_1', 'p', 1, 1, 'e', NULL, '{}', ?)",
            (json.dumps([{**endpoint, "id": "e-1"}, {"type": "string_check", "id": "s"}]),),
        )
        for job_id, status in (("ftjob-run", "running"), ("ftjob-done", "succeeded")):
            method = {"type": "reinforcement", "reinforcement": {"grader": multi}}
            conn.execute(
                "INSERT INTO jobs (id, project, created_ns, status, model, training_file, seed, "
                "method, settings) VALUES (?, 'p', 1, ?, 'openrft-tiny', 'file-x', 0, ?, ?)",
                (job_id, status, json.dumps(method), json.dumps({"eval_grader": endpoint})),
            )
        conn.execute("INSERT INTO job_secrets (job_id, tools) VALUES ('ftjob-run', '{\"t\":{}}')")
    db.close()

    upgraded = Database(tmp_path)
    everything = json.dumps([list(map(str, row)) for row in _all_rows(upgraded)])
    kept = upgraded.all("SELECT job_id, tools, graders FROM job_secrets")
    assert [(row["job_id"], row["tools"], json.loads(row["graders"])) for row in kept] == [
        ("ftjob-run", '{"t":{}}', {"grader": {"graders/e": {"X-Functions-Key": "plain-key"}},
                                   "eval_grader": {"": {"X-Functions-Key": "plain-key"}}}),
    ]  # fmt: skip
    evals = upgraded.all("SELECT eval_id, criteria FROM eval_secrets")
    assert [(row["eval_id"], json.loads(row["criteria"])) for row in evals] == [
        ("eval_1", {"0": {"X-Functions-Key": "plain-key"}})
    ]
    assert everything.count("plain-key") == 3  # the two secrets rows above, nowhere else
    criteria = json.loads(upgraded.one("SELECT criteria FROM evals")["criteria"])  # type: ignore[index]
    assert criteria[0]["headers"] == {"X-Functions-Key": "***"}
    done = upgraded.one("SELECT method, settings FROM jobs WHERE id = 'ftjob-done'")
    assert done is not None
    assert json.loads(done["method"])["reinforcement"]["grader"]["graders"]["e"]["headers"] == {
        "X-Functions-Key": "***"
    }
    assert json.loads(done["settings"])["eval_grader"]["headers"] == {"X-Functions-Key": "***"}
    assert _schema_diff(upgraded) == []
    upgraded.close()


def _all_rows(db: Database) -> list[Any]:
    """Every row of every table of the store."""
    return [
        row for table in metadata.sorted_tables for row in db.all(f"SELECT * FROM {table.name}")
    ]
