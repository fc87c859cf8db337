"""The pool of grading slots python graders run in; its size is the grading concurrency.

A slot is bound to one `(owner, sha256(source), runtime)` key and reused for every call with
that key (the harness forks a fresh child per call), so a grader's import cost is paid once per
slot, not per sample. A slot is never shared across keys: taking it for another grader, owner or
image kills its sandbox first. The runtime is the grader's `image_tag` virtualenv
(`openrft.sandbox.runtimes`) unless the pool was given one interpreter for everything. Each slot
has its own uid, held host-wide while the pool lives (`openrft.sandbox.uids`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from typing import Any

from openrft.sandbox import runtimes, tiers
from openrft.sandbox import uids as uid_locks
from openrft.sandbox.config import Runtime, SandboxLimits
from openrft.sandbox.slot import Slot, SlotKey
from openrft.sandbox.verdict import Verdict

log = logging.getLogger(__name__)

INPUT_CAP = 64 << 20
"""Bytes of JSON (sample + item) one call may send into the sandbox."""


class SandboxPool:
    """`await pool.grade(source, sample, item, timeout=...)` → a `Verdict`; never raises for
    anything the grader does. Construction raises `SandboxUnavailableError` on a host that
    cannot sandbox python graders."""

    def __init__(
        self,
        slots: int = 2,
        *,
        limits: SandboxLimits | None = None,
        tier: str | None = None,
        allow_weak: bool | None = None,
        bwrap: str = "bwrap",
        runtime: Runtime | None = None,
        reuse: bool = True,
        uid_base: int | None = None,
    ) -> None:
        self.tier = tiers.detect(bwrap=bwrap, allow_weak=allow_weak, tier=tier)
        self.limits = limits or SandboxLimits()
        self.reuse = reuse
        self.runtime = runtime
        """One interpreter for every grader (tests, tier 3); None: each grader's image_tag."""
        self.uids = uid_locks.acquire(slots, uid_base)
        self._slots = [Slot(uid, self.tier, self.limits) for uid in self.uids]
        self._free = list(self._slots)
        self._changed: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        log.info("python-grader sandbox: tier %s, %d slots", self.tier, slots)

    async def grade(
        self,
        source: str,
        sample: dict[str, Any],
        item: dict[str, Any],
        *,
        timeout: float = 120.0,
        owner: str = "",
        image_tag: str | None = None,
    ) -> Verdict:
        runtime = self.runtime or runtimes.find(image_tag or runtimes.DEFAULT_TAG)
        if runtime is None:
            tag = image_tag or runtimes.DEFAULT_TAG
            return Verdict(None, "runtime_unavailable", runtimes.missing_message(tag))
        try:
            payload = json.dumps({"sample": sample, "item": item, "timeout": timeout}).encode()
        except (TypeError, ValueError) as exc:
            return Verdict(None, "invalid_input", f"sample/item are not JSON: {exc}")
        if len(payload) > INPUT_CAP:
            return Verdict(None, "invalid_input", f"sample + item exceed {INPUT_CAP} bytes")
        if self._closed:
            return Verdict(None, "sandbox_error", "the sandbox pool is closed")
        digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
        key = (owner, digest, runtime.executable)
        slot = await self._take(key)
        try:
            return await self._run(slot, key, runtime, source, payload + b"\n", timeout)
        finally:
            await self._give(slot)

    async def _run(
        self,
        slot: Slot,
        key: SlotKey,
        runtime: Runtime,
        source: str,
        payload: bytes,
        timeout: float,
    ) -> Verdict:
        try:
            verdict = await slot.ensure(key, source, timeout, runtime)
            if verdict is None:
                verdict = await slot.call(payload, timeout)
            if not self.reuse:
                await slot.stop()
            return verdict
        except asyncio.CancelledError:
            slot.kill_now()  # a cancelled call leaves the slot in an unknown state
            raise
        except Exception as exc:  # the sandbox machinery itself failed, not the grader
            log.exception("python-grader sandbox error")
            await slot.stop()
            return Verdict(None, "sandbox_error", f"{type(exc).__name__}: {exc}")

    def _condition(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self._changed is None or self._loop is not loop:
            self._changed, self._loop = asyncio.Condition(), loop
        return self._changed

    async def _take(self, key: SlotKey) -> Slot:
        changed = self._condition()
        async with changed:
            await changed.wait_for(lambda: bool(self._free))
            slot = min(self._free, key=lambda s: (s.key != key, s.key is not None, s.last_used))
            self._free.remove(slot)
            return slot

    async def _give(self, slot: Slot) -> None:
        slot.last_used = time.monotonic()
        changed = self._condition()
        async with changed:
            self._free.append(slot)
            changed.notify()

    async def aclose(self) -> None:
        """Kill every sandbox and give the uids back."""
        for slot in self._slots:
            await slot.stop()
        self._release()

    def close(self) -> None:
        """Synchronous best effort (no event loop needed): kill every sandbox now."""
        for slot in self._slots:
            slot.kill_now()
            slot.discard()
        self._release()

    def _release(self) -> None:
        self._closed = True
        uid_locks.release(self.uids)

    async def __aenter__(self) -> SandboxPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
