"""What only the PostgreSQL backend does: `OPENRFT_DATABASE_URL` picks it (psycopg 3 as the
driver), and a claim skips a job whose row another worker's claim holds (`SKIP LOCKED`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from openrft.errors import InvalidRequestError
from openrft.store import engine
from openrft.store.db import Database, Row
from openrft.store.jobs import JobTable
from tests.store.test_jobs import _job
from tests.support.postgres import PostgresServer


def test_the_url_names_the_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(engine.ENV, raising=False)
    assert engine.database_url(tmp_path) == f"sqlite:///{tmp_path}/openrft.db"
    monkeypatch.setenv(engine.ENV, "postgresql://team:s3cret@db.internal:5433/openrft")
    url = engine.database_url(tmp_path)
    assert url == "postgresql+psycopg://team:s3cret@db.internal:5433/openrft"
    assert engine.redacted(url) == "postgresql+psycopg://team:***@db.internal:5433/openrft"
    monkeypatch.setenv(engine.ENV, "mysql://root:s3cret@127.0.0.1/openrft")
    with pytest.raises(InvalidRequestError, match="postgresql:// or sqlite://") as refused:
        engine.database_url(tmp_path)
    assert "s3cret" not in refused.value.message
    monkeypatch.setenv(engine.ENV, "no url at all")
    with pytest.raises(InvalidRequestError, match="is not a database URL"):
        engine.database_url(tmp_path)


def test_serve_refuses_a_bad_url_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, engine.ENV: "mysql://root:s3cret@127.0.0.1/openrft"}
    done = subprocess.run([sys.executable, "-m", "openrft.cli", "serve", "--port", "0",
                           "--home", str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "OPENRFT_DATABASE_URL must name a postgresql://" in done.stderr
    assert "s3cret" not in done.stderr and not (tmp_path / "openrft.db").exists()


def test_a_claim_skips_a_job_another_claim_holds_mid_transaction(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    """While worker A's claim is uncommitted (its row locked), worker B takes the next job at
    once instead of waiting for A. B's connection gives up on a lock wait after 10 s, so a
    claim that waited would fail here rather than hang."""
    url = postgres.database()
    first = JobTable(Database(tmp_path, url=url))
    second = JobTable(Database(tmp_path, url=f"{url}?options=-c%20lock_timeout%3D10000"))
    _job(first, "ftjob-1", created_ns=1)
    _job(first, "ftjob-2", created_ns=2)
    with first.db.tx():
        a: Row | None = first.claim("A", lease=30)
        b: Row | None = second.claim("B", lease=30)
    assert (a and a["id"], b and b["id"]) == ("ftjob-1", "ftjob-2")
    assert first.get("ftjob-1")["lease_owner"] == "A"  # type: ignore[index]
    assert first.db.engine.dialect.driver == "psycopg"
    first.db.close()
    second.db.close()
