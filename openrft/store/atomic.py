"""Atomic writes of files and directories: a reader sees the old content or the new, whole.

Guarantees: the new content is written under a temp name in the destination's own directory
(so the rename never crosses a file system), fsynced, renamed over the destination with
`os.replace`, and then the directory is fsynced; after a crash (or a power loss, where the disk
honours fsync) the destination holds the old content or the new, never a part. A write that
fails removes its temp file or directory. A `kill -9` mid-write can leave one behind: its name
starts with a dot (`.tmp-` for files, by default), so listings skip it and sweeps can find it.

What it does not do: lock. Two writers of one file race and the last rename wins. A directory
never replaces a non-empty one: `os.replace` raises `OSError` and the new copy is dropped, which
is how two processes building the same model keep the first one's result.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

__all__ = ["atomic_dir", "atomic_file", "fsync_path", "fsync_tree", "replace"]


def fsync_path(path: Path) -> None:
    """fsync a file or a directory by its path (a directory's fsync makes its entries durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """fsync every file under `folder`, then every directory, `folder` last."""
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        fsync_path(file)
    folders = sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
    for directory in [*folders, folder]:
        fsync_path(directory)


def replace(source: Path | str, dest: Path) -> None:
    """Rename `source` (already fsynced, in `dest`'s directory) over `dest`, then fsync the
    directory so the rename itself survives a crash."""
    os.replace(source, dest)
    fsync_path(dest.parent)


@contextmanager
def atomic_file(path: Path, *, prefix: str = ".tmp-") -> Iterator[TextIO]:
    """A UTF-8 text stream (`\\n` line ends) that becomes `path`, whole, when the block ends
    without an exception; on an exception `path` is left as it was and the temp file removed."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=prefix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(dest: Path) -> Iterator[Path]:
    """A fresh empty directory beside `dest` (mode 0o755) to fill; when the block ends without
    an exception, everything in it is fsynced and it is renamed to `dest`. The temp directory
    is removed in every case, so a failed or losing write leaves nothing behind. `OSError`
    when `dest` is a non-empty directory by then: the caller decides whether that is a race it
    lost (keep the winner's) or an error."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp's 0o700 would outlive the rename
        yield tmp
        fsync_tree(tmp)
        replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
