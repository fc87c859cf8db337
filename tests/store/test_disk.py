"""Telling a full disk from other write failures, and the worker's disk reserve."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest

from openrft.store.disk import Reserve, is_disk_full, no_room


def _raised_from(cause: BaseException) -> RuntimeError:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise RuntimeError("unexpected pos 1848768 vs 1848660") from inner
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    ("exc", "full"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
        (sqlite3.OperationalError("database or disk is full"), True),
        (_raised_from(OSError(errno.ENOSPC, "No space left on device")), True),
        (OSError(errno.EACCES, "Permission denied"), False),
        (sqlite3.OperationalError("database is locked"), False),
        (RuntimeError("unexpected pos 1848768 vs 1848660"), False),
    ],
)
def test_is_disk_full(exc: BaseException, full: bool) -> None:
    assert is_disk_full(exc) is full


def test_a_disk_with_room_is_not_full(tmp_path: Path) -> None:
    assert no_room(tmp_path) is False
    assert list(tmp_path.iterdir()) == []  # the probe is gone


def test_reserve_holds_and_releases_real_space(tmp_path: Path) -> None:
    reserve = Reserve(tmp_path / ".disk-reserve", size=64 * 1024)
    assert reserve.hold() and reserve.held()
    assert (tmp_path / ".disk-reserve").stat().st_blocks * 512 >= 64 * 1024  # not sparse
    assert reserve.release() is True and not reserve.held()
    assert reserve.release() is False
