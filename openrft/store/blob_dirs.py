"""Checkpoint directories on object storage (`openrft.store.blobs`): published after they are
sealed locally, fetched into a local directory where another host needs them.

Guarantees:
- `publish` uploads every file of a sealed directory and its `manifest.json` LAST, so a
  directory whose manifest is in the bucket is whole there; one without (an upload cut short)
  is never listed by `complete_steps` nor fetched. `unpublish` removes the manifest FIRST.
- `fetch` downloads into `.fetch-<name>-<pid>/` beside `dest` (one per process: every rank of
  a job fetches on its own), checks every file against the manifest
  (`openrft.store.manifest.verify`) and only then renames it to `dest`: a local copy is whole
  or absent, and a process that loses the rename keeps the winner's verified copy.
- `cached` keeps a served checkpoint under `OPENRFT_HOME/cache/checkpoints/`, keyed by its key
  and its manifest's digest, so a checkpoint re-published with other content is fetched again
  and an unchanged one never twice.
- `mirror`/`restore` do the same for single files (a job's `train.jsonl`/`valid.jsonl`).
What it does not do: evict the cache, share one download between processes, or remove the
`.fetch-*` folder of a process killed mid-download (the next fetch by that pid does).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from openrft.store.atomic import fsync_tree, replace
from openrft.store.blobs import S3Blobs, blob_store, walk
from openrft.store.manifest import MANIFEST, CorruptCheckpoint, verify
from openrft.store.paths import stored

__all__ = [
    "RemoteDir",
    "anywhere",
    "cached",
    "complete_steps",
    "fetch",
    "local_copy",
    "mirror",
    "publish",
    "remote_dir",
    "restore",
    "unpublish",
]


class RemoteDir:
    """A home directory's mirror in the bucket (e.g. a job's `checkpoints/`)."""

    def __init__(self, blobs: S3Blobs, key: str):
        self.blobs, self.key = blobs, key.strip("/")

    def child(self, name: str) -> str:
        return f"{self.key}/{name}"


def remote_dir(home: Path, folder: Path) -> RemoteDir | None:
    """`folder`'s mirror when object storage is configured and `folder` is under `home`."""
    blobs = blob_store()
    key = stored(home, folder)
    if blobs is None or Path(key).is_absolute():
        return None
    return RemoteDir(blobs, key)


def publish(blobs: S3Blobs, folder: Path, key: str) -> None:
    """Upload a sealed directory to `key/`, its manifest last."""
    for path in walk(folder):
        if path.name != MANIFEST or path.parent != folder:
            blobs.put_file(f"{key}/{path.relative_to(folder).as_posix()}", path)
    blobs.put_file(f"{key}/{MANIFEST}", folder / MANIFEST)


def unpublish(blobs: S3Blobs, key: str) -> None:
    """Remove `key/` from the bucket, its manifest first (it stops counting at once)."""
    blobs.delete(f"{key}/{MANIFEST}")
    for name in blobs.list(f"{key}/"):
        blobs.delete(name)


def complete_steps(remote: RemoteDir) -> list[int]:
    """The steps whose `step-N/manifest.json` is in the bucket, ascending."""
    steps = []
    for name in remote.blobs.list(remote.key + "/step-"):
        parts = name[len(remote.key) + 1 :].split("/")
        if len(parts) == 2 and parts[1] == MANIFEST and parts[0][5:].isdigit():
            steps.append(int(parts[0][5:]))
    return sorted(steps)


def fetch(blobs: S3Blobs, key: str, dest: Path, manifest: bytes | None = None) -> Path:
    """Download `key/` into `dest` (whole and verified, or not at all); KeyError if the bucket
    has no complete directory there, CorruptCheckpoint if its files miss their manifest."""
    manifest = manifest if manifest is not None else blobs.get_bytes(f"{key}/{MANIFEST}")
    listed = json.loads(manifest)["files"]
    tmp = dest.with_name(f".fetch-{dest.name}-{os.getpid()}")  # one per process (each rank)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for name in listed:
            target = tmp / name
            if ".." in Path(name).parts or Path(name).is_absolute():
                raise CorruptCheckpoint(f"checkpoint {dest.name}: bad file name {name!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            blobs.get_file(f"{key}/{name}", target)
        (tmp / MANIFEST).write_bytes(manifest)
        verify(tmp)
        fsync_tree(tmp)
        _place(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _place(tmp: Path, dest: Path) -> None:
    """Rename the verified copy into place; when another process (another rank) placed the
    same checkpoint first, keep theirs once it verifies."""
    try:
        replace(tmp, dest)
    except OSError:
        if not dest.is_dir():
            raise
        verify(dest)


def cached(home: Path, key: str) -> Path | None:
    """A local, verified copy of the bucket's checkpoint `key` under the home's cache, or None
    when object storage is off or the bucket has no complete checkpoint there."""
    blobs = blob_store()
    if blobs is None or Path(key).is_absolute():
        return None
    try:
        manifest = blobs.get_bytes(f"{key}/{MANIFEST}")
    except KeyError:
        return None
    name = hashlib.sha256(key.encode()).hexdigest()[:16]
    digest = hashlib.sha256(manifest).hexdigest()[:16]
    dest = home / "cache" / "checkpoints" / f"{name}-{digest}"
    if (dest / MANIFEST).is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    return fetch(blobs, key, dest, manifest)


def local_copy(home: Path, folder: Path) -> Path:
    """`folder` when it is on this disk, else the bucket's copy fetched into the cache (or
    `folder` itself, missing, when the bucket has none either)."""
    if folder.is_dir():
        return folder
    return cached(home, stored(home, folder)) or folder


def anywhere(home: Path, folder: Path) -> bool:
    """Whether `folder` is on this disk or complete in the bucket (one HEAD request)."""
    if folder.is_dir():
        return True
    blobs, key = blob_store(), stored(home, folder)
    return blobs is not None and not Path(key).is_absolute() and blobs.exists(f"{key}/{MANIFEST}")


def mirror(home: Path, paths: list[Path]) -> None:
    """Put these files of the home (a job's rows) in the bucket under the same keys, so a
    worker on another host can take the job over; nothing without a bucket."""
    blobs = blob_store()
    if blobs is None:
        return
    for path in paths:
        blobs.put_file(stored(home, path), path)


def restore(home: Path, paths: list[Path]) -> None:
    """Fetch those of `paths` this disk lacks from the bucket (each whole or absent); a file
    the bucket lacks too stays missing, for the reader to report."""
    blobs = blob_store()
    if blobs is None:
        return
    for path in paths:
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".fetch-{path.name}-{os.getpid()}")
        try:
            blobs.get_file(stored(home, path), tmp)
            replace(tmp, path)
        except KeyError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
