"""A real PostgreSQL server for tests, from Debian's `postgresql` package: a cluster made by
`initdb` in a temporary folder, started by `pg_ctl` on a free loopback port and stopped (and
removed) at the end. PostgreSQL refuses to run as root, so as root the cluster belongs to
`nobody`. Durability is off (`fsync=off`): the tests check behaviour, not crash safety. Each
test gets its own database (`database()`, a `CREATE DATABASE`, about 0.1 s).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from itertools import count
from pathlib import Path
from typing import Any

import psycopg

from openrft.demo.server import free_port

__all__ = ["PostgresServer", "binaries"]

_USER = "openrft"


def binaries() -> Path:
    """The folder holding `initdb` and `pg_ctl` (Debian keeps them off PATH)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed: scripts/install-system-deps.sh adds it")
    return Path(initdb).parent


class PostgresServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="openrft-pg-"))
        self.data, self.port = self.root / "data", free_port()
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            shutil.chown(self.root, "nobody")
            self._as = {"user": "nobody", "group": "nogroup", "extra_groups": []}
        self._names = count()

    def _run(self, *args: str) -> None:
        subprocess.run([str(binaries() / args[0]), *args[1:]], check=True, cwd=self.root,
                       capture_output=True, timeout=120, **self._as)  # fmt: skip

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", _USER, "-A", "trust", "-E", "UTF8",
                  "--no-sync")  # fmt: skip
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=300")  # fmt: skip
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-o", options,
                  "-w", "-t", "60", "start")  # fmt: skip

    def url(self, database: str) -> str:
        return f"postgresql://{_USER}@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database; its URL (for `OPENRFT_DATABASE_URL`)."""
        name = f"test_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
