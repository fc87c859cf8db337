"""Checkpoints that survive `kill -9` (spec sandbox-and-reliability C4, Part D 30–32).

A checkpoint is written into `step-N.tmp/`, every file fsynced, then `manifest.json` (sizes
and sha256 of every file) last, then renamed to `step-N/` and the parent dir fsynced. A dir
counts only if its manifest verifies, so a crash mid-save, a truncated or bit-flipped file, or
a zero-byte one all fall back to the previous checkpoint. `*.tmp` and unverifiable dirs are
removed when the store opens. Retention (J3): the `keep_best` highest `valid_reward_mean`
(or, for a job with an `eval_grader`, `valid_eval_mean_score`) plus the newest (the one a
resume continues from, and at the end the final model unless an eval grader picks another).
With object storage (`OPENRFT_STORAGE_URL`), a sealed checkpoint is then published to the
bucket (manifest last) and retention removes it there too (manifest first); `latest()` fetches
the bucket's newest complete checkpoint when it is newer than any here (a resume on another
host). Checkpoints only in the bucket are not ranked for the final model here.
"""

from __future__ import annotations

import errno
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openrft.store.atomic import replace
from openrft.store.blob_dirs import RemoteDir, complete_steps, fetch, publish, unpublish
from openrft.store.disk import no_room
from openrft.store.manifest import CorruptCheckpoint, seal, verify

log = logging.getLogger(__name__)
STATE = "state.json"


@dataclass
class Checkpoint:
    step: int
    path: Path
    state: dict[str, Any]

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.state.get("metrics") or {})


class CheckpointStore:
    def __init__(self, root: Path, remote: RemoteDir | None = None):
        self.root = root
        self.remote = remote
        """The bucket's mirror of `root` (`openrft.store.blob_dirs`): each checkpoint is
        published there once sealed, and a resume on another host fetches the newest."""
        root.mkdir(parents=True, exist_ok=True)
        self._clean()

    def _clean(self) -> None:
        for path in self.root.iterdir():
            if path.name.endswith(".tmp"):
                shutil.rmtree(path, ignore_errors=True)

    def save(self, step: int, state: dict[str, Any], write: Callable[[Path], None]) -> Checkpoint:
        """`write(dir)` puts the weights in; state.json and the manifest are added here."""
        final, tmp = self.root / f"step-{step}", self.root / f"step-{step}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            return self._save(step, state, write, tmp, final)
        except BaseException as exc:
            # torch's zip writer reports a full disk as RuntimeError("... unexpected pos ...");
            # probe the disk before the half checkpoint's space is given back.
            full = isinstance(exc, Exception) and not isinstance(exc, OSError)
            full = full and no_room(self.root)
            shutil.rmtree(tmp, ignore_errors=True)  # e.g. a full disk: leave no half checkpoint
            if full:
                raise OSError(errno.ENOSPC, f"No space left on device ({exc})", str(tmp)) from exc
            raise

    def _save(
        self,
        step: int,
        state: dict[str, Any],
        write: Callable[[Path], None],
        tmp: Path,
        final: Path,
    ) -> Checkpoint:
        tmp.mkdir()
        write(tmp)
        (tmp / STATE).write_text(json.dumps(state, sort_keys=True))
        seal(tmp, step)
        if final.exists():  # a re-save of the same step after a crash: replace it
            shutil.rmtree(final)
        replace(tmp, final)
        if self.remote is not None:
            publish(self.remote.blobs, final, self.remote.child(final.name))
        return Checkpoint(step, final, state)

    def verified(self) -> list[Checkpoint]:
        """Every intact checkpoint, oldest first; broken ones are removed (with a warning)."""
        found = []
        for path in self.root.glob("step-*"):
            if path.name.endswith(".tmp") or not path.name[5:].isdigit():
                continue
            try:
                verify(path)
                state = json.loads((path / STATE).read_text())
            except (CorruptCheckpoint, OSError, ValueError) as exc:
                log.warning("dropping checkpoint %s: %s", path.name, exc)
                shutil.rmtree(path, ignore_errors=True)
                continue
            found.append(Checkpoint(int(path.name[5:]), path, state))
        return sorted(found, key=lambda c: c.step)

    def latest(self) -> Checkpoint | None:
        found = self.verified()
        pulled = self._pull(found[-1].step if found else -1)
        found = self.verified() if pulled else found
        return found[-1] if found else None

    def _pull(self, newest: int) -> bool:
        """Fetch the bucket's newest complete checkpoint when it is newer than `newest` (a job
        resumed on another host); a half-uploaded one has no manifest and is not seen."""
        steps = complete_steps(self.remote) if self.remote is not None else []
        if not steps or steps[-1] <= newest:
            return False
        assert self.remote is not None
        name = f"step-{steps[-1]}"
        fetch(self.remote.blobs, self.remote.child(name), self.root / name)
        log.info("fetched checkpoint %s from %s", name, self.remote.blobs.url)
        return True

    def retain(self, keep_best: int, by: str = "valid_reward_mean") -> list[Checkpoint]:
        """Delete all but the best `keep_best` by the metric `by` and the newest."""
        found = self.verified()
        if not found:
            return []
        keep = {c.step for c in ranked(found, by)[:keep_best]} | {found[-1].step}
        for checkpoint in found:
            if checkpoint.step not in keep:
                shutil.rmtree(checkpoint.path, ignore_errors=True)
                if self.remote is not None:
                    unpublish(self.remote.blobs, self.remote.child(checkpoint.path.name))
        return [c for c in found if c.step in keep]


def ranked(found: list[Checkpoint], by: str) -> list[Checkpoint]:
    """The checkpoints that have the metric `by`, best first (the newer of a tie first)."""
    scored = [c for c in found if c.metrics.get(by) is not None]
    return sorted(scored, key=lambda c: (-c.metrics[by], -c.step))
