"""A small disk of its own for a test: a tmpfs mounted in a new mount namespace.

`small_disk(path, mib, command)` runs `command` with a `mib`-sized tmpfs at `path` that only it
and its children see: `unshare --mount` as root (as CI runs), `unshare --user --map-root-user
--mount` for any other user where user namespaces are allowed. The test reaches those files
through `/proc/PID/root` (`view`). A full disk here is the kernel's ENOSPC, not a patched write.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["fill", "small_disk", "view"]

_MOUNT = 'mount -t tmpfs -o size="$1"m tmpfs "$2" && shift 2 && exec "$@"'


def small_disk(path: Path, mib: int, command: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    path.mkdir(parents=True, exist_ok=True)
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    unshare = ["unshare", *user, "--mount", "sh", "-c", _MOUNT, "sh"]
    return subprocess.Popen([*unshare, str(mib), str(path), *command], **popen)


def view(process: subprocess.Popen[bytes], path: Path) -> Path:
    """`path` as `process` sees it (its mount namespace)."""
    return Path(f"/proc/{process.pid}/root") / path.relative_to("/")


def fill(path: Path) -> int:
    """Write zeros to `path` until the disk is full; the bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as out:
        try:
            while True:
                written += out.write(bytes(64 * 1024))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return written
