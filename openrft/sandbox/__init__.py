"""Isolation for python graders: untrusted `grade(sample, item)` code, never run in-process.

What it guarantees in tier 1 (`bwrap-root`, root with cgroups: CI and servers), each item
tested in tests/sandbox/:

- **Processes**: a PID, IPC, UTS, network and mount namespace per slot (bwrap, no user
  namespace); a real unprivileged uid per slot with no capabilities and no_new_privs; every
  process the sandbox made is killed after each call and when the slot goes (cgroup + PID
  namespace + `--die-with-parent`).
- **Resources**: cgroup memory (2 GiB + the 1 GiB /tmp, whose pages it is charged for) and
  pids (64); RLIMIT_AS/FSIZE/NOFILE/CORE/NPROC; RLIMIT_CPU and an alarm per call; a wall clock
  enforced twice (in the sandbox, and by the pool, which kills the whole sandbox if it must).
- **Files**: only /usr, the grader's runtime venv (its `image_tag`, see `runtimes`) and its
  base interpreter (read-only, at their own paths), the harness, /dev, /proc of its own
  namespace and a private, size-capped /tmp. No OPENRFT_HOME, not the server's venv, no other
  user's data, no socket files, no /etc beyond the loader cache. A clean environment.
- **Network**: none (empty network namespace), and seccomp makes `socket()` fail with EPERM
  for every family but AF_UNIX; ptrace, mount, unshare/clone-namespaces, bpf, io_uring,
  userfaultfd, keyrings, perf, kexec, modules and TIOCSTI also fail with EPERM.
- **Results**: one record per call on a dedicated fd; a forked child per call must exit 0
  with exactly one record; stdout is only a capped log (1 MiB per call), never parsed, so a
  model's output printed by the grader cannot forge a score.

What it does not cover: kernel bugs (a container boundary, not a VM: use gVisor/Firecracker
for hostile multi-tenant hosting); CPU time stolen within the 2-CPU quota; side channels;
a grader that scores its own author's samples as it likes (the author controls their grader).
Tier 2 (`bwrap-userns`, non-root) has no cgroups: memory and processes are bounded by rlimits
only, and the slot runs as the invoking user inside a user namespace. Tier 3
(`rlimit-seccomp`, opt-in with OPENRFT_ALLOW_WEAK_SANDBOX=1) has no filesystem or network
namespace: seccomp alone blocks the network; the grader can read what its uid can read, and
without root it runs as the server's own user.

Modules: `tiers` (what this host supports), `config` (limits, interpreter), `runtimes` (the
virtualenv per `image_tag` that graders run on), `launcher` (argv per tier), `harness` (the
in-sandbox zygote, stdlib only, one file because it is bound into the sandbox as one), `slot`
(one live sandbox), `verdict` (the strict result reader), `pool` (slots, reuse), `uids`
(host-wide slot uids), `seccomp`, `cgroup`.
"""

from openrft.sandbox.config import Runtime, SandboxLimits
from openrft.sandbox.pool import SandboxPool
from openrft.sandbox.tiers import Tier
from openrft.sandbox.verdict import Verdict

__all__ = ["Runtime", "SandboxLimits", "SandboxPool", "Tier", "Verdict"]
