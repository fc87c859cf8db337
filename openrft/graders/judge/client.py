"""The judge client: any OpenAI-compatible Chat Completions endpoint (decision G6).

Guarantees: at most `concurrency` requests in flight, our own retries (backoff with jitter,
`retry-after` honoured), a timeout per request, one fallback for judges without structured
outputs (the schema stated in a final user message; remembered per model), answers cached by
request, every spent token charged to the run's `JudgeBudget`. Does not guarantee: that the
judge is any good. A failure after retries raises `JudgeServerError`, which the model graders
turn into `model_grader_server_error`.

The SDK client and the semaphore exist once per event loop (see `loop`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import weakref
from typing import TYPE_CHECKING, Any

from openrft.graders.judge import http as judge_http
from openrft.graders.judge.budget import JudgeBudget
from openrft.graders.judge.cache import LRUCache, cache_key
from openrft.graders.judge.disk_cache import DiskCache
from openrft.graders.judge.loop import Loops, open_client
from openrft.graders.judge.settings import JudgeSettings
from openrft.graders.judge.wire import JudgeReply, fallback_body, to_reply

if TYPE_CHECKING:
    from openrft.graders.context import GraderContext

PROJECT_HEADER = "OpenRFT-Project"
"""Names the project a judge request grades for; openrft's server honours it only with the
judge's own key (`OPENRFT_JUDGE_API_KEY`), on the chat route."""

__all__ = ["PROJECT_HEADER", "JudgeClient", "JudgeServerError", "JudgeSettings", "judge_of"]

log = logging.getLogger(__name__)


class JudgeServerError(Exception):
    """The judge could not be asked: transport or HTTP failure after every retry."""

    def __init__(self, details: str, failure: judge_http.Failure | None = None):
        super().__init__(details)
        self.details = details
        self.failure = failure


class JudgeClient:
    def __init__(self, settings: JudgeSettings | None = None):
        self.settings = settings or JudgeSettings()
        self.cache: LRUCache[JudgeReply] = LRUCache(self.settings.cache_entries)
        self.disk = _disk_cache(self.settings)
        self.structured: dict[str, bool] = {}
        """Per judge model: True once a structured call worked, False once it was refused."""
        self.requests = 0
        """HTTP requests sent (retries and fallbacks included)."""
        self._loops: Loops = weakref.WeakKeyDictionary()

    @classmethod
    def from_env(cls) -> JudgeClient:
        return cls(JudgeSettings.from_env())

    def caches(self, body: dict[str, Any]) -> bool:
        mode = self.settings.cache
        return mode == "on" or (mode == "auto" and body.get("seed") is not None)

    async def complete(
        self, body: dict[str, Any], budget: JudgeBudget | None, project: str = "default"
    ) -> JudgeReply:
        """The judge's answer to a structured request body (`model`, `messages`, params,
        `response_format`), from the cache when the same project sent the same request before.
        The request names `project` (`OpenRFT-Project`): openrft's own server answers it as
        that project, so a judge reaches that project's `ft:` models and no other's."""
        key = _project_key(project, body) if self.caches(body) else None
        if key is not None and (hit := self._cached(key)) is not None:
            return dataclasses.replace(hit, usage=None, cached=True)
        if budget is not None:
            budget.check()
        reply = await self._structured_or_fallback(body, project)
        if budget is not None:
            budget.charge(reply.total_tokens, reply.model)
        return dataclasses.replace(reply, cache_key=key)

    def remember(self, reply: JudgeReply) -> None:
        """Cache an answer that graded cleanly (refusals and garbled answers are asked again)."""
        if reply.cache_key is None or reply.cached:
            return
        self.cache.put(reply.cache_key, reply)
        if self.disk is not None:
            self.disk.put(reply.cache_key, reply.stored())

    def _cached(self, key: str) -> JudgeReply | None:
        hit = self.cache.get(key)
        if hit is None and self.disk is not None:
            stored = self.disk.get(key)
            hit = JudgeReply.from_stored(stored, key) if stored is not None else None
            if hit is not None:
                self.cache.put(key, hit)
        return hit

    async def _structured_or_fallback(self, body: dict[str, Any], project: str) -> JudgeReply:
        model = body["model"]
        if self.structured.get(model) is False:
            return await self._send(fallback_body(body), project)
        try:
            reply = await self._send(body, project)
        except JudgeServerError as exc:
            failure = exc.failure
            first = model not in self.structured
            if failure is None or not judge_http.rejects_schema(failure, first):
                raise
            note = "judge %s refused a structured request (%s); asking once more without "
            note += "response_format, with the schema in a user message"
            log.warning(note, model, failure.details)
            try:
                reply = await self._send(fallback_body(body), project)
            except JudgeServerError as again:
                raise _both(exc, again) from None
            self.structured[model] = False
            return reply
        self.structured[model] = True
        return reply

    async def _send(self, body: dict[str, Any], project: str) -> JudgeReply:
        state = await open_client(self.settings, self._loops)
        settings = self.settings
        attempt = 0
        while True:
            try:
                async with state.gate:
                    self.requests += 1
                    async with asyncio.timeout(settings.timeout):  # the SDK's is per phase
                        completion = await state.post(body, {PROJECT_HEADER: project})
                return to_reply(completion, body["model"])
            except Exception as exc:
                failure = judge_http.classify(exc, settings.timeout)
            if not failure.retryable or attempt >= settings.max_retries:
                tries = f" (after {attempt + 1} attempts)" if attempt else ""
                raise JudgeServerError(failure.details + tries, failure)
            delay = judge_http.backoff(
                attempt, settings.backoff_base, settings.backoff_max, failure.retry_after
            )
            log.info("judge retry %d in %.2f s: %s", attempt + 1, delay, failure.details)
            await asyncio.sleep(delay)
            attempt += 1

    async def aclose(self) -> None:
        """Close this loop's connections now (they are closed with the loop otherwise)."""
        state = self._loops.get(asyncio.get_running_loop())
        if state is not None:
            await state.aclose()


def _both(structured: JudgeServerError, fallback: JudgeServerError) -> JudgeServerError:
    """Both answers, when the request failed with and without `response_format`: the first
    one names the cause; the second says the schema was not it."""
    details = f"{structured.details}; without response_format: {fallback.details}"
    return JudgeServerError(details, fallback.failure)


def _project_key(project: str, body: dict[str, Any]) -> str:
    """The cache key: one project's answers are never another's (default keeps bare keys)."""
    key = cache_key(body)
    return key if project == "default" else f"{project}:{key}"


def _disk_cache(settings: JudgeSettings) -> DiskCache | None:
    if not settings.cache_file or settings.cache == "off":
        return None
    return DiskCache(settings.cache_file, namespace=settings.base_url.rstrip("/") + " ")


def judge_of(ctx: GraderContext) -> JudgeClient:
    """The context's judge; built from the environment on first use and kept on the context's
    root (`GraderContext.root`), so a project's view shares it."""
    root = ctx.root()
    if root.judge is None:
        root.judge = JudgeClient.from_env()
    return root.judge
