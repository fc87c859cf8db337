"""Slot uids: each one held by one slot on the whole host, so no two slots share a uid.

Sharing would couple them: RLIMIT_NPROC counts per uid (trap 3), and a tier-3 harness's
`kill(-1)` reaches every process of its uid. A uid is held through an flock()ed file in
/run/openrft-sandbox; the kernel drops the lock when its holder exits, however it exits, so a
crashed server never strands uids. Without root there is nothing to hold: tiers 2 and 3 then
run as the invoking user.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

SPAN = 10_000
_held: dict[int, int] = {}
"""uid -> the fd holding its lock (-1 when not root)."""


def acquire(count: int, base: int | None = None) -> list[int]:
    """`count` uids not held by any other slot, from `base` (OPENRFT_SANDBOX_UID_BASE, 61000)."""
    start = base if base is not None else int(os.environ.get("OPENRFT_SANDBOX_UID_BASE", 61000))
    uids: list[int] = []
    for uid in range(start, start + SPAN):
        if len(uids) == count:
            break
        if uid not in _held and _lock(uid):
            uids.append(uid)
    if len(uids) < count:
        release(uids)
        raise RuntimeError(f"no {count} free sandbox uids in {start}..{start + SPAN}")
    return uids


def release(uids: list[int]) -> None:
    for uid in uids:
        fd = _held.pop(uid, -1)
        if fd >= 0:
            os.close(fd)


def _lock(uid: int) -> bool:
    if os.geteuid() != 0:
        _held[uid] = -1
        return True
    path = _lock_dir() / f"uid-{uid}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _held[uid] = fd
    return True


def _lock_dir() -> Path:
    for parent in (Path("/run"), Path(tempfile.gettempdir())):
        path = parent / "openrft-sandbox"
        try:
            path.mkdir(mode=0o700, exist_ok=True)
            return path
        except OSError:
            continue
    raise RuntimeError("no directory to hold sandbox uid locks in")
