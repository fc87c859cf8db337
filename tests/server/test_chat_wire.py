"""The chat route's body against the SDK: every field `CompletionCreateParams` can send is
taken (honoured or documented as ignored); a bad request is a 400 before it joins a batch, so
its neighbours share one model call; unknown methods on known paths answer like OpenAI."""

from __future__ import annotations

import asyncio
import threading
import typing
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types.chat import completion_create_params

from openrft.server.wire import ChatCompletionRequest
from tests.server.conftest import Live

USER = [{"role": "user", "content": "hello"}]
DOCS = Path(__file__).parents[2] / "docs" / "server.md"
EFFORTS = ["none", "minimal", "low", "medium", "high", "xhigh", "max"]

# One value per field the SDK can send; a field a future SDK adds is missing here and fails
# `test_every_sdk_field_is_listed`, until it is accepted, documented and given a value.
EXAMPLES: dict[str, Any] = {
    "messages": USER,
    "model": "openrft-tiny",
    "audio": {"format": "wav", "voice": "alloy"},
    "frequency_penalty": 0.5,
    "function_call": "auto",
    "functions": [{"name": "lookup", "parameters": {"type": "object"}}],
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "max_completion_tokens": 50,
    "max_tokens": 40,
    "metadata": {"purpose": "test"},
    "modalities": ["text"],
    "moderation": {"model": "omni-moderation-latest", "policy": {"input": {"mode": "score"}}},
    "n": 2,
    "parallel_tool_calls": False,
    "prediction": {"type": "content", "content": "olleh"},
    "presence_penalty": -0.5,
    "prompt_cache_key": "k",
    "prompt_cache_options": {"mode": "implicit", "ttl": "30m"},
    "prompt_cache_retention": "24h",
    "reasoning_effort": "low",
    "response_format": {"type": "text"},
    "safety_identifier": "user-1",
    "seed": 7,
    "service_tier": "auto",
    "stop": ["\n\n"],
    "store": False,
    "stream": False,
    "stream_options": None,
    "temperature": 0.7,
    "tool_choice": "auto",
    "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {}}}],
    "top_logprobs": 2,
    "top_p": 0.9,
    "user": "user-1",
    "verbosity": "low",
    "web_search_options": {"search_context_size": "low"},
}


def sdk_fields() -> set[str]:
    hints = typing.get_type_hints(completion_create_params.CompletionCreateParamsNonStreaming)
    streaming = typing.get_type_hints(completion_create_params.CompletionCreateParamsStreaming)
    return set(hints) | set(streaming)


def client(live: Live) -> OpenAI:
    return OpenAI(base_url=live.base_url, api_key="key-a", max_retries=0,
                  _strict_response_validation=True)  # fmt: skip


def test_every_sdk_field_is_listed_accepted_and_documented() -> None:
    fields = sdk_fields()
    assert fields == set(EXAMPLES)
    assert fields <= set(ChatCompletionRequest.model_fields)
    docs = DOCS.read_text()
    assert [field for field in sorted(fields) if f"`{field}`" not in docs] == []


def test_a_request_with_every_sdk_field_is_answered(live: Live) -> None:
    with client(live) as sdk:
        reply = sdk.chat.completions.create(**EXAMPLES)
        assert [choice.finish_reason for choice in reply.choices] == ["tool_calls"] * 2
        sent = live.backend.requests[-1]
        stream = sdk.chat.completions.create(**{**EXAMPLES, "stream": True, "n": 1,
                                                "stream_options": {"include_usage": True}})  # fmt: skip
        reasons = [c.choices[0].finish_reason for c in stream if c.choices]
        assert reasons[-1] == "tool_calls"
    assert sent["max_tokens"] == 50 and sent["reasoning_effort"] == "low"


@pytest.mark.parametrize("effort", EFFORTS)
def test_every_reasoning_effort_is_accepted(live: Live, effort: str) -> None:
    with client(live) as sdk:
        reply = sdk.chat.completions.create(
            model="openrft-tiny", messages=USER, reasoning_effort=effort
        )  # type: ignore[arg-type]
        assert reply.choices[0].message.content == "olleh"
    assert live.backend.requests[-1]["reasoning_effort"] == effort


def test_a_token_cap_above_the_context_is_lowered_to_it(live: Live) -> None:
    with client(live) as sdk:
        sdk.chat.completions.create(model="openrft-tiny", messages=USER)  # loads the model
        sdk.chat.completions.create(
            model="openrft-tiny", messages=USER, max_completion_tokens=32768
        )  # type: ignore[arg-type]
    assert live.backend.requests[-1]["max_tokens"] == live.backend.context


def deep_schema(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "array", "items": schema}
    return schema


def json_schema(schema: Any) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}


BAD: list[tuple[dict[str, Any], str]] = [
    ({"response_format": {"type": "yaml"}}, "response_format.type"),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "response_format"),
    ({"response_format": json_schema({"type": "null"})}, "response_format"),
    ({"response_format": json_schema({"type": "object", "properties": [1]})}, "response_format"),
    ({"response_format": json_schema(deep_schema(70))}, "response_format"),
    ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
    ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools[0].function.name"),
    (
        {"tools": [{"type": "function", "function": {"name": "f", "parameters": 3}}]},
        "tools[0].function.parameters",
    ),
    ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"logit_bias": {"50256": 101}}, "logit_bias"),
    ({"logit_bias": {"word": 1}}, "logit_bias"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
    (
        {"messages": [{"role": "user", "content": [{"type": "text"}]}]},
        "messages[0].content[0].text",
    ),
    ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ({"top_logprobs": 21}, "top_logprobs"),
]


@pytest.mark.parametrize(("change", "param"), BAD)
def test_a_bad_request_is_a_400_naming_its_parameter(
    live: Live, change: dict[str, Any], param: str
) -> None:
    body = {"model": "openrft-tiny", "messages": USER, **change}
    calls = len(live.backend.calls)
    with client(live) as sdk, pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(**body)
    assert caught.value.param == param
    assert len(live.backend.calls) == calls  # refused before any model call


async def test_one_bad_request_does_not_poison_its_batch(live: Live) -> None:
    """While the model is busy, three good requests and one with a schema that cannot compile
    arrive together: the bad one is a 400 at once, the three share one model call."""
    live.backend.gate = gate = threading.Event()
    bad_format = json_schema({"type": "object", "properties": {"a": {"type": "null"}}})
    try:
        async with AsyncOpenAI(base_url=live.base_url, api_key="key-a", max_retries=0) as sdk:

            def ask(text: str, **extra: Any) -> Any:
                messages = [{"role": "user", "content": text}]
                return asyncio.ensure_future(
                    sdk.chat.completions.create(model="openrft-tiny", messages=messages, **extra)
                )

            busy = ask("__gate__")
            await _until(lambda: bool(live.backend.calls) and "__gate__" in _last(live))
            before = len(live.backend.calls)
            good = [ask(text) for text in ("one", "two", "three")]
            bad = ask("four", response_format=bad_format)
            batcher = next(iter(live.app.state.engine.batchers.values()))
            await _until(lambda: bad.done() and batcher.queued() >= 3)
            gate.set()
            answers = await asyncio.gather(*good)
            await busy
            with pytest.raises(openai.BadRequestError) as caught:
                await bad
    finally:
        gate.set()
        live.backend.gate = None
    assert [a.choices[0].message.content for a in answers] == ["eno", "owt", "eerht"]
    assert caught.value.param == "response_format"
    assert [size for _, size in live.backend.calls[before:]] == [3]


def _last(live: Live) -> str:
    return str(live.backend.requests[-1]["messages"][-1]["content"])


async def _until(ready: Any, bound: float = 10.0) -> None:
    """Poll until `ready()`; give up after `bound` seconds (the asserts then say what broke)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while not ready() and loop.time() < deadline:
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/chat/completions"),
                                              ("PUT", "/v1/files"), ("DELETE", "/v1/embeddings")])  # fmt: skip
def test_an_unknown_method_on_a_known_path_is_404_invalid_url(
    live: Live, method: str, path: str
) -> None:
    reply = httpx.request(method, live.url + path, headers={"Authorization": "Bearer key-a"})
    assert reply.status_code == 404 and "allow" not in reply.headers
    assert reply.json() == {"error": {"message": f"Invalid URL ({method} {path})",
                                      "type": "invalid_request_error", "param": None, "code": None}}  # fmt: skip
