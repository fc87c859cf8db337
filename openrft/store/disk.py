"""A full disk, told apart from every other write failure (spec sandbox-and-reliability C4).

- `is_disk_full(exc)`: ENOSPC or EDQUOT from the OS, SQLITE_FULL from SQLite ("database or
  disk is full"), or PostgreSQL's `disk_full` (SQLSTATE 53100), anywhere in the exception's
  cause/context chain.
- `no_room(folder)`: whether a 1 MiB write fails there now with one of those. For libraries
  that hide the errno: torch's zip writer raises `RuntimeError("... unexpected pos ...")` on a
  full disk.
- `Reserve`: a file of zeros that the job worker holds while the disk has room and deletes
  when a write of its own finds the disk full, so that a dead job can still be marked failed.
What it does not do: watch free space, or keep other writers from taking the freed space.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from pathlib import Path

__all__ = ["RESERVE_BYTES", "Reserve", "is_disk_full", "no_room"]

log = logging.getLogger(__name__)
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_SQLITE_FULL = getattr(sqlite3, "SQLITE_FULL", 13)
_PG_DISK_FULL = "53100"
_PROBE_BYTES = 1 << 20
RESERVE_BYTES = 1 << 20


def _full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code == _SQLITE_FULL or "database or disk is full" in str(exc)
    return getattr(exc, "sqlstate", None) == _PG_DISK_FULL  # psycopg's errors carry it


def is_disk_full(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if _full(current):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def no_room(folder: Path) -> bool:
    """Whether `folder`'s disk is full now (a probe file is written, fsynced and removed)."""
    probe = folder / f".space-probe-{os.getpid()}"
    try:
        _fill(probe, _PROBE_BYTES)
    except OSError as exc:
        return exc.errno in _FULL_ERRNOS
    finally:
        probe.unlink(missing_ok=True)
    return False


def _fill(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        out.write(bytes(size))
        out.flush()
        os.fsync(out.fileno())


class Reserve:
    """`path` holds `size` bytes of disk for writes that must land when the disk is full."""

    def __init__(self, path: Path, size: int = RESERVE_BYTES):
        self.path, self.size = path, size

    def held(self) -> bool:
        try:
            return self.path.stat().st_size >= self.size
        except OSError:
            return False

    def hold(self) -> bool:
        """Take the space (if the disk has it); True when held."""
        if self.held():
            return True
        try:
            room = os.statvfs(self.path.parent)
            if room.f_bavail * room.f_frsize < 2 * self.size:
                return False  # nearly full: taking the last bytes would fail someone's write
            _fill(self.path, self.size)
        except OSError as exc:
            self.path.unlink(missing_ok=True)
            log.debug("cannot reserve %d bytes at %s: %s", self.size, self.path, exc)
            return False
        log.info("reserved %d bytes of disk at %s", self.size, self.path)
        return True

    def release(self) -> bool:
        """Give the space back; False when nothing was held."""
        held = self.held()
        self.path.unlink(missing_ok=True)
        return held
