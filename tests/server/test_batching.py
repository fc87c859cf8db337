"""The batcher's rules: a lone client never waits for company; requests queued together go
in one model call; after a concurrent batch the next one waits (at most the window) to be as
large, then adapts back once load is gone; a failed call is retried request by request, so
only the request that fails gets the error."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from openrft.serve.batching import Batcher


def echo(requests: list[object]) -> list[object]:
    if "boom" in requests:
        raise RuntimeError("boom")
    return requests


@pytest.fixture
async def batcher() -> AsyncIterator[Batcher]:
    with ThreadPoolExecutor(1) as executor:
        batcher = Batcher(echo, executor, window=0.3, max_batch=8)
        yield batcher
        await batcher.aclose()


async def test_lone_requests_do_not_wait(batcher: Batcher) -> None:
    start = time.perf_counter()
    assert [await batcher.submit(i) for i in range(5)] == list(range(5))
    assert time.perf_counter() - start < 0.25 and batcher.batch_sizes == [1] * 5


async def test_concurrent_requests_share_a_call_then_adapt(batcher: Batcher) -> None:
    assert await asyncio.gather(*[batcher.submit(i) for i in range(8)]) == list(range(8))
    assert batcher.batch_sizes == [8]
    start = time.perf_counter()
    assert await batcher.submit("late") == "late"  # waited for company that never came
    assert 0.25 < time.perf_counter() - start < 1.0
    start = time.perf_counter()
    assert await batcher.submit("alone") == "alone"
    assert time.perf_counter() - start < 0.25 and batcher.batch_sizes == [8, 1, 1]


async def test_a_failed_call_fails_only_the_request_that_fails(batcher: Batcher) -> None:
    results = await asyncio.gather(
        batcher.submit("x"), batcher.submit("boom"), batcher.submit("y"), return_exceptions=True
    )
    assert results[0] == "x" and results[2] == "y"
    assert isinstance(results[1], RuntimeError)
    assert batcher.batch_sizes == [3]  # one call for the three; the retries are not batches
    assert await batcher.submit("after") == "after"
