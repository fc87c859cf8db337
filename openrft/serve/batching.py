"""Request batching: one queue per model; a loop takes the first waiting request and all
that are queued behind it (up to `max_batch`), and makes one model call for all of them on
the generation thread. Requests that arrive while a batch generates wait in the queue and
form the next batch. When the previous batch had more than one request (clients are
concurrent), the loop also waits up to `window` seconds for the batch to reach the previous
batch's size before calling the model.

When a call for several requests fails, each is run again alone, so only the request that
fails gets the error and its neighbours still get answers (one bad request never fails
another client's). A failure never stops the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

__all__ = ["Batcher"]

log = logging.getLogger(__name__)
Pending = tuple[Any, "asyncio.Future[Any]"]


class Batcher:
    def __init__(
        self,
        run: Callable[[list[Any]], list[Any]],
        executor: Executor,
        *,
        window: float,
        max_batch: int,
    ):
        self.run, self.executor = run, executor
        self.window, self.max_batch = window, max_batch
        self.queue: asyncio.Queue[Pending] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.batch_sizes: list[int] = []
        """Sizes of the batches run so far (for the benchmark and tests)."""

    async def submit(self, request: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self.queue.put((request, future))
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._loop())
        return await future

    async def _gather(self) -> list[Pending]:
        batch = [await self.queue.get()]
        while len(batch) < self.max_batch and not self.queue.empty():
            batch.append(self.queue.get_nowait())
        # Wait for stragglers only under concurrency (the last batch had company), and only
        # until the batch is as large as the last one: a lone client never pays the window,
        # and steady concurrent clients are answered as soon as they have all asked.
        previous = self.batch_sizes[-1] if self.batch_sizes else 1
        want = min(self.max_batch, previous)
        if len(batch) < want:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.window
            while len(batch) < want and (remaining := deadline - loop.time()) > 0:
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), remaining))
                except TimeoutError:
                    break
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            live = [(request, future) for request, future in batch if not future.done()]
            if not live:
                continue
            self.batch_sizes.append(len(live))
            try:
                results = await loop.run_in_executor(
                    self.executor, self.run, [request for request, _ in live]
                )
            except Exception as exc:  # boundary: the batch's callers get the error
                log.warning("model call failed for a batch of %d: %s", len(live), exc)
                if len(live) == 1:
                    _settle(live[0][1], exc)
                else:
                    await self._one_by_one(live)
                continue
            for (_, future), result in zip(live, results, strict=True):
                _settle(future, result)

    async def _one_by_one(self, batch: list[Pending]) -> None:
        loop = asyncio.get_running_loop()
        for request, future in batch:
            try:
                (result,) = await loop.run_in_executor(self.executor, self.run, [request])
            except Exception as exc:  # boundary: this request's caller gets its own error
                result = exc
            _settle(future, result)

    async def aclose(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    """Answer a caller that is still waiting (one that gave up is left alone)."""
    if future.done():
        return
    if isinstance(result, Exception):
        future.set_exception(result)
    else:
        future.set_result(result)
