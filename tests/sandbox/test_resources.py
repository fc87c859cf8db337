"""Part D 1-5, 16, 22, 23: limits, teardown, output caps, volume and concurrency."""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openrft.sandbox import SandboxPool
from openrft.sandbox import uids as uid_locks
from openrft.sandbox.slot import OUTPUT_CAP
from tests.sandbox.helpers import open_fds, run, uid_processes

OK = "def grade(sample, item):\n    return 0.5\n"


async def assert_only_zygotes_left(pool: SandboxPool, most: int = 2) -> None:
    """After a call, at most one harness (the zygote) per slot is alive: no strays."""
    assert len(uid_processes(pool.uids)) <= most


async def test_1_busy_loop_is_stopped_and_cleaned_up(pool: SandboxPool) -> None:
    started = time.monotonic()
    verdict = await run(pool, "def grade(s, i):\n    while True:\n        pass\n", timeout=1)
    assert verdict.reason in ("timeout", "cpu_limit")
    assert time.monotonic() - started < 4
    await assert_only_zygotes_left(pool)
    await pool.aclose()
    assert uid_processes(pool.uids) == []
    leaves = [p for p in Path("/sys/fs/cgroup").glob("*/openrft-sandbox/*") if p.is_dir()]
    assert [p for p in leaves if p.name.startswith(f"{os.getpid()}-")] == []
    assert (await run(pool, OK)).reason == "sandbox_error"  # closed for good


async def test_2_sleep_is_stopped_by_the_wall_clock(pool: SandboxPool) -> None:
    started = time.monotonic()
    source = "import time\ndef grade(s, i):\n    time.sleep(10**6)\n"
    verdict = await run(pool, source, timeout=1)
    assert verdict.reason == "timeout"
    assert time.monotonic() - started < 4


async def test_2b_a_grader_ignoring_sigalrm_is_still_stopped(pool: SandboxPool) -> None:
    source = (
        "import signal, time\n"
        "signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "def grade(s, i):\n"
        "    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "    time.sleep(10**6)\n"
    )
    started = time.monotonic()
    assert (await run(pool, source, timeout=1)).reason == "timeout"
    assert time.monotonic() - started < 4


async def test_3_memory_hogs_are_contained(pool: SandboxPool) -> None:
    one_shot = "def grade(s, i):\n    bytearray(4 << 30)\n    return 1.0\n"
    verdict = await run(pool, one_shot)
    assert verdict.reason == "grader_exception" and "MemoryError" in verdict.detail
    touched = (
        "def grade(s, i):\n"
        "    chunks = []\n"
        "    for _ in range(64):\n"
        "        chunks.append(bytearray(b'x' * (64 << 20)))\n"
        "    return 1.0\n"
    )
    assert (await run(pool, touched, timeout=20)).reason == "oom"
    assert (await run(pool, OK)).score == 0.5  # the pool and host carry on


async def test_4_fork_bomb_hits_the_pids_limit(pool: SandboxPool) -> None:
    source = (
        "import errno, os, time\n"
        "def grade(s, i):\n"
        "    forked = 0\n"
        "    try:\n"
        "        while True:\n"
        "            if os.fork() == 0:\n"
        "                time.sleep(1000)\n"
        "                os._exit(0)\n"
        "            forked += 1\n"
        "    except OSError as exc:\n"
        "        assert exc.errno == errno.EAGAIN, exc\n"
        "        return float(forked)\n"
    )
    verdict = await run(pool, source, timeout=10)
    assert verdict.score is not None and 5 < verdict.score < 32, verdict
    await assert_only_zygotes_left(pool)
    await pool.aclose()
    assert uid_processes(pool.uids) == []


async def test_5_setsid_daemon_does_not_outlive_the_call(pool: SandboxPool) -> None:
    source = (
        "import os, time\n"
        "def grade(s, i):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(1000)\n"
        "        os._exit(0)\n"
        "    os.wait()\n"
        "    return 0.5\n"
    )
    assert (await run(pool, source)).score == 0.5
    assert len(uid_processes(pool.uids)) == 1  # the zygote only; the daemon was killed


async def test_16_huge_stdout_is_capped(pool: SandboxPool) -> None:
    source = "import sys\ndef grade(s, i):\n    sys.stdout.write('A' * 10**8)\n    return 1.0\n"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    verdict = await run(pool, source, timeout=20)
    growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert verdict.reason == "output_too_large"
    assert growth_kib < 32 * 1024
    assert (await run(pool, OK)).score == 0.5  # the killed slot was rebuilt
    small = "def grade(s, i):\n    print('x' * 1000)\n    return 1.0\n"
    assert (await run(pool, small)).score == 1.0
    assert OUTPUT_CAP == 1 << 20


@pytest.mark.slow
async def test_22_a_thousand_invalid_grades_come_back_fast(pool: SandboxPool) -> None:
    """The job-level rule (fail at a sustained error rate) belongs to the trainer."""
    source = "def grade(sample, item):\n    raise ValueError('bad grader')\n"
    await asyncio.gather(run(pool, source), run(pool, source))  # both slots started
    fds = open_fds()
    started = time.monotonic()
    verdicts = await asyncio.gather(*(run(pool, source) for _ in range(1000)))
    elapsed = time.monotonic() - started
    assert all(v.reason == "grader_exception" and "bad grader" in v.detail for v in verdicts)
    assert elapsed < 30
    assert open_fds() == fds
    await assert_only_zygotes_left(pool)


async def test_23_fork_bomb_of_one_owner_does_not_starve_another(pool: SandboxPool) -> None:
    bomb = (
        "import os, time\n"
        "def grade(s, i):\n"
        "    while True:\n"
        "        try:\n"
        "            os.fork()\n"
        "        except OSError:\n"
        "            time.sleep(0.01)\n"
    )
    good = "def grade(s, i):\n    return len(s['output_text']) / 10\n"
    await run(pool, good)  # warm B's slot so its timing is a grading call's
    sample = {"output_text": "hello"}
    attack = asyncio.create_task(pool.grade(bomb, sample, {}, timeout=2, owner="a"))
    await asyncio.sleep(0.5)
    started = time.monotonic()
    verdict = await pool.grade(good, sample, {}, timeout=4, owner="")
    assert verdict.score == 0.5
    assert time.monotonic() - started < 1.0
    assert (await attack).reason == "timeout"


async def test_cancelled_call_kills_its_sandbox(pool: SandboxPool) -> None:
    source = "import time\ndef grade(s, i):\n    time.sleep(100)\n"
    task = asyncio.create_task(run(pool, source, timeout=60))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert uid_processes(pool.uids) == []
    assert (await run(pool, OK)).score == 0.5


def test_slot_uids_are_exclusive_across_processes() -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_UID_LOCK, str(uid_locks._lock_dir() / "uid-62001.lock")],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        mine = uid_locks.acquire(1, base=62000)
        assert mine == [62000]
        assert uid_locks.acquire(2, base=62000) == [62002, 62003]  # 62001: another process
        uid_locks.release([62000, 62002, 62003])
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


HOLD_UID_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""
