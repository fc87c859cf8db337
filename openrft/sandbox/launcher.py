"""Start one sandboxed harness: the argv of each tier, the fds it gets, nothing else.

Tier 1 is spec A9's chain: `sh` (joins the cgroup, then execs) → `bwrap` without a user
namespace → `prlimit` → `setpriv` (drops to the slot's uid, no capabilities, no new privileges)
→ `python3 -I harness.py`. bwrap reads its arguments from a pipe (`--args FD`), so the
sandbox's `/proc/1/cmdline` shows no host paths (trap 10). The interpreter and its venv are
bound read-only at their own paths, which keeps CPython's `site` working (trap 8); their parent
directories are created 0755 so the slot uid can walk down to them even when the host's
parent (say `/root`) is 0700.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from openrft.sandbox import seccomp
from openrft.sandbox.cgroup import Cgroup
from openrft.sandbox.config import MIB, Runtime, SandboxLimits
from openrft.sandbox.tiers import Tier

HARNESS = str(Path(__file__).with_name("harness.py"))


@dataclass
class Launched:
    process: asyncio.subprocess.Process
    results: asyncio.StreamReader
    results_transport: asyncio.BaseTransport
    workdir: str | None = None


def environment(runtime: Runtime, tmp: str) -> dict[str, str]:
    bindir = str(Path(runtime.executable).parent)
    threads = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    path = f"{bindir}:/usr/bin:/bin"
    return {"PATH": path, "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8", **threads}


def rlimits(limits: SandboxLimits) -> list[str]:
    return [
        shutil.which("prlimit") or "prlimit",
        f"--as={limits.address_space_bytes}",
        f"--nproc={limits.pids}",
        f"--fsize={limits.tmp_mb * MIB}",
        f"--nofile={limits.nofile}",
        "--core=0",
        "--",
    ]


def drop_to(uid: int) -> list[str]:
    flags = ["--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    return [shutil.which("setpriv") or "setpriv", f"--reuid={uid}", f"--regid={uid}", *flags, "--"]


def system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    return [*args, "--perms", "0755", "--dir", "/etc", "--ro-bind-try", *["/etc/ld.so.cache"] * 2]


def tree_binds(trees: tuple[str, ...]) -> list[str]:
    """Bind each tree at its own path, outermost first, creating walkable parents."""
    args: list[str] = []
    made = {"/", "/usr", "/etc", "/tmp", "/sbx"}
    kept: list[Path] = []
    for tree in sorted({Path(t).resolve() for t in trees}, key=lambda p: len(p.parts)):
        if any(tree.is_relative_to(k) for k in kept) or tree.is_relative_to("/usr"):
            continue
        kept.append(tree)
        for parent in reversed(tree.parents):
            if str(parent) not in made:
                made.add(str(parent))
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", str(tree), str(tree)]
    return args


def bwrap_args(tier: Tier, runtime: Runtime, limits: SandboxLimits, seccomp_fd: int) -> list[str]:
    """bwrap's options (read from a pipe, so they stay out of the sandbox's /proc/1/cmdline)."""
    args = ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    args += ["--unshare-cgroup-try", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if tier is Tier.BWRAP_USERNS:
        args += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    # The private /tmp comes before the tree binds: a checkout (and its venv) under /tmp must
    # stay visible, bound read-only over the fresh tmpfs rather than hidden by it.
    args += ["--size", str(limits.tmp_mb * MIB), "--perms", "1777", "--tmpfs", "/tmp"]
    args += [*system_binds(), *tree_binds(runtime.trees)]
    args += ["--perms", "0755", "--dir", "/sbx", "--ro-bind", HARNESS, "/sbx/harness.py"]
    args += ["--dev", "/dev", "--proc", "/proc"]
    args.append("--clearenv")
    for key, value in environment(runtime, "/tmp").items():
        args += ["--setenv", key, value]
    # The tree bwrap built for us (/, /etc, /sbx, parents of binds) is read-only too.
    return [*args, "--remount-ro", "/", "--chdir", "/tmp", "--seccomp", str(seccomp_fd)]


def inner_command(
    tier: Tier, runtime: Runtime, limits: SandboxLimits, uid: int, fd: int
) -> list[str]:
    """What bwrap runs: rlimits, the uid drop (tier 1), the harness."""
    drop = drop_to(uid) if tier is Tier.BWRAP_ROOT else []
    return [*rlimits(limits), *drop, runtime.executable, "-I", "/sbx/harness.py", str(fd)]


async def launch(
    tier: Tier, runtime: Runtime, limits: SandboxLimits, uid: int, group: Cgroup | None
) -> Launched:
    result_read, result_write = os.pipe()
    filter_fd = seccomp.filter_pipe()
    opened = [result_write, filter_fd]
    workdir = None
    try:
        if tier is Tier.RLIMIT_SECCOMP:
            workdir, argv, env = _weak_command(runtime, limits, uid, result_write, filter_fd)
        else:
            options = bwrap_args(tier, runtime, limits, filter_fd)
            args_fd = seccomp.data_pipe(b"".join(a.encode() + b"\0" for a in options))
            opened.append(args_fd)
            command = inner_command(tier, runtime, limits, uid, result_write)
            argv = [shutil.which("bwrap") or "bwrap", "--args", str(args_fd), "--", *command]
            env = {"PATH": "/usr/bin:/bin"}
        if group is not None:
            argv = _join_cgroup(group, argv)
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            pass_fds=opened,
            env=env,
            cwd=workdir or "/",
            start_new_session=True,
        )
    except BaseException:
        os.close(result_read)
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        raise
    finally:
        for fd in opened:
            os.close(fd)
    reader, transport = await _reader(result_read)
    return Launched(process, reader, transport, workdir)


def _weak_command(
    runtime: Runtime, limits: SandboxLimits, uid: int, result_fd: int, filter_fd: int
) -> tuple[str, list[str], dict[str, str]]:
    """Tier 3: no namespaces; a private working directory, rlimits, seccomp, the slot uid."""
    workdir = tempfile.mkdtemp(prefix="openrft-grader-")
    # The harness is read from the working directory, not the checkout: the slot uid may not
    # be able to walk down to the checkout (a clone under a 0700 directory, `/root`).
    harness = shutil.copyfile(HARNESS, os.path.join(workdir, "harness.py"))
    os.chmod(harness, 0o444)
    argv = rlimits(limits)
    options = ["--seccomp-fd", str(filter_fd), "--keep-tmp"]
    if os.geteuid() == 0:
        os.chown(workdir, uid, uid)
        argv += drop_to(uid)
    else:
        options.append("--reap-group")  # kill(-1) as a shared uid would hit the user's own work
    argv += [runtime.executable, "-I", harness, str(result_fd), *options]
    return workdir, argv, environment(runtime, workdir)


def _join_cgroup(group: Cgroup, argv: list[str]) -> list[str]:
    script = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
    return ["/bin/sh", "-c", script, "sh", *group.procs_files, "--", *argv]


async def _reader(fd: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20, loop=loop)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader, loop=loop), os.fdopen(fd, "rb", 0)
    )
    return reader, transport
