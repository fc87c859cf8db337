"""Which sandbox this host can give python graders (spec C2), decided once per pool.

    bwrap-root      root launcher: cgroup + bwrap (no user namespace) + prlimit + setpriv to a
                    uid per slot. The full design; what CI and servers run.
    bwrap-userns    a non-root launcher: bwrap in a user namespace, rlimits instead of cgroups.
    rlimit-seccomp  no namespaces at all: rlimits + seccomp (+ a slot uid when root). No
                    filesystem isolation, so it is used only when the operator opts in.

Weaker tiers are never chosen silently: without `OPENRFT_ALLOW_WEAK_SANDBOX=1` (or
`allow_weak=True`) a host that cannot run tier 1 (as root) or tier 2 (as a user) gets
`SandboxUnavailableError` saying what to install. Nothing ever falls back to running the
grader in this process.
"""

from __future__ import annotations

import enum
import logging
import os
import shutil
import subprocess

from openrft.errors import SandboxUnavailableError
from openrft.sandbox import cgroup

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "python graders need bubblewrap (`apt-get install bubblewrap`, or run "
    "scripts/install-system-deps.sh) plus util-linux's prlimit and setpriv, and either root "
    "with writable memory and pids cgroups or unprivileged user namespaces"
)
WEAK_HINT = (
    "set OPENRFT_ALLOW_WEAK_SANDBOX=1 to accept the weaker rlimit+seccomp tier "
    "(no filesystem or network namespace)"
)


class Tier(enum.StrEnum):
    BWRAP_ROOT = "bwrap-root"
    BWRAP_USERNS = "bwrap-userns"
    RLIMIT_SECCOMP = "rlimit-seccomp"


def weak_allowed(allow_weak: bool | None) -> bool:
    if allow_weak is not None:
        return allow_weak
    return os.environ.get("OPENRFT_ALLOW_WEAK_SANDBOX", "") in ("1", "true", "yes")


def detect(
    *, bwrap: str = "bwrap", allow_weak: bool | None = None, tier: str | None = None
) -> Tier:
    """The strongest tier that works here (or `tier`, if given and usable)."""
    weak_ok = weak_allowed(allow_weak)
    wanted = Tier(tier or os.environ.get("OPENRFT_SANDBOX_TIER") or Tier.BWRAP_ROOT)
    problems: list[str] = []
    order = list(Tier)[list(Tier).index(wanted) :]
    for candidate in order:
        found = problem(candidate, bwrap, weak_ok)
        if found is None:
            if candidate != Tier.BWRAP_ROOT:
                log.warning("python graders run in the weaker sandbox tier %s", candidate)
            return candidate
        problems.append(f"{candidate}: {found}")
    message = f"{INSTALL_HINT}. Found: {'; '.join(problems)}."
    if not weak_ok:
        message += f" Or {WEAK_HINT}."
    raise SandboxUnavailableError(message, code="sandbox_unavailable")


def problem(tier: Tier, bwrap: str, weak_ok: bool) -> str | None:
    root = os.geteuid() == 0
    missing = [tool for tool in ("prlimit", "setpriv") if shutil.which(tool) is None]
    if tier is Tier.RLIMIT_SECCOMP:
        if not weak_ok:
            return "not allowed without OPENRFT_ALLOW_WEAK_SANDBOX=1"
        return _seccomp_problem() or (f"{missing[0]} not found" if missing else None)
    if shutil.which(bwrap) is None:
        return f"bwrap not found ({bwrap})"
    if missing:
        return f"{missing[0]} not found"
    if tier is Tier.BWRAP_ROOT:
        if not root:
            return "needs root"
        return None if cgroup.available() else "no writable memory+pids cgroups"
    if root and not weak_ok:
        return "as root it would keep root's file access; not allowed without opting in"
    return _probe_userns(bwrap)


def _seccomp_problem() -> str | None:
    from openrft.sandbox import seccomp

    try:
        seccomp.filter_bpf()
    except (OSError, ImportError) as exc:
        return f"cannot build a seccomp filter ({exc})"
    return None


def _probe_userns(bwrap: str) -> str | None:
    from openrft.sandbox.launcher import system_binds

    command = [bwrap, "--unshare-all", *system_binds(), "--", "/usr/bin/true"]
    try:
        done = subprocess.run(command, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap failed: {exc}"
    if done.returncode != 0:
        return f"user namespaces unavailable: {done.stderr.decode(errors='replace').strip()}"
    return None
