"""A real PostgreSQL server for tests, from Debian's `postgresql` package: a cluster made by
`initdb` in a temporary folder, its `postgres` started on a free loopback port as a child that
dies with the test process (even one killed by a timeout), and stopped (and removed) at the
end. PostgreSQL refuses to run as root, so as root the cluster belongs to `nobody`. Durability
is off (`fsync=off`): the tests check behaviour, not crash safety. Each test gets its own
database (`database()`, a `CREATE DATABASE`, about 0.1 s).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time
from itertools import count
from pathlib import Path
from typing import Any

import psycopg

from openrft.demo.server import free_port

__all__ = ["PostgresServer", "binaries"]

_USER = "openrft"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before `postgres` starts: SIGQUIT (PostgreSQL's immediate shutdown) when
    the test process ends, however it ends."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGQUIT)


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
        settings = {"listen_addresses": "127.0.0.1", "unix_socket_directories": str(self.root),
                    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                    "max_connections": "300"}  # fmt: skip
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        with open(self.root / "log", "ab") as log:
            self._server = subprocess.Popen(
                [str(binaries() / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 *options], stdout=log, stderr=subprocess.STDOUT, cwd=self.root,
                preexec_fn=_die_with_parent, **self._as,
            )  # fmt: skip
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=5).close()
                return
            except psycopg.OperationalError:
                if self._server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start: see {self.root}/log") from None
                time.sleep(0.05)

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
            self._server.send_signal(signal.SIGINT)  # fast shutdown: ends the sessions left
            self._server.wait(timeout=60)
        finally:
            if self._server.poll() is None:
                self._server.kill()
                self._server.wait(timeout=60)
            shutil.rmtree(self.root, ignore_errors=True)
