"""The serving engine: which weights a model name means, loaded once, called in batches.

Guarantees: a fine-tuned or checkpoint model is the caller's project's (404 otherwise);
only checkpoints the job recorded (complete and verified) are ever loaded, so a checkpoint
being written is never served; every model call runs on one generation thread (torch
already uses every core; two concurrent generates would only fight), which also owns the
model cache (LRU, `max_models`), so the cache needs no lock.
A streamed request carries an `on_text` listener that hears its text as it is generated
(`openrft.server.chat_stream`). What it does not do: share one batch across different models.
"""

from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from openrft.jobs.models import ModelCatalog
from openrft.serve.backend import Backend, TorchBackend
from openrft.serve.batching import Batcher
from openrft.server.config import Settings
from openrft.store.db import Database

__all__ = ["Engine"]


class Engine:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        backend: Backend | None = None,
        max_models: int = 4,
    ):
        self.backend: Backend = backend or TorchBackend(settings.home)
        self.catalog = ModelCatalog(db)
        self.window = settings.batch_window_ms / 1000
        self.max_batch = settings.max_batch
        self.max_models = max_models
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="openrft-generate")
        self._models: OrderedDict[str, Any] = OrderedDict()
        self.batchers: dict[str, Batcher] = {}
        self.contexts: dict[str, int] = {}
        """Context length per model loaded so far (for `chat_checks.token_cap`)."""

    def resolve(self, project: str, name: str) -> str:
        return self.catalog.resolve(project, name)

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
        return loaded

    async def complete(self, target: str, params: dict[str, Any]) -> list[Any]:
        """The completions (`n` of them) for one chat request, batched with its neighbours."""
        batcher = self.batchers.get(target)
        if batcher is None:

            def run(requests: list[Any]) -> list[list[Any]]:
                return self.backend.complete(self._loaded(target), requests)

            batcher = Batcher(run, self.executor, window=self.window, max_batch=self.max_batch)
            self.batchers[target] = batcher
        result: list[Any] = await batcher.submit(self.backend.request(**params))
        return result

    async def embed(self, target: str, texts: list[str]) -> tuple[list[list[float]], int]:
        import asyncio

        def run() -> tuple[list[list[float]], int]:
            return self.backend.embed(self._loaded(target), texts)

        return await asyncio.get_running_loop().run_in_executor(self.executor, run)

    def stats(self) -> dict[str, dict[str, int]]:
        """Per served model: model calls so far, requests they carried, the largest batch."""
        return {
            target: {
                "batches": len(batcher.batch_sizes),
                "requests": sum(batcher.batch_sizes),
                "largest": max(batcher.batch_sizes, default=0),
            }
            for target, batcher in self.batchers.items()
        }

    async def aclose(self) -> None:
        for batcher in self.batchers.values():
            await batcher.aclose()
        self.executor.shutdown(wait=True, cancel_futures=True)
