"""How many CPU threads torch uses, chosen for a machine other work shares.

Torch's CPU build runs its kernels on an OpenMP pool whose threads spin while they wait for
work. When another process holds one of the cores, the spinning threads fight it for the core
they wait on. With OpenMP's passive wait policy they sleep instead.

So openrft's processes (the `openrft` command, the server and its job children):
- set `OMP_WAIT_POLICY=PASSIVE` before torch loads (`prepare_environment`), unless it is set;
- run `usable_cores()` intra-op threads: the cores this process may run on (its CPU affinity),
  capped by its cgroup's CPU quota (a container with `--cpus 2` on a 64-core host gets 2);
- and one inter-op thread (openrft never runs independent ops side by side);
- but one intra-op thread for a model under `SMALL_MODEL` parameters (`fit`): openrft-tiny's ops
  are too small to share, and waking a sleeping thread for each costs more than it saves.
`OPENRFT_THREADS=N` overrides the count; an explicit `OMP_NUM_THREADS` is respected as well.

Measured (`bench/threads.py --real`, 2 cores, one busy neighbour; SmolLM2-135M forward,
backward and 8 generated tokens on 16 rows): torch's defaults 16.4 s idle, 43.5 s busy (2.7×);
openrft's 17.1 s idle, 29.4 s busy (1.7×). openrft-tiny's step: 4.0× with torch's defaults,
1.1× on one thread (docs/training.md, "CPU threads").
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Any

from openrft.errors import InvalidRequestError

__all__ = ["ENV", "SMALL_MODEL", "configure", "fit", "prepare_environment", "usable_cores"]

ENV = "OPENRFT_THREADS"
SMALL_MODEL = 5_000_000
"""Parameters under which a model runs on one intra-op thread (unless a count is set)."""
CGROUP = Path("/sys/fs/cgroup")
_configured = False


def prepare_environment() -> None:
    """Before torch is imported (it reads these once): OpenMP threads sleep while they wait."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def usable_cores(cgroup: Path = CGROUP) -> int:
    """The cores this process may use: its affinity, capped by its cgroup's CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup)
    return max(1, min(cores, quota) if quota is not None else cores)


def _cgroup_quota(root: Path) -> int | None:
    """cgroup v2 `cpu.max` ("150000 100000" → 2) or v1 `cpu.cfs_quota_us` / `cfs_period_us`."""
    try:
        quota, _, period = (root / "cpu.max").read_text().strip().partition(" ")
        if quota != "max":
            return math.ceil(int(quota) / int(period or 100_000))
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return math.ceil(quota_us / period_us) if quota_us > 0 and period_us > 0 else None


def _explicit() -> bool:
    return any(os.environ.get(name, "").strip() for name in (ENV, "OMP_NUM_THREADS"))


def chosen_threads() -> int:
    """`OPENRFT_THREADS`, else `OMP_NUM_THREADS` when set, else `usable_cores()`."""
    for name in (ENV, "OMP_NUM_THREADS"):
        text = os.environ.get(name, "").strip()
        if not text:
            continue
        if not text.isdigit() or int(text) < 1:
            raise InvalidRequestError(f"{name} must be a whole number of threads ≥ 1, not {text!r}")
        return int(text)
    return usable_cores()


def configure() -> int:
    """Set torch's thread counts once per process (later calls only report); the intra-op
    count it set."""
    global _configured
    import torch

    if not _configured:
        torch.set_num_threads(chosen_threads())
        with contextlib.suppress(RuntimeError):  # inter-op work already ran: its pool is fixed
            torch.set_num_interop_threads(1)
        _configured = True
    return int(torch.get_num_threads())


def fit(model: Any) -> int:
    """After a load: one intra-op thread for a small model, else the chosen count (a process
    that serves several models follows the last one loaded). The count it set."""
    import torch

    configure()
    small = sum(p.numel() for p in model.parameters()) < SMALL_MODEL
    torch.set_num_threads(1 if small and not _explicit() else chosen_threads())
    return int(torch.get_num_threads())
