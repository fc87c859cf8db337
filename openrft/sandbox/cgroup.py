"""One cgroup per sandbox: memory (+ /tmp, whose pages are charged here, trap 11), pids, CPU.

cgroup v1 (this machine: separate `memory`, `pids`, `cpu` hierarchies) and v2 (one unified
tree with those controllers enabled) are both handled. The pids controller is the fork-bomb
guard that also binds root (RLIMIT_NPROC does not, trap 3). A cgroup outlives the processes
in it only until `remove()`, which kills every member first: a PID namespace alone is not
trusted to have cleaned up (trap 5).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
GROUP = "openrft-sandbox"
_counter = itertools.count()


def available() -> str | None:
    """ "v1", "v2" or None when this process cannot create memory+pids cgroups."""
    if all(os.access(ROOT / c, os.W_OK) for c in ("memory", "pids")):
        return "v1"
    controllers = ROOT / "cgroup.controllers"
    if controllers.exists() and {"memory", "pids"} <= set(controllers.read_text().split()):
        return "v2" if os.access(ROOT, os.W_OK) else None
    return None


class Cgroup:
    """A leaf cgroup; `procs_files` are what a launcher writes its pid into before exec."""

    def __init__(self, version: str, memory_bytes: int, pids: int, cpus: float) -> None:
        name = f"{os.getpid()}-{next(_counter)}"
        self.version = version
        if version == "v1":
            self.dirs = [ROOT / c / GROUP / name for c in ("memory", "pids", "cpu")]
            if not os.access(ROOT / "cpu", os.W_OK):
                self.dirs.pop()
        else:
            _enable_v2_controllers()
            self.dirs = [ROOT / GROUP / name]
        for path in self.dirs:
            path.mkdir(parents=True, exist_ok=True)
        self._limit(memory_bytes, pids, cpus)

    def _limit(self, memory_bytes: int, pids: int, cpus: float) -> None:
        period = 100_000
        if self.version == "v1":
            _write(self.dirs[0] / "memory.limit_in_bytes", memory_bytes)
            _write(self.dirs[1] / "pids.max", pids)
            if len(self.dirs) > 2:
                _write(self.dirs[2] / "cpu.cfs_period_us", period)
                _write(self.dirs[2] / "cpu.cfs_quota_us", int(cpus * period))
        else:
            leaf = self.dirs[0]
            _write(leaf / "memory.max", memory_bytes)
            _write(leaf / "memory.swap.max", 0, missing_ok=True)
            _write(leaf / "pids.max", pids)
            _write(leaf / "cpu.max", f"{int(cpus * period)} {period}", missing_ok=True)

    @property
    def procs_files(self) -> list[str]:
        return [str(path / "cgroup.procs") for path in self.dirs]

    def members(self) -> set[int]:
        pids: set[int] = set()
        for path in self.dirs:
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in (path / "cgroup.procs").read_text().split())
        return pids

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer took from this cgroup so far."""
        name = "memory.oom_control" if self.version == "v1" else "memory.events"
        try:
            for line in (self.dirs[0] / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except OSError:
            pass
        return 0

    def kill_all(self, rounds: int = 200) -> bool:
        """SIGKILL every member until none is left (members may fork between reads)."""
        for _ in range(rounds):
            members = self.members()
            if not members:
                return True
            for pid in members:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.002)
        return not self.members()

    def remove(self) -> None:
        self.kill_all()
        for path in self.dirs:
            for _ in range(50):  # rmdir fails with EBUSY until the last member is reaped
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


def _write(path: Path, value: object, missing_ok: bool = False) -> None:
    try:
        path.write_text(str(value))
    except FileNotFoundError:
        if not missing_ok:
            raise


def _enable_v2_controllers() -> None:
    parent = ROOT / GROUP
    parent.mkdir(exist_ok=True)
    for path in (ROOT, parent):
        with contextlib.suppress(OSError):
            (path / "cgroup.subtree_control").write_text("+memory +pids +cpu")
