"""One grading slot: a live sandbox bound to one grader source, reused call after call.

The slot trusts nothing it reads back: a verdict is accepted only as one JSON line of the exact
shape `{"score": finite number}` or `{"reason": known reason, "detail": str}`. Anything else, a
dead harness, a missed deadline or output past the cap kills the whole sandbox (every process in
its cgroup / PID namespace); the next call starts a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal

from openrft.sandbox import cgroup
from openrft.sandbox.config import Runtime, SandboxLimits
from openrft.sandbox.launcher import Launched, launch
from openrft.sandbox.tiers import Tier
from openrft.sandbox.verdict import Verdict, parse_verdict

log = logging.getLogger(__name__)

OUTPUT_CAP = 1 << 20
"""Bytes of stdout+stderr one call may write before its sandbox is killed (output_too_large)."""
START_TIMEOUT = 30.0
GRACE = 5.0

SlotKey = tuple[str, str, str]
"""(owner, sha256 of the source, runtime interpreter): what a live slot is bound to."""


class Slot:
    def __init__(self, uid: int, tier: Tier, limits: SandboxLimits) -> None:
        self.uid, self.tier, self.limits = uid, tier, limits
        self.key: SlotKey | None = None
        self.last_used = 0.0
        self._box: Launched | None = None
        self._group: cgroup.Cgroup | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pump: asyncio.Task[None] | None = None
        self._written = 0
        self._tail = b""
        self._overflow = False
        self._ooms = 0

    async def ensure(
        self, key: SlotKey, source: str, timeout: float, runtime: Runtime
    ) -> Verdict | None:
        """Make this slot a live sandbox for `key` on `runtime`; a Verdict says why that failed."""
        if self._loop is not asyncio.get_running_loop():
            self.kill_now()  # started under another event loop: its pipes are unusable here
            self.discard()
        if self.key == key and self._box is not None and self._box.process.returncode is None:
            return None
        await self.stop()
        return await self._start(key, source, timeout, runtime)

    async def _start(
        self, key: SlotKey, source: str, timeout: float, runtime: Runtime
    ) -> Verdict | None:
        self._loop = asyncio.get_running_loop()
        version = cgroup.available() if os.geteuid() == 0 else None
        if version and self.tier is not Tier.BWRAP_USERNS:
            limits = self.limits
            self._group = cgroup.Cgroup(version, limits.cgroup_bytes, limits.pids, limits.cpus)
        self._box = await launch(self.tier, runtime, self.limits, self.uid, self._group)
        self._pump = asyncio.create_task(self._drain(self._box.process))
        self._ooms, self._written, self._overflow = 0, 0, False
        setup = {"source": source, "timeout": timeout}
        hello = await self._exchange(json.dumps(setup).encode() + b"\n", START_TIMEOUT)
        if hello != b'{"hello": true}\n':
            tail = self._tail.decode(errors="replace")[-2000:]
            log.error("python-grader sandbox failed to start: %s", tail)
            await self.stop()
            return Verdict(None, "sandbox_start_failed", tail)
        ready = await self._exchange(None, timeout + GRACE)
        if ready == b'{"ready": true}\n':
            self.key = key
            return None
        return await self._failed(ready)

    async def call(self, payload: bytes, timeout: float) -> Verdict:
        self._written, self._overflow = 0, False
        line = await self._exchange(payload, timeout + GRACE)
        verdict = parse_verdict(line) if line else None
        if verdict is None:
            return await self._failed(line)
        if self._oom_since_last() and verdict.reason == "killed":
            return Verdict(None, "oom", "the grader ran out of memory (cgroup OOM kill)")
        return verdict

    async def _exchange(self, payload: bytes | None, timeout: float) -> bytes | None:
        """Send a line (if any) and read one result line: None when the deadline passed, b""
        when the sandbox is gone (EOF, broken pipe) or sent an over-long or unterminated line."""
        assert self._box is not None
        try:
            if payload is not None:
                stdin = self._box.process.stdin
                assert stdin is not None
                stdin.write(payload)
                await asyncio.wait_for(stdin.drain(), timeout)
            line = await asyncio.wait_for(self._box.results.readline(), timeout)
        except TimeoutError:
            return None
        except (OSError, ValueError):
            return b""
        return line if line.endswith(b"\n") else b""

    async def _failed(self, line: bytes | None) -> Verdict:
        """The sandbox died, hung or lied: say why, then kill all of it."""
        reported = parse_verdict(line) if line else None  # e.g. a load error from the harness
        if reported is not None:
            verdict = reported
        elif self._overflow:
            verdict = Verdict(None, "output_too_large", f"more than {OUTPUT_CAP} bytes of output")
        elif self._oom_since_last():
            verdict = Verdict(None, "oom", "the grader ran out of memory (cgroup OOM kill)")
        elif line is None:
            verdict = Verdict(None, "timeout", "the grader did not finish in time")
        else:
            verdict = Verdict(None, "crashed", self._tail.decode(errors="replace")[-2000:])
        await self.stop()
        return verdict

    def _oom_since_last(self) -> bool:
        count = self._group.oom_kills() if self._group is not None else 0
        seen, self._ooms = self._ooms, count
        return count > seen

    async def _drain(self, process: asyncio.subprocess.Process) -> None:
        """Read stdout+stderr as it comes, keep a tail for logs, kill the slot past the cap."""
        assert process.stdout is not None
        while chunk := await process.stdout.read(65536):
            self._written += len(chunk)
            self._tail = (self._tail + chunk)[-4096:]
            if self._written > OUTPUT_CAP and not self._overflow:
                self._overflow = True
                self.kill_now()

    def kill_now(self) -> None:
        """SIGKILL every process of the sandbox, synchronously (safe from any context)."""
        if self._box is not None and self._box.process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._box.process.pid, signal.SIGKILL)
        if self._group is not None:
            self._group.kill_all()
        self.key = None

    async def stop(self) -> None:
        """Kill the sandbox and wait until nothing of it is left."""
        box, pump = self._box, self._pump
        self.kill_now()
        if box is not None:
            await box.process.wait()
            if pump is not None:  # EOF follows the kill, unless a tier-3 stray holds the pipe
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(pump, 2.0)
            box.results_transport.close()
        self.discard()

    def discard(self) -> None:
        """Drop what is left of a killed sandbox: its cgroup and working directory."""
        if self._group is not None:
            self._group.remove()
        if self._box is not None and self._box.workdir:
            shutil.rmtree(self._box.workdir, ignore_errors=True)
        self._box, self._pump, self._group, self.key = None, None, None, None
