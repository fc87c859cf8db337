"""Bringing a store's schema to the newest Alembic revision (`revisions/versions`).

Guarantees: it runs in the caller's write transaction (`Database.tx`), serialised between
processes (SQLite's `BEGIN IMMEDIATE`; on PostgreSQL a transaction-scoped advisory lock), so
of several processes opening one store at once, one migrates and the others find it done; a
failed revision leaves the schema as it was (both backends have transactional DDL). A SQLite
store made by the hand-written migrations before Alembic (`_migrations`, m001..m011) is brought
to m011 by those, then stamped at the baseline revision, which creates that same schema.
What it does not do: downgrade, or migrate anything but the schema's own tables.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect

from openrft.store import migrations

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

__all__ = ["BASELINE", "HEAD", "head", "revision", "upgrade"]

log = logging.getLogger(__name__)
BASELINE = "0001"
"""The revision equal to the schema the hand-written migrations m001..m011 made."""
HEAD = "0004"
"""The newest revision, so that opening an up-to-date store needs no Alembic import (a test
holds it equal to the revisions' head)."""
_REVISIONS = Path(__file__).parent / "revisions"
_LOCK = 0x6F7066  # the advisory lock key PostgreSQL migrations take ("opf")


@functools.cache
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(_REVISIONS))


def head() -> str:
    """The newest revision, as the revisions say."""
    newest = _script().get_current_head()
    assert newest is not None
    return newest


def revision(conn: Connection) -> str | None:
    """The store's revision (None: not under Alembic yet)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    found: str | None = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    return found


def upgrade(conn: Connection, home: Path | None = None) -> list[str]:
    """Migrate to the newest revision inside `conn`'s transaction; returns what was applied.
    `home` is where the store's files are (a revision may import what an old version kept)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOCK})")
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    current = revision(conn)
    applied = []
    if current is None and inspect(conn).has_table("_migrations"):
        applied = migrations.migrate(conn.connection.dbapi_connection)  # type: ignore[arg-type]
        MigrationContext.configure(conn).stamp(_script(), BASELINE)
        current = BASELINE
    if current == head():
        return applied
    config = Config()
    config.set_main_option("script_location", str(_REVISIONS))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = conn
    config.attributes["home"] = home
    command.upgrade(config, "head")
    newer = _script().iterate_revisions(head(), current)
    return [*applied, *reversed([script.revision for script in newer])]
