"""Part D 24 and the weaker tiers: refuse loudly, opt in explicitly, never run in-process."""

from __future__ import annotations

import errno
import logging
from pathlib import Path

import pytest

from openrft.errors import SandboxUnavailableError
from openrft.graders import GraderContext, Sample
from openrft.graders.python import agrade
from openrft.sandbox import Runtime, SandboxPool, Tier, tiers
from tests.sandbox.conftest import SMALL
from tests.sandbox.helpers import probe, run, uid_processes

NETWORK = (
    "import socket\n"
    "def probe(item):\n"
    "    try:\n"
    "        socket.create_connection(('127.0.0.1', 9), 1)\n"
    "    except OSError as exc:\n"
    "        return exc.errno\n"
)


def test_24_missing_bwrap_is_refused_with_what_to_install(monkeypatch) -> None:
    monkeypatch.delenv("OPENRFT_ALLOW_WEAK_SANDBOX", raising=False)
    with pytest.raises(SandboxUnavailableError) as caught:
        SandboxPool(bwrap="/nonexistent/bwrap")
    message = caught.value.message
    assert "apt-get install bubblewrap" in message and "bwrap not found" in message
    assert "OPENRFT_ALLOW_WEAK_SANDBOX=1" in message
    assert caught.value.status == 400


def test_24_denied_user_namespaces_are_refused(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.delenv("OPENRFT_ALLOW_WEAK_SANDBOX", raising=False)
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    assert "setting up uid map" in str(tiers.problem(Tier.BWRAP_USERNS, str(fake), True))
    with pytest.raises(SandboxUnavailableError, match="OPENRFT_ALLOW_WEAK_SANDBOX"):
        SandboxPool(bwrap=str(fake), tier="bwrap-userns")
    with caplog.at_level(logging.WARNING, logger="openrft.sandbox.tiers"):
        pool = SandboxPool(bwrap=str(fake), tier="bwrap-userns", allow_weak=True, runtime=_debian())
    assert pool.tier is Tier.RLIMIT_SECCOMP  # only because we opted in, and never silently
    assert "weaker sandbox tier" in caplog.text
    pool.close()


async def test_24_grader_reports_a_server_error_and_runs_nothing(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap, prlimit or setpriv
    marker = tmp_path / "ran"
    spec = _Spec(f"open({str(marker)!r}, 'w').write('x')\ndef grade(s, i):\n    return 1.0\n")
    ctx = GraderContext()
    result = await agrade(spec, Sample.from_text("x"), {}, ctx)
    assert result.reward == 0.0 and result.errors is not None
    assert result.errors["python_grader_server_error"] is True
    kind = result.errors["python_grader_server_error_type"]
    assert kind.startswith("sandbox_unavailable") and "bubblewrap" in kind
    assert not marker.exists()


async def test_weak_tier_needs_the_opt_in_and_says_so(monkeypatch, caplog) -> None:
    monkeypatch.setenv("OPENRFT_ALLOW_WEAK_SANDBOX", "1")
    with caplog.at_level(logging.WARNING, logger="openrft.sandbox.tiers"):
        pool = SandboxPool(1, bwrap="/nonexistent/bwrap", limits=SMALL, runtime=_debian())
    assert pool.tier is Tier.RLIMIT_SECCOMP
    assert "weaker sandbox tier rlimit-seccomp" in caplog.text
    async with pool:
        assert (await run(pool, "def grade(s, i):\n    return 0.5\n")).score == 0.5


async def test_tier3_still_blocks_network_and_drops_to_the_slot_uid() -> None:
    pool = SandboxPool(1, tier="rlimit-seccomp", allow_weak=True, limits=SMALL, runtime=_debian())
    async with pool:
        assert await probe(pool, NETWORK) == errno.EPERM
        body = "import os\ndef probe(item):\n    return [os.getuid(), os.getgroups()]\n"
        assert await probe(pool, body) == [pool.uids[0], []]
        daemon = (
            "import os, time\n"
            "def grade(s, i):\n"
            "    if os.fork() == 0:\n"
            "        os.setsid()\n"
            "        time.sleep(1000)\n"
            "    return 0.5\n"
        )
        assert (await run(pool, daemon)).score == 0.5
        assert len(uid_processes(pool.uids)) == 1
    assert uid_processes(pool.uids) == []


async def test_tier2_user_namespace_runs_and_isolates() -> None:
    pool = SandboxPool(1, tier="bwrap-userns", allow_weak=True, limits=SMALL)
    assert pool.tier is Tier.BWRAP_USERNS
    async with pool:
        assert (await run(pool, "def grade(s, i):\n    return 0.5\n")).score == 0.5
        assert await probe(pool, NETWORK) == errno.EPERM
        body = "import os\ndef probe(item):\n    return os.path.exists('/etc/shadow')\n"
        assert await probe(pool, body) is False


def _debian() -> Runtime:
    """Tier 3 has no mount namespace, so the slot uid must be able to read the interpreter
    itself: the venv's base interpreter lives under /root (0700) here, Debian's does not."""
    python = Path("/usr/bin/python3")
    if not python.exists():
        pytest.fail("tier-3 tests need /usr/bin/python3 (Debian's python3 package)")
    return Runtime(str(python), ())


class _Spec:
    name = "python"

    def __init__(self, source: str) -> None:
        self.source = source
