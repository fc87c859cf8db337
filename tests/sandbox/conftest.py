"""Fixtures for the sandbox tests: small limits so hostile graders hit them fast."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from openrft.sandbox import SandboxLimits, SandboxPool

SMALL = SandboxLimits(memory_mb=256, tmp_mb=64, pids=32)


@pytest.fixture
async def pool() -> AsyncIterator[SandboxPool]:
    sandbox = SandboxPool(2, limits=SMALL)
    yield sandbox
    await sandbox.aclose()
