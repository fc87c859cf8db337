"""Grader endpoints (spec §4), chat completions (stream, n, tools, response_format, usage),
models and embeddings, with the scripted backend; and request batching under concurrency."""

from __future__ import annotations

import asyncio
import base64
import struct
import threading
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.server.conftest import Live

GRADER = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
          "reference": "{{item.answer}}", "operation": "eq"}  # fmt: skip
USER = [{"role": "user", "content": "hello"}]


def client(live: Live, strict: bool = True) -> OpenAI:
    return OpenAI(base_url=live.base_url, api_key="key-a", max_retries=0,
                  _strict_response_validation=strict)  # fmt: skip


def test_validate_and_run(live: Live) -> None:
    with client(live) as sdk:
        graders = sdk.fine_tuning.alpha.graders
        assert graders.validate(grader=GRADER).grader is not None  # type: ignore[arg-type]
        ran = graders.run(grader=GRADER, model_sample="4", item={"answer": "4"})  # type: ignore[arg-type]
        assert (
            ran.reward == 1.0
            and ran.metadata.name == "exact"
            and ran.metadata.type == "string_check"
        )
        assert ran.metadata.errors.invalid_variable_error is False
        missing = graders.run(grader=GRADER, model_sample="4", item={})  # type: ignore[arg-type]
        assert missing.reward == 0.0 and missing.metadata.errors.invalid_variable_error is True
        with pytest.raises(openai.BadRequestError) as caught:
            graders.validate(grader={**GRADER, "operation": "nope"})  # type: ignore[arg-type]
        assert caught.value.param == "grader.operation"


def test_multi_grader_map_runs(live: Live) -> None:
    multi = {"type": "multi", "name": "m", "calculate_output": "0.5 * a + 0.5 * b",
             "graders": {"a": GRADER, "b": {**GRADER, "operation": "ne"}}}  # fmt: skip
    with client(live, strict=False) as sdk:
        ran = sdk.fine_tuning.alpha.graders.run(
            grader=multi, model_sample="4", item={"answer": "4"}
        )  # type: ignore[arg-type]
        assert ran.reward == 0.5 and ran.sub_rewards == {"a": 1.0, "b": 0.0}


def test_chat_shapes(live: Live) -> None:
    with client(live) as sdk:
        reply = sdk.chat.completions.create(model="openrft-tiny", messages=USER, n=2, seed=1)  # type: ignore[arg-type]
        assert reply.object == "chat.completion" and reply.model == "openrft-tiny"
        assert [choice.message.content for choice in reply.choices] == ["olleh", "olleh"]
        assert [choice.index for choice in reply.choices] == [0, 1]
        assert reply.usage and (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (5, 10)
        assert reply.usage.total_tokens == 15
        cut = sdk.chat.completions.create(
            model="openrft-tiny", messages=USER, max_completion_tokens=2
        )  # type: ignore[arg-type]
        assert cut.choices[0].finish_reason == "length" and cut.choices[0].message.content == "ol"
        schema = {"type": "json_schema", "json_schema": {"name": "a", "strict": True, "schema": {
            "type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}}}  # fmt: skip
        structured = sdk.chat.completions.create(
            model="openrft-tiny", messages=USER, response_format=schema
        )  # type: ignore[arg-type]
        assert structured.choices[0].message.content == '{"answer": "olleh"}'
        tool = {
            "type": "function",
            "function": {"name": "lookup", "parameters": {"type": "object"}},
        }
        called = sdk.chat.completions.create(model="openrft-tiny", messages=USER, tools=[tool])  # type: ignore[list-item, arg-type]
        choice = called.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
        assert choice.message.tool_calls[0].function.name == "lookup"  # type: ignore[union-attr]
        with pytest.raises(openai.NotFoundError) as caught:
            sdk.chat.completions.create(model="ft:nope:x::12345678", messages=USER)  # type: ignore[arg-type]
        assert caught.value.code == "model_not_found"
        with pytest.raises(openai.BadRequestError) as bad:
            sdk.chat.completions.create(model="openrft-tiny", messages=USER, temperature=5)  # type: ignore[arg-type]
        assert bad.value.param == "temperature"


def test_chat_streams(live: Live) -> None:
    with client(live) as sdk:
        stream = sdk.chat.completions.create(model="openrft-tiny", stream=True, n=2,
            messages=[{"role": "user", "content": "one two three"}],
            stream_options={"include_usage": True})  # fmt: skip
        texts = {0: "", 1: ""}
        reasons, usage = {}, None
        for chunk in stream:
            assert chunk.object == "chat.completion.chunk"
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                texts[choice.index] += choice.delta.content or ""
                if choice.finish_reason:
                    reasons[choice.index] = choice.finish_reason
        assert texts == {0: "eerht owt eno", 1: "eerht owt eno"} and reasons == {
            0: "stop",
            1: "stop",
        }
        assert usage is not None and usage.completion_tokens == 26


async def test_async_stream_and_models(live: Live) -> None:
    async with AsyncOpenAI(base_url=live.base_url, api_key="key-a", max_retries=0,
                           _strict_response_validation=True) as sdk:  # fmt: skip
        stream = await sdk.chat.completions.create(model="openrft-tiny", messages=USER, stream=True)  # type: ignore[arg-type]
        text = "".join(
            [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
        )
        assert text == "olleh"
        models = await sdk.models.list()
        assert "openrft-tiny" in [model.id async for model in models]
        assert (await sdk.models.retrieve("openrft-tiny")).object == "model"


def test_embeddings(live: Live) -> None:
    # The SDK asks for base64 unless told otherwise and decodes after validating, so its
    # strict mode only works with encoding_format="float"; the default goes through a loose one.
    with client(live) as sdk, client(live, strict=False) as loose:
        out = sdk.embeddings.create(
            model="openrft-tiny", input=["a", "bb"], encoding_format="float"
        )
        assert [item.index for item in out.data] == [0, 1] and len(out.data[0].embedding) == 8
        assert out.usage.prompt_tokens == 3
        again = sdk.embeddings.create(
            model="openrft-tiny", input="a", dimensions=4, encoding_format="float"
        )
        assert len(again.data[0].embedding) == 4
        decoded = loose.embeddings.create(model="openrft-tiny", input=["a", "bb"])
        assert decoded.data[1].embedding == pytest.approx(out.data[1].embedding)
        raw = loose.post("/embeddings", cast_to=object, body={"model": "openrft-tiny", "input": "a",
                                                               "encoding_format": "base64"})  # fmt: skip
        packed = base64.b64decode(raw["data"][0]["embedding"])  # type: ignore[index]
        assert list(struct.unpack("<8f", packed)) == pytest.approx(out.data[0].embedding)


async def test_concurrent_requests_are_batched(live: Live) -> None:
    live.backend.delay = 0.05
    live.backend.calls.clear()
    try:
        async with AsyncOpenAI(base_url=live.base_url, api_key="key-a", max_retries=0) as sdk:
            replies = await asyncio.gather(*[
                sdk.chat.completions.create(model="openrft-tiny",
                                            messages=[{"role": "user", "content": f"q{i}"}])
                for i in range(16)])  # fmt: skip
        assert sorted(reply.choices[0].message.content or "" for reply in replies) == sorted(
            f"q{i}"[::-1] for i in range(16)
        )
        sizes = [size for _, size in live.backend.calls]
        assert sum(sizes) == 16 and max(sizes) >= 8 and len(sizes) <= 4
    finally:
        live.backend.delay = 0.0


def test_python_grader_runs_in_the_sandbox(live: Live) -> None:
    tier = httpx.get(live.url + "/health").json()["sandbox"]
    if tier.startswith("unavailable"):
        pytest.skip(f"no python-grader sandbox here: {tier}")
    source = (
        "def grade(sample, item):\n    return 1.0 if sample['output_text'] == item['a'] else 0.25\n"
    )
    grader = {"type": "python", "name": "py", "source": source}
    with client(live) as sdk:
        graders = sdk.fine_tuning.alpha.graders
        assert graders.run(grader=grader, model_sample="x", item={"a": "x"}).reward == 1.0  # type: ignore[arg-type]
        assert graders.run(grader=grader, model_sample="y", item={"a": "x"}).reward == 0.25  # type: ignore[arg-type]
        broken = graders.run(grader={**grader, "source": "def grade(sample, item):\n    1/0\n"},  # type: ignore[arg-type]
                             model_sample="x")  # fmt: skip
        assert broken.reward == 0.0 and broken.metadata.errors.python_grader_runtime_error


def test_a_stream_sends_text_while_the_model_is_still_generating(live: Live) -> None:
    """The fake model stops after its first word until this client has received it: a
    server that sent chunks only after generating would never let it go on."""
    live.backend.hold = threading.Event()
    try:
        with client(live) as sdk:
            stream = sdk.chat.completions.create(model="openrft-tiny", stream=True,
                messages=[{"role": "user", "content": "stream alpha beta gamma"}])  # fmt: skip
            text, reasons = "", []
            for chunk in stream:
                for choice in chunk.choices:
                    text += choice.delta.content or ""
                    reasons.append(choice.finish_reason)
                    if text:
                        live.backend.hold.set()
        assert text == "alpha beta gamma" and reasons[-1] == "stop"
    finally:
        live.backend.hold = None


def test_a_stream_that_fails_midway_ends_with_an_error_the_sdk_raises(live: Live) -> None:
    with client(live) as sdk:
        stream = sdk.chat.completions.create(model="openrft-tiny", stream=True,
            messages=[{"role": "user", "content": "stream alpha __crash__"}])  # fmt: skip
        seen = ""
        with pytest.raises(openai.APIError) as caught:
            for chunk in stream:
                seen += "".join(choice.delta.content or "" for choice in chunk.choices)
        assert seen == "alpha"
        assert "secret" not in str(caught.value)


def test_a_stream_that_fails_before_any_text_is_a_plain_error_response(live: Live) -> None:
    with client(live) as sdk, pytest.raises(openai.InternalServerError) as caught:
        sdk.chat.completions.create(model="openrft-tiny", stream=True,
            messages=[{"role": "user", "content": "__crash__"}])  # fmt: skip
    assert "secret" not in str(caught.value)


def test_a_client_that_leaves_a_stream_early_does_not_disturb_the_next(live: Live) -> None:
    with client(live) as sdk:
        stream = sdk.chat.completions.create(model="openrft-tiny", stream=True,
            messages=[{"role": "user", "content": "stream one two three four"}])  # fmt: skip
        next(iter(stream))
        stream.close()  # gone after the first chunk
        reply = sdk.chat.completions.create(model="openrft-tiny", messages=USER)  # type: ignore[arg-type]
        assert reply.choices[0].message.content == "olleh"


def test_hostile_graders_are_400s_naming_the_field(live: Live) -> None:
    exact = {**GRADER, "reference": "4"}
    hostile = [
        ({**GRADER, "input": "{{ sample.output_json.__class__ }}"}, "grader.input"),
        ({"type": "multi", "graders": {"a": exact}, "calculate_output": "(" * 500 + "a" + ")" * 500},
         "grader.calculate_output"),
        ({"type": "multi", "graders": {"a": exact}, "calculate_output": "-" * 100_000 + "a"},
         "grader.calculate_output"),
    ]  # fmt: skip
    with client(live) as sdk:
        graders = sdk.fine_tuning.alpha.graders
        for grader, param in hostile:
            with pytest.raises(openai.BadRequestError) as caught:
                graders.validate(grader=grader)  # type: ignore[arg-type]
            assert caught.value.param == param, caught.value.message
            with pytest.raises(openai.BadRequestError) as caught:
                graders.run(grader=grader, model_sample='{"a": 1}')  # type: ignore[arg-type]
            assert caught.value.param == param, caught.value.message


def test_image_tag_is_accepted_on_a_score_model(live: Live) -> None:
    # Azure's published sample sends image_tag on a score_model (decision G10).
    judge = {"type": "score_model", "name": "judge", "model": "openrft-tiny",
             "input": [{"role": "user", "content": "Rate {{sample.output_text}}"}],
             "image_tag": "2025-05-08"}  # fmt: skip
    multi = {"type": "multi", "image_tag": "2025-05-08", "calculate_output": "exact",
             "graders": {"exact": {**GRADER, "image_tag": "2025-05-08"}}}  # fmt: skip
    with client(live, strict=False) as sdk:
        graders = sdk.fine_tuning.alpha.graders
        echoed: Any = graders.validate(grader=judge).grader  # type: ignore[arg-type]
        assert echoed.image_tag == "2025-05-08"
        ran = graders.run(grader=multi, model_sample="4", item={"answer": "4"})  # type: ignore[arg-type]
        assert ran.reward == 1.0
