"""Part D 6-15: what a grader can reach from inside the tier-1 sandbox (nothing of ours)."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import subprocess

import pyseccomp

from openrft.sandbox import SandboxPool, Tier
from tests.sandbox.helpers import probe, run

ERRNO_OF = """
def attempt(action):
    try:
        action()
    except OSError as exc:
        return exc.errno if exc.errno is not None else str(exc)
    return 0
"""


async def test_tier_one_is_used_as_root(pool: SandboxPool) -> None:
    assert os.geteuid() == 0, "CI runs the sandbox suite as root (tier 1)"
    assert pool.tier is Tier.BWRAP_ROOT


async def test_6_tcp_to_the_api_port_is_blocked(pool: SandboxPool) -> None:
    connections: list[object] = []
    server = await asyncio.start_server(lambda r, w: connections.append(w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    body = ERRNO_OF + (
        "import socket\n"
        "def probe(item):\n"
        "    return attempt(lambda: socket.create_connection(('127.0.0.1', item['port']), 2))\n"
    )
    async with server:
        seen = await probe(pool, body, {"port": port})
        await asyncio.sleep(0.05)
    assert seen == errno.EPERM
    assert connections == []


async def test_7_unix_socket_files_are_not_reachable(pool: SandboxPool, tmp_path) -> None:
    path = str(tmp_path / "api.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()
    os.chmod(path, 0o777)
    body = ERRNO_OF + (
        "import socket\n"
        "def connect(path):\n"
        "    s = socket.socket(socket.AF_UNIX)\n"
        "    s.connect(path)\n"
        "def probe(item):\n"
        "    return [attempt(lambda p=p: connect(p)) for p in item['paths']]\n"
    )
    others = ["/var/run/docker.sock", "/run/dbus/system_bus_socket", "/tmp/.X11-unix/X0"]
    try:
        seen = await probe(pool, body, {"paths": [path, *others]})
    finally:
        listener.close()
    assert seen == [errno.ENOENT] * 4


async def test_8_dns_and_http_fail_fast(pool: SandboxPool) -> None:
    body = (
        "import socket, time, urllib.request\n"
        "def probe(item):\n"
        "    start = time.monotonic()\n"
        "    out = []\n"
        "    for call in (lambda: socket.getaddrinfo('example.com', 80),\n"
        "                 lambda: urllib.request.urlopen('http://example.com', timeout=3)):\n"
        "        try:\n"
        "            call()\n"
        "            out.append('connected')\n"
        "        except Exception as exc:\n"
        "            out.append(type(exc).__name__)\n"
        "    return [out, time.monotonic() - start]\n"
    )
    (outcomes, seconds) = await probe(pool, body)
    assert outcomes == ["gaierror", "URLError"]
    assert seconds < 1.0


async def test_9_no_view_of_state_or_secrets(pool: SandboxPool, tmp_path, monkeypatch) -> None:
    home = tmp_path / "openrft-home"
    (home / "files").mkdir(parents=True)
    (home / "openrft.db").write_text("secret rows")
    (home / "files" / "file-other-user.jsonl").write_text("{}")
    monkeypatch.setenv("OPENRFT_HOME", str(home))
    targets = [
        str(home / "openrft.db"),
        str(home / "files" / "file-other-user.jsonl"),
        "/etc/shadow",
        "/etc/passwd",
        "/root/.bash_history",
        "/work/main/openrft/errors.py",
        "/work/main/.openrft/openrft.db",
        "/home",
    ]
    body = ERRNO_OF + (
        "import os\n"
        "def probe(item):\n"
        "    return [attempt(lambda p=p: open(p).read() if not os.path.isdir(p) else\n"
        "                    open(os.path.join(p, 'x'))) for p in item['paths']]\n"
    )
    seen = await probe(pool, body, {"paths": targets})
    assert all(code in (errno.ENOENT, errno.EACCES) for code in seen), seen


async def test_10_read_only_trees_and_tmp_cap(pool: SandboxPool) -> None:
    server_venv = os.path.realpath(os.sys.prefix)  # type: ignore[attr-defined]
    body = ERRNO_OF + (
        "import sys\n"
        "def write(path):\n"
        "    with open(path, 'w') as f:\n"
        "        f.write('x')\n"
        "def fill():\n"
        "    with open('/tmp/big', 'wb') as f:\n"
        "        for _ in range(2048):\n"
        "            f.write(b'x' * (1 << 20))\n"
        "def probe(item):\n"
        "    paths = ['/usr/pwned', sys.prefix + '/pwned', '/sbx/harness.py', '/etc/x']\n"
        "    return [attempt(lambda p=p: write(p)) for p in paths] + [attempt(fill)] + [\n"
        "        sys.prefix, attempt(lambda: open(item['server'] + '/pyvenv.cfg').read())]\n"
    )
    seen = await probe(pool, body, {"server": server_venv})
    assert seen[:4] == [errno.EROFS] * 4  # the grader's own runtime venv included
    assert seen[4] in (errno.EFBIG, errno.ENOSPC)
    assert "grader-runtimes" in seen[5] and seen[6] == errno.ENOENT  # not the server's venv


async def test_11_environment_holds_no_secrets(pool: SandboxPool, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    monkeypatch.setenv("OPENRFT_HOME", "/srv/openrft")
    body = (
        "import os\n"
        "def probe(item):\n"
        "    cmdline = open('/proc/1/cmdline', 'rb').read().decode(errors='replace')\n"
        "    return [dict(os.environ), cmdline]\n"
    )
    environ, cmdline = await probe(pool, body)
    assert set(environ) <= {
        "PATH", "HOME", "TMPDIR", "LANG", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS", "PWD",
    }  # fmt: skip
    assert "sk-test-secret" not in str(environ) and "/srv/openrft" not in str(environ)
    assert "--ro-bind" not in cmdline and "--seccomp" not in cmdline  # trap 10: options via --args


async def test_12_own_pid_namespace_and_kill_all(pool: SandboxPool) -> None:
    canary = subprocess.Popen(["sleep", "30"])
    try:
        body = (
            "import os\n"
            "def probe(item):\n"
            "    return sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        )
        pids = await probe(pool, body)
        assert canary.pid not in pids or max(pids) < 10
        assert len(pids) <= 4  # bwrap (pid 1), the harness, this grading child
        kill_all = "import os\ndef grade(sample, item):\n    os.kill(-1, 9)\n    return 1.0\n"
        await run(pool, kill_all)
        assert canary.poll() is None, "kill(-1) reached a host process"
        assert (await run(pool, "def grade(s, i):\n    return 0.25\n")).score == 0.25
    finally:
        canary.kill()
        canary.wait()


def _syscall_numbers() -> dict[str, int]:
    names = ["unshare", "ptrace", "mount", "bpf", "io_uring_setup", "userfaultfd", "keyctl"]
    names += ["perf_event_open", "setns", "socket", "clone"]
    arch = pyseccomp.Arch.NATIVE
    return {name: int(pyseccomp.resolve_syscall(arch, name)) for name in names}


SYSCALLS = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(number, *args):
    result = libc.syscall(ctypes.c_long(number), *[ctypes.c_long(a) for a in args])
    return ctypes.get_errno() if result == -1 else 0
"""


async def test_13_dangerous_syscalls_fail_with_eperm(pool: SandboxPool) -> None:
    body = SYSCALLS + (
        "def probe(n):\n"
        "    return {\n"
        "        'unshare': call(n['unshare'], 0x10000000),\n"
        "        'clone_newuser': call(n['clone'], 0x10000000 | 17, 0, 0, 0, 0),\n"
        "        'ptrace': call(n['ptrace'], 16, 1, 0, 0),\n"
        "        'mount': call(n['mount'], 0, 0, 0, 0, 0),\n"
        "        'bpf': call(n['bpf'], 0, 0, 0),\n"
        "        'io_uring_setup': call(n['io_uring_setup'], 8, 0),\n"
        "        'userfaultfd': call(n['userfaultfd'], 0),\n"
        "        'keyctl': call(n['keyctl'], 0, 0),\n"
        "        'perf_event_open': call(n['perf_event_open'], 0, 0, -1, -1, 0),\n"
        "        'setns': call(n['setns'], 0, 0),\n"
        "    }\n"
    )
    seen = await probe(pool, body, _syscall_numbers())
    assert seen == dict.fromkeys(seen, errno.EPERM), seen


async def test_14_socket_high_bits_do_not_bypass_seccomp(pool: SandboxPool) -> None:
    body = SYSCALLS + (
        "import socket\n"
        "def probe(n):\n"
        "    stream = socket.SOCK_STREAM\n"
        "    return [call(n['socket'], socket.AF_INET | (1 << 32), stream, 0),\n"
        "            call(n['socket'], socket.AF_INET6, stream, 0),\n"
        "            call(n['socket'], socket.AF_NETLINK, socket.SOCK_RAW, 0),\n"
        "            call(n['socket'], socket.AF_UNIX | (1 << 32), stream, 0),\n"
        "            call(n['socket'], socket.AF_UNIX, stream, 0)]\n"
    )
    seen = await probe(pool, body, _syscall_numbers())
    assert seen == [errno.EPERM] * 4 + [0]


async def test_15_subclass_walk_escape_runs_as_slot_uid_only(pool: SandboxPool) -> None:
    body = (
        "import os\n"
        "def probe(item):\n"
        "    for cls in ().__class__.__base__.__subclasses__():\n"
        "        if cls.__name__ == '_wrap_close':\n"
        "            out = cls.__init__.__globals__['popen']('id; grep Cap /proc/self/status').read()\n"
        "            return [out, os.getuid(), os.getgid(), os.getgroups()]\n"
    )
    out, uid, gid, groups = await probe(pool, body)
    assert uid in pool.uids and gid == uid and groups == []
    assert "uid=0" not in out
    assert "CapEff:\t0000000000000000" in out and "CapBnd:\t0000000000000000" in out
