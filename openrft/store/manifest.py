"""A directory's manifest: the size and sha256 of every file in it, written last.

Guarantees: `seal` fsyncs every file, then writes `manifest.json` and fsyncs it and every
directory, so a directory whose manifest verifies was complete on disk before it was renamed
into place. `verify` re-reads every file the manifest lists: a missing, truncated, zero-byte or
bit-flipped file is a `CorruptCheckpoint`, whose message names the directory (`step-N`) and the
file, never where the home is (the server passes it on). Used by training's checkpoints and by
the model registry, which serves a checkpoint only once it verifies. What it does not do: find
files the manifest does not list.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openrft.errors import InvalidRequestError
from openrft.store.atomic import fsync_path, fsync_tree
from openrft.store.digest import file_sha256

__all__ = ["MANIFEST", "CorruptCheckpoint", "seal", "verify"]

MANIFEST = "manifest.json"


class CorruptCheckpoint(InvalidRequestError):
    """A checkpoint whose files do not match its manifest."""


def seal(folder: Path, step: int) -> None:
    """fsync `folder`'s files, write its manifest (for checkpoint `step`) and fsync it all."""
    fsync_tree(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    manifest = {
        "step": step,
        "files": {
            str(f.relative_to(folder)): {"size": f.stat().st_size, "sha256": file_sha256(f)}
            for f in files
        },
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
    fsync_path(folder / MANIFEST)
    fsync_path(folder)


def verify(path: Path) -> dict[str, Any]:
    """The manifest of a complete, intact checkpoint; CorruptCheckpoint otherwise."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        for name, expected in manifest["files"].items():
            file = path / name
            if file.stat().st_size != expected["size"] or file_sha256(file) != expected["sha256"]:
                raise CorruptCheckpoint(
                    f"checkpoint {path.name}: {name} does not match its manifest"
                )
    except OSError as exc:
        where = Path(exc.filename or MANIFEST).name
        raise CorruptCheckpoint(f"checkpoint {path.name}: {where}: {exc.strerror}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptCheckpoint(f"checkpoint {path.name}: unreadable manifest ({exc})") from exc
    return dict(manifest)
