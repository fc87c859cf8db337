"""The batcher's rules: a lone client never waits for company; requests queued together go
in one model call; after a concurrent batch the next one waits (at most the window) to be as
large, then adapts back once load is gone; a failed call is retried request by request, so
only the request that fails gets the error, except a stream that already spoke, which fails
rather than speak twice. The queue policy: long and short requests never share a batch, short
ones go before a long one (a bounded number of times); a caller that left is dropped."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from openrft.errors import OpenRFTError
from openrft.serve.batching import Batcher, Ticket


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


class Gated:
    """A model call that records its batches and holds the ones carrying a gated request."""

    def __init__(self, *gated: str):
        self.gates = {name: threading.Event() for name in gated}
        self.calls: list[list[str]] = []

    def __call__(self, requests: list[str]) -> list[str]:
        self.calls.append(list(requests))
        for request in requests:
            if request in self.gates and not self.gates[request].wait(10):
                raise TimeoutError(f"{request} was never released")
        if "boom" in requests:
            raise RuntimeError("boom")
        return requests


async def until(check: Callable[[], bool]) -> None:
    """Wait (bounded) for the event loop to reach a state; an assert, not a timing."""
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("state never reached")


async def queue_behind(batcher: Batcher, gated: Gated, blocker: str, sized: dict[str, int]):  # type: ignore[no-untyped-def]
    """Submit `blocker` (it starts, held), then `sized` in order while it holds the thread."""
    tasks = {blocker: asyncio.ensure_future(batcher.submit(blocker, Ticket(size=10)))}
    await until(lambda: gated.calls == [[blocker]])
    for name, size in sized.items():
        tasks[name] = asyncio.ensure_future(batcher.submit(name, Ticket(size=size)))
    await until(lambda: batcher.queued() == len(sized))
    return tasks


async def test_long_requests_do_not_share_a_batch_with_short_ones_and_let_them_go_first() -> None:
    gated = Gated("first", "S1")
    with ThreadPoolExecutor(1) as executor:
        batcher = Batcher(gated, executor, window=0.0, max_batch=8)
        sized = {"L1": 4000, "S1": 60, "S2": 90, "L2": 3000}
        tasks = await queue_behind(batcher, gated, "first", sized)
        gated.gates["first"].set()
        await until(lambda: len(gated.calls) == 2)  # the short ones went before L1; L1 waits
        tasks["S3"] = asyncio.ensure_future(batcher.submit("S3", Ticket(size=70)))
        await until(lambda: batcher.queued() == 3)
        gated.gates["S1"].set()
        assert await asyncio.gather(*tasks.values()) == list(tasks)
        await batcher.aclose()
    # L1 was passed over once (PATIENCE), then went first although S3 was shorter.
    assert gated.calls == [["first"], ["S1", "S2"], ["L1", "L2"], ["S3"]]


async def test_a_streamed_request_that_spoke_is_failed_not_run_again() -> None:
    gated = Gated("first")
    with ThreadPoolExecutor(1) as executor:
        batcher = Batcher(gated, executor, window=0.0, max_batch=8)
        tasks = await queue_behind(batcher, gated, "first", {})
        spoke = Ticket(spoke=True)
        streamed = asyncio.ensure_future(batcher.submit("streamed", spoke))
        quiet = asyncio.ensure_future(batcher.submit("quiet"))
        bad = asyncio.ensure_future(batcher.submit("boom"))
        await until(lambda: batcher.queued() == 3)
        gated.gates["first"].set()
        results = await asyncio.gather(
            streamed, quiet, bad, *tasks.values(), return_exceptions=True
        )
        await batcher.aclose()
    assert isinstance(results[0], OpenRFTError) and "not retried" in str(results[0])
    assert results[1] == "quiet" and isinstance(results[2], RuntimeError)
    assert gated.calls == [["first"], ["streamed", "quiet", "boom"], ["quiet"], ["boom"]]


async def test_a_caller_that_left_is_dropped_from_the_queue_and_its_call_cancelled() -> None:
    gated = Gated("first")
    with ThreadPoolExecutor(1) as executor:
        batcher = Batcher(gated, executor, window=0.0, max_batch=8)
        tasks = await queue_behind(batcher, gated, "first", {"left": 10, "stays": 10})
        ticket = Ticket()
        gone = asyncio.ensure_future(batcher.submit("gone", ticket))
        await until(lambda: batcher.queued() == 3)
        gone.cancel()
        tasks["left"].cancel()
        await until(lambda: batcher.queued() == 1 and ticket.cancel.is_set())
        gated.gates["first"].set()
        assert await tasks["stays"] == "stays"
        await batcher.aclose()
    assert gated.calls == [["first"], ["stays"]]


async def test_a_batch_holds_at_most_max_tokens_and_the_queue_counts_them() -> None:
    gated = Gated("first")
    with ThreadPoolExecutor(1) as executor:
        batcher = Batcher(gated, executor, window=0.0, max_batch=8, max_tokens=250)
        sized = {"a": 100, "b": 100, "c": 100, "d": 40, "e": 100}
        tasks = await queue_behind(batcher, gated, "first", sized)
        assert batcher.queued_tokens() == 440
        gated.gates["first"].set()
        assert await asyncio.gather(*tasks.values()) == list(tasks)
        await batcher.aclose()
    # a+b are 200: c would pass 250, d (40) still fits; then c+e.
    assert gated.calls == [["first"], ["a", "b", "d"], ["c", "e"]]


async def test_a_request_larger_than_max_tokens_still_goes_alone() -> None:
    gated = Gated("first")
    with ThreadPoolExecutor(1) as executor:
        batcher = Batcher(gated, executor, window=0.0, max_batch=8, max_tokens=50)
        tasks = await queue_behind(batcher, gated, "first", {"huge": 400, "big": 300})
        gated.gates["first"].set()
        assert await asyncio.gather(*tasks.values()) == list(tasks)
        await batcher.aclose()
    assert gated.calls == [["first"], ["huge"], ["big"]]
