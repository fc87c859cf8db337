"""What a sandbox is given: its resource limits and the interpreter it runs graders on."""

from __future__ import annotations

import sys
from dataclasses import dataclass

MIB = 1 << 20


@dataclass(frozen=True)
class SandboxLimits:
    """Per-slot resource limits; the defaults are OpenAI's (2 GiB memory, 1 GiB disk, 2 CPUs)."""

    memory_mb: int = 2048
    tmp_mb: int = 1024
    pids: int = 64
    cpus: float = 2.0
    nofile: int = 256

    @property
    def cgroup_bytes(self) -> int:
        return (self.memory_mb + self.tmp_mb) * MIB  # tmpfs pages are charged here (trap 11)

    @property
    def address_space_bytes(self) -> int:
        return (self.memory_mb + 1024) * MIB  # a backstop; numpy needs headroom (trap 9)


@dataclass(frozen=True)
class Runtime:
    """The interpreter graders run on, and the trees it needs, bound read-only."""

    executable: str
    trees: tuple[str, ...]

    @classmethod
    def current(cls) -> Runtime:
        return cls(sys.executable, (sys.prefix, sys.base_prefix))
