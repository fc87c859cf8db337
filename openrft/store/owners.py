"""Which lease owners that share this home are still alive, without waiting out their lease.

A lease (a job's, an eval run's) is the only sign of life a process on another host can give:
its holder renews it, and a holder that stops renewing loses it when it expires. On the same
home (so the same machine) there is a sharper one: each live owner holds an exclusive `flock`
on a file of its own under `run/owners/`, and the kernel lets go of it the moment the process
ends, SIGKILL included. A file whose lock can be taken belongs to an owner that is gone. An
owner whose file is not in this home (a server on another host) is never judged here: its
lease decides. Pids are never compared, so a reused pid or another pid namespace (containers
sharing a volume) cannot make a live owner look dead.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["OwnerLocks"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class OwnerLocks:
    def __init__(self, home: Path):
        self.folder = home / "run" / "owners"
        self._held: dict[str, int] = {}

    def _path(self, owner: str) -> Path:
        return self.folder / (_UNSAFE.sub("_", owner) + ".lock")

    def hold(self, owner: str) -> None:
        """Mark `owner` (this process) alive until `let_go` or the process's end."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path(owner), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._held[owner] = fd

    def let_go(self, owner: str) -> None:
        fd = self._held.pop(owner, None)
        if fd is not None:
            with contextlib.suppress(FileNotFoundError):
                self._path(owner).unlink()
            os.close(fd)

    def gone(self, owners: Iterable[str]) -> set[str]:
        """Those of `owners` known to this home whose process has ended (their files are
        removed as they are found)."""
        found: set[str] = set()
        for owner in set(owners) - set(self._held):
            path = self._path(owner)
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue  # not an owner of this home: its lease decides
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # alive
            else:
                found.add(owner)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            finally:
                os.close(fd)
        return found
