"""Where evaluated answers come from: any OpenAI-compatible endpoint, or a model in-process.

`EndpointSampler` speaks Chat Completions through the `openai` SDK (an `openrft serve`, or any
compatible server); `LocalSampler` loads `openrft-tiny`, a model directory or a checkpoint
behind the completion seam (`openrft.models.completion`) and generates in a worker thread.
Both return `Answer`s with token counts and the wall time of the request that produced them,
to a model already loaded: `EndpointSampler` first sends each model one unmeasured 1-token
request (a server that loads models on first use, like `openrft serve`, loads it then), and
`LocalSampler` times the generation alone, never the load or the wait for another row's
generation. So `gate --max-latency-p95` never fails on a model's load time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from openrft.models.completion import ChatRequest, Completer


@dataclass
class Answer:
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency: float = 0.0
    """Seconds for the request that produced this answer (shared by its `n` siblings)."""


@dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    max_tokens: int | None = None
    seed: int | None = None
    response_format: dict[str, Any] | None = None


class Sampler(Protocol):
    async def sample(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[Any] | None,
        params: SamplingParams,
    ) -> list[Answer]: ...

    async def aclose(self) -> None: ...


class EndpointSampler:
    def __init__(self, base_url: str, *, api_key: str | None = None, concurrency: int = 16):
        from openai import AsyncOpenAI

        self._client: Any = AsyncOpenAI(base_url=base_url, api_key=api_key or "unused", timeout=300)
        self._gate = asyncio.Semaphore(concurrency)
        self._warm: set[str] = set()
        self._warming = asyncio.Lock()

    async def sample(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[Any] | None,
        params: SamplingParams,
    ) -> list[Answer]:
        extra: dict[str, Any] = {}
        if tools:
            extra["tools"] = tools
        if params.response_format:
            extra["response_format"] = params.response_format
        if params.max_tokens is not None:
            extra["max_completion_tokens"] = params.max_tokens
        if params.seed is not None:
            extra["seed"] = params.seed
        await self._warm_up(model, messages)
        async with self._gate:
            start = time.perf_counter()
            response = await self._client.chat.completions.create(
                model=model, messages=messages, n=params.n, temperature=params.temperature, **extra
            )
            latency = time.perf_counter() - start
        usage = response.usage
        prompt = usage.prompt_tokens if usage else 0
        completion = (usage.completion_tokens if usage else 0) // max(1, len(response.choices))
        return [_answer(choice, prompt, completion, latency) for choice in response.choices]

    async def _warm_up(self, model: str, messages: list[dict[str, Any]]) -> None:
        """One unmeasured request per model before the measured ones, so none of them waits for
        the server to load it. Its failure is left to the measured request to report."""
        from openai import OpenAIError

        async with self._warming:
            if model in self._warm:
                return
            with contextlib.suppress(OpenAIError):  # the measured request reports it
                await self._client.chat.completions.create(
                    model=model, messages=messages, n=1, max_completion_tokens=1
                )
            self._warm.add(model)

    async def aclose(self) -> None:
        await self._client.close()


def _answer(choice: Any, prompt: int, completion: int, latency: float) -> Answer:
    calls = [call.model_dump() for call in (choice.message.tool_calls or [])]
    text = choice.message.content or ""
    return Answer(text, calls, choice.finish_reason or "stop", prompt, completion, latency)


class LocalSampler:
    """In-process generation (no server) through the completion seam's in-process engine
    (`openrft.models.local.LocalCompleter`, the one serving and training use); one model loaded
    at a time, generation in a thread.

    Rows are sampled concurrently, so loading sits behind its own lock: the first row loads the
    model, the others wait for it and reuse it (two loads of one model at once leave meta
    tensors behind in transformers)."""

    def __init__(self, home: Path):
        self.home = home
        self._loaded: dict[str, Completer] = {}
        self._lock = asyncio.Lock()
        self._load_lock = asyncio.Lock()

    async def sample(
        self,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[Any] | None,
        params: SamplingParams,
    ) -> list[Answer]:
        completer = await self._load(model)
        request = ChatRequest(
            messages=messages, n=params.n, max_tokens=params.max_tokens,
            temperature=params.temperature, seed=params.seed,
            response_format=params.response_format, tools=tools,
        )  # fmt: skip
        async with self._lock:  # one generation at a time: the model is not thread-safe
            start = time.perf_counter()  # after the wait: latency is this request's generation
            (answer,) = await asyncio.to_thread(completer.chat_completions, [request])
            latency = time.perf_counter() - start
        if isinstance(answer, Exception):
            raise answer
        return [
            Answer(
                c.text,
                list(c.tool_calls),
                c.finish_reason,
                c.prompt_tokens,
                c.completion_tokens,
                latency,
            )
            for c in answer
        ]

    async def _load(self, model: str) -> Completer:
        async with self._load_lock:
            if model not in self._loaded:
                from openrft.models.local import load_completer

                self._loaded.clear()  # drop the previous model before loading the next
                self._loaded[model] = await asyncio.to_thread(load_completer, model, home=self.home)
            return self._loaded[model]

    async def aclose(self) -> None:
        self._loaded.clear()
