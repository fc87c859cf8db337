"""Request batching: one queue per model; a loop picks the next batch from the queue and
makes one model call for it on the generation thread. Requests that arrive while a batch
generates wait in the queue and form the next batch. When the previous batch had more than
one request (clients are concurrent), the loop also waits up to `window` seconds for the
queue to reach the previous batch's size before picking.

Which requests share a batch (the queue policy). Each request has a `size`, the tokens its
rows may occupy. A batch is the head request and the requests queued behind it that are
alike in size (neither more than `ALIKE` times the other), up to `max_batch`, in arrival
order, while the batch's sizes add up to at most `max_tokens` (the head always goes, however
large): a long prompt never shares a batch with short ones, where left padding would make
every short row as long and keep its client waiting for the long one's end. The head is the
oldest request, except that a request `ALIKE` times larger than some waiting request lets
the oldest such smaller one go first, at most `PATIENCE` times: short requests run between
long ones, and a long one is passed over a bounded number of times, so nothing starves. A
batch that is generating is never interrupted: a short request that arrives during a long
one waits for its end (prompts are capped to the model's context, `models.generate`).

When a call for several requests fails, each is run again alone, so only the request that
fails gets the error and its neighbours still get answers (one bad request never fails
another client's). A request that already heard text (a stream) is not run again: its
client would hear the text twice (or, sampled, two different texts spliced), so it fails.
A failure never stops the loop.

A caller that stops waiting (its client disconnected, the server is stopping) sets its
ticket's `cancel` event: a request not yet picked is dropped from the queue, and a model call
that carries it stops its rows at the next token (`models.generate`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from openrft.errors import OpenRFTError

__all__ = ["ALIKE", "PATIENCE", "Batcher", "Ticket"]

log = logging.getLogger(__name__)

ALIKE = 4
"""Two requests share a batch only when neither's size is more than this times the other's."""
PATIENCE = 1
"""How many batches of shorter requests may go before a long request that is the oldest."""


@dataclass(eq=False)
class Ticket:
    """What the batcher knows of a request besides the request itself."""

    size: int = 1
    """Tokens its rows may occupy (an estimate: prompt plus completion budget, times rows)."""
    cancel: threading.Event = field(default_factory=threading.Event)
    """Set when its caller stopped waiting; the model call stops its rows at the next token."""
    spoke: bool = False
    """Set (on the generation thread) once it heard text: then it is never run again."""
    passed: int = 0
    """How many batches of shorter requests went before it while it was the oldest."""


@dataclass(eq=False)
class Pending:
    request: Any
    future: asyncio.Future[Any]
    ticket: Ticket


class Batcher:
    def __init__(
        self,
        run: Callable[[list[Any]], list[Any]],
        executor: Executor,
        *,
        window: float,
        max_batch: int,
        max_tokens: int | None = None,
    ):
        self.run, self.executor = run, executor
        self.window, self.max_batch, self.max_tokens = window, max_batch, max_tokens
        self.waiting: list[Pending] = []
        self.running: list[Pending] = []
        self._arrived = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.batch_sizes: list[int] = []
        """Sizes of the batches run so far (for the benchmark and tests)."""

    async def submit(self, request: Any, ticket: Ticket | None = None) -> Any:
        ticket = ticket or Ticket()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting.append(Pending(request, future, ticket))
        self._arrived.set()
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._loop())
        future.add_done_callback(lambda done: _cancel_if_abandoned(done, ticket))
        return await future

    def queued(self) -> int:
        """Requests waiting for a batch whose callers still wait."""
        return sum(not pending.future.done() for pending in self.waiting)

    def queued_tokens(self) -> int:
        """The sizes of the requests `queued()` counts, added up."""
        return sum(p.ticket.size for p in self.waiting if not p.future.done())

    async def _gather(self) -> list[Pending]:
        while not (batch := await self._gathered()):  # all that waited were abandoned
            continue
        return batch

    async def _gathered(self) -> list[Pending]:
        while not self.queued():
            self.waiting = [p for p in self.waiting if not p.future.done()]  # the abandoned
            self._arrived.clear()
            await self._arrived.wait()
        # Wait for stragglers only under concurrency (the last batch had company), and only
        # until the queue is as large as the last batch: a lone client never pays the window,
        # and steady concurrent clients are answered as soon as they have all asked.
        previous = self.batch_sizes[-1] if self.batch_sizes else 1
        want = min(self.max_batch, previous)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window
        while self.queued() < want and (remaining := deadline - loop.time()) > 0:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                break
        return self._pick()

    def _pick(self) -> list[Pending]:
        """The next batch (the queue policy in the module docstring)."""
        live = [pending for pending in self.waiting if not pending.future.done()]
        if not live:
            return []
        head = _head(live)
        size = head.ticket.size
        batch, tokens = [head], size
        for pending in live:
            if len(batch) == self.max_batch:
                break
            fits = self.max_tokens is None or tokens + pending.ticket.size <= self.max_tokens
            if pending is not head and fits and _alike(pending.ticket.size, size):
                batch.append(pending)
                tokens += pending.ticket.size
        self.waiting = [pending for pending in live if pending not in batch]
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            live = self.running = await self._gather()
            self.batch_sizes.append(len(live))
            try:
                results = await loop.run_in_executor(
                    self.executor, self.run, [pending.request for pending in live]
                )
            except Exception as exc:  # boundary: the batch's callers get the error
                log.warning("model call failed for a batch of %d: %s", len(live), exc)
                if len(live) == 1:
                    _settle(live[0].future, exc)
                else:
                    await self._one_by_one(live, exc)
                continue
            for pending, result in zip(live, results, strict=True):
                _settle(pending.future, result)

    async def _one_by_one(self, batch: list[Pending], failure: Exception) -> None:
        loop = asyncio.get_running_loop()
        for pending in batch:
            if pending.future.done():
                continue
            if pending.ticket.spoke:
                _settle(pending.future, _spoke_then_failed(failure))
                continue
            try:
                (result,) = await loop.run_in_executor(self.executor, self.run, [pending.request])
            except Exception as exc:  # boundary: this request's caller gets its own error
                result = exc
            _settle(pending.future, result)

    async def aclose(self) -> None:
        for pending in [*self.waiting, *self.running]:
            pending.ticket.cancel.set()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def _head(live: list[Pending]) -> Pending:
    oldest = live[0]
    if oldest.ticket.passed >= PATIENCE:
        return oldest
    size = oldest.ticket.size
    shorter = next((p for p in live if p.ticket.size * ALIKE < size), None)
    if shorter is None:
        return oldest
    oldest.ticket.passed += 1
    return shorter


def _alike(a: int, b: int) -> bool:
    return max(a, b) <= ALIKE * max(1, min(a, b))


def _spoke_then_failed(failure: Exception) -> Exception:
    """The error for a stream whose batch failed (the failure may be another request's)."""
    log.info("a streamed request is failed with its batch (%s), not retried", failure)
    return OpenRFTError(
        "The model call that was generating this streamed completion failed after its text "
        "began; it is not retried, so no text is sent twice. Retry the request."
    )


def _cancel_if_abandoned(future: asyncio.Future[Any], ticket: Ticket) -> None:
    """A caller gone (its await cancelled): drop it from the queue, or stop its rows."""
    if future.cancelled():
        ticket.cancel.set()


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    """Answer a caller that is still waiting (one that gave up is left alone)."""
    if future.done():
        return
    if isinstance(result, Exception):
        future.set_exception(result)
    else:
        future.set_result(result)
