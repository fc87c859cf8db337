"""The serving engine: which weights a model name means, loaded once, called in batches.

Guarantees: a fine-tuned or checkpoint model is the caller's project's (404 otherwise);
only checkpoints the job recorded (complete and verified) are ever loaded, so a checkpoint
being written is never served; every model call goes through one generation thread (two
concurrent generates would only fight for the cores), which also owns the model cache (LRU,
`max_models`), so the cache needs no lock. With the real model and `generation="process"`
(the default) that thread only hands each call to a child process and waits
(`openrft.serve.process`), so generating never holds this process's GIL against the HTTP
event loop; with `"thread"`, or a backend handed in (tests script one), it runs here.
Queued work is capped in tokens: a request that would take the tokens waiting for a batch
past `max_queued_tokens` is refused at once with a 503 (OpenAI's "overloaded"), and a batch
holds at most `max_batch_tokens` (`openrft.serve.batching`).
A streamed request carries an `on_text` listener that hears its text as it is generated
(`openrft.server.chat_stream`). Each request goes to the batcher with a `Ticket`: its size
(for the queue policy, `openrft.serve.batching`), whether it has spoken, and a `cancel` event,
also handed to the backend, that a caller who stops waiting sets. What it does not do: share
one batch across different models.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from openrft import heap
from openrft.errors import ServiceUnavailableError
from openrft.jobs.models import ModelCatalog
from openrft.serve.backend import Backend, TorchBackend
from openrft.serve.batching import Batcher, Ticket
from openrft.serve.settings import ServeSettings
from openrft.store.db import Database

__all__ = ["Engine"]

COMPLETION_GUESS = 256
"""A request's completion budget for its size when it sets none (the model's default)."""
ROOM_POLL = 0.05
"""Seconds between looks at the queue for a request that waits for room (`wait=True`)."""


class Engine:
    def __init__(
        self,
        settings: ServeSettings,
        db: Database,
        *,
        backend: Backend | None = None,
        max_models: int = 4,
    ):
        self.backend: Backend = backend or _real_backend(settings, max_models)
        self.catalog = ModelCatalog(db, settings.base_models)
        self.window = settings.batch_window_ms / 1000
        self.max_batch = settings.max_batch
        self.max_batch_tokens = settings.max_batch_tokens
        self.max_queued_tokens = settings.max_queued_tokens
        self.max_models = max_models
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="openrft-generate")
        self._models: OrderedDict[str, Any] = OrderedDict()
        self.batchers: dict[str, Batcher] = {}
        self.names: dict[tuple[str, str], str] = {}
        """(project, model name) -> target, for per-project counters that name no path."""
        self.contexts: dict[str, int] = {}
        """Context length per model loaded so far (for `chat_checks.token_cap`)."""

    def resolve(self, project: str, name: str) -> str:
        target = self.catalog.resolve(project, name)
        self.names[(project, name)] = target
        return target

    def _loaded(self, target: str) -> Any:
        """On the generation thread only."""
        if target in self._models:
            self._models.move_to_end(target)
            return self._models[target]
        loaded = self.backend.load(target)
        self._models[target] = loaded
        context = getattr(self.backend, "context_length", None)
        if context is not None and (length := context(loaded)) is not None:
            self.contexts[target] = int(length)
        while len(self._models) > self.max_models:
            self._models.popitem(last=False)
        if isinstance(self.backend, TorchBackend):  # the model is in this process
            heap.settle()
        return loaded

    async def complete(
        self, target: str, params: dict[str, Any], *, wait: bool = False
    ) -> list[Any]:
        """The completions (`n` of them) for one chat request, batched with its neighbours.
        With the queue full, a 503; with `wait` (background work: eval runs), it waits for
        room instead."""
        batcher = self.batchers.get(target)
        if batcher is None:

            def run(requests: list[Any]) -> list[Any]:
                return self.backend.complete(self._loaded(target), requests)

            batcher = Batcher(
                run,
                self.executor,
                window=self.window,
                max_batch=self.max_batch,
                max_tokens=self.max_batch_tokens,
            )
            self.batchers[target] = batcher
        ticket = Ticket(size=_size(params))
        while (full := self._full(ticket.size)) is not None:
            if not wait:
                raise ServiceUnavailableError(full)
            await asyncio.sleep(ROOM_POLL)
        if params.get("on_text") is not None:
            params = {**params, "on_text": _Heard(params["on_text"], ticket)}
        request = self.backend.request(**params, cancel=ticket.cancel)
        result: list[Any] = await batcher.submit(request, ticket)
        return result

    async def embed(self, target: str, texts: list[str]) -> tuple[list[list[float]], int]:
        def run() -> tuple[list[list[float]], int]:
            return self.backend.embed(self._loaded(target), texts)

        return await asyncio.get_running_loop().run_in_executor(self.executor, run)

    def stats(self, project: str) -> dict[str, dict[str, int]]:
        """Per model `project` has called, by the name it used (never a path): model calls
        so far, requests they carried, the largest batch (shared by every name of a target)."""
        return {
            name: _counters(self.batchers[target])
            for (owner, name), target in self.names.items()
            if owner == project and target in self.batchers
        }

    def queued(self) -> int:
        """Chat requests waiting for a model call, over all models."""
        return sum(batcher.queued() for batcher in self.batchers.values())

    def queued_tokens(self) -> int:
        """Their sizes in tokens (estimated), added up."""
        return sum(batcher.queued_tokens() for batcher in self.batchers.values())

    def _full(self, size: int) -> str | None:
        """Why the queue has no room for a request of `size` tokens, or None when it has.
        An empty queue takes any one request, so one larger than the cap is served alone
        rather than never."""
        if not self.max_queued_tokens or not (queued := self.queued_tokens()):
            return None
        if queued + size <= self.max_queued_tokens:
            return None
        return (
            f"The server is overloaded: {queued} tokens are queued for generation and this "
            f"request would take them past {self.max_queued_tokens} "
            "(OPENRFT_MAX_QUEUED_TOKENS). Retry after a brief wait."
        )

    async def aclose(self) -> None:
        for batcher in self.batchers.values():
            await batcher.aclose()
        self.executor.shutdown(wait=True, cancel_futures=True)
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()


def _real_backend(settings: ServeSettings, max_models: int) -> Backend:
    if settings.generation == "thread":
        return TorchBackend(settings.home)
    from openrft.serve.process import ProcessBackend

    backend: Backend = ProcessBackend(partial(TorchBackend, settings.home), max_models=max_models)
    return backend


def _counters(batcher: Batcher) -> dict[str, int]:
    sizes = batcher.batch_sizes
    return {"batches": len(sizes), "requests": sum(sizes), "largest": max(sizes, default=0)}


def _size(params: dict[str, Any]) -> int:
    """Tokens a request's rows may occupy, estimated before tokenizing: a token is at least one
    character of the messages (and tools), plus the completion budget, for each of `n` rows."""
    prompt = len(str(params.get("messages") or "")) + len(str(params.get("tools") or ""))
    completion = params.get("max_tokens") or COMPLETION_GUESS
    return (prompt + int(completion)) * int(params.get("n") or 1)


class _Heard:
    """A stream's listener that marks its ticket once it has heard text."""

    def __init__(self, on_text: Any, ticket: Ticket):
        self.on_text, self.ticket = on_text, ticket

    def __call__(self, choice: int, text: str) -> None:
        self.ticket.spoke = True
        self.on_text(choice, text)
