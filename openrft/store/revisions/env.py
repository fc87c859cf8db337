"""Alembic's entry point: the connection `openrft.store.upgrade` passes in, or, from the
`alembic` command line (`alembic -c openrft/store/alembic.ini ...`), the store that
`OPENRFT_DATABASE_URL` (else `OPENRFT_HOME`, default `.openrft`) names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import context

from openrft.store import engine
from openrft.store.schema import metadata


def _run(connection: Any) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():  # joins the caller's transaction when there is one
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    home = Path(os.environ.get("OPENRFT_HOME", ".openrft"))
    context.config.attributes.setdefault("home", home)
    with engine.create(engine.database_url(home)).connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # one transaction, as `Database.tx`
        _run(connection)
        connection.commit()
