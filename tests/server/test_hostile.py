"""Hand-made hostile bodies that once answered 500 or never answered: each is now a 4xx with
OpenAI's error body, and the server still serves a normal request right after it.

Raw bytes go out through httpx (the SDK cannot even encode most of them); the normal request
that follows goes through the official SDK. Every request has a client timeout, so a hang
fails the test instead of stalling it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from openrft.server.json_body import MAX_DEPTH
from openrft.server.routers.evals import MAX_SCHEMA_DEPTH
from tests.server.conftest import Live
from tests.server.test_jobs import ROWS, upload

KEY = "key-a"
TIMEOUT = 20
CHAT = {"model": "openrft-tiny", "messages": [{"role": "user", "content": "hello"}]}
EMBED = {"model": "openrft-tiny", "input": "hello"}


def nested(levels: int, leaf: Any, wrap: Any) -> Any:
    for _ in range(levels):
        leaf = wrap(leaf)
    return leaf


def object_schema(levels: int) -> dict[str, Any]:
    """An item schema `levels` objects deep (two JSON levels each: the schema, `properties`)."""
    leaf = {"type": "string"}
    return nested(levels, leaf, lambda s: {"type": "object", "properties": {"a": s}})


PAST_BOUND = MAX_SCHEMA_DEPTH // 2
"""Object levels that take an item schema just past its bound (it nests 2 × levels + 1)."""


def tools(levels: int) -> list[dict[str, Any]]:
    parameters = nested(levels, {"type": "string"}, lambda s: {"type": "array", "items": s})
    return [{"type": "function", "function": {"name": "f", "parameters": parameters}}]


def wrapped(levels: int, opening: str, leaf: str) -> bytes:
    """`levels` of `opening` around `leaf`, as text: json.dumps itself recurses too deep."""
    closing = "".join("]" if c == "[" else "}" for c in opening if c in "[{")[::-1]
    return (opening * levels + leaf + closing * levels).encode()


def deep_tools(levels: int) -> bytes:
    return (
        b'{"model": "openrft-tiny", "messages": [{"role": "user", "content": "hi"}], "tools": '
        b'[{"type": "function", "function": {"name": "f", "parameters": '
        + wrapped(levels, '{"type": "array", "items": ', '{"type": "string"}')
        + b"}}]}"
    )


DEEP_TOOLS = deep_tools(10_000)

EVAL = {
    "testing_criteria": [{"type": "string_check", "name": "exact", "input": "{{ item.a }}",
                          "reference": "x", "operation": "eq"}],
}  # fmt: skip


def chat_text(body: bytes) -> bytes:
    """A chat body with `body` spliced in as the user's content (raw JSON string bytes)."""
    return b'{"model": "openrft-tiny", "messages": [{"role": "user", "content": ' + body + b"}]}"


def embed_text(body: bytes) -> bytes:
    return b'{"model": "openrft-tiny", "input": ' + body + b"}"


HOSTILE: dict[str, tuple[str, bytes]] = {
    "chat, lone high surrogate": ("/v1/chat/completions", chat_text(b'"a \\ud800 b"')),
    "chat, lone low surrogate": ("/v1/chat/completions", chat_text(b'"\\uDC00"')),
    "chat, reversed pair": ("/v1/chat/completions", chat_text(b'"\\udc00\\ud800"')),
    "chat, surrogate in a key": ("/v1/chat/completions",
                                 json.dumps({**CHAT, "metadata": {"\ud800": "x"}}).encode()),
    "embeddings, lone surrogate": ("/v1/embeddings", embed_text(b'"\\ud83d"')),
    "embeddings, surrogate in a list": ("/v1/embeddings", embed_text(b'["ok", "\\ud800"]')),
    "chat, UTF-16 LE with BOM": ("/v1/chat/completions", json.dumps(CHAT).encode("utf-16")),
    "chat, UTF-16 BE": ("/v1/chat/completions", json.dumps(CHAT).encode("utf-16-be")),
    "embeddings, UTF-32": ("/v1/embeddings", json.dumps(EMBED).encode("utf-32")),
    "chat, Latin-1": ("/v1/chat/completions", chat_text('"café"'.encode("latin-1"))),
    "chat, tools 10,000 deep": ("/v1/chat/completions", DEEP_TOOLS),
    # Shallow enough for Python's JSON parser, deep enough for every recursive walk after it.
    "chat, tools 400 deep": ("/v1/chat/completions", deep_tools(400)),
    "chat, brackets 100,000 deep": ("/v1/chat/completions", b"[" * 100_000 + b"]" * 100_000),
    "embeddings, input 5,000 deep": ("/v1/embeddings",
                                     b'{"model": "openrft-tiny", "input": ' + b"[" * 5000),
    "eval, item_schema 100 objects deep": ("/v1/evals", json.dumps(
        {**EVAL, "data_source_config": {"type": "custom", "item_schema": object_schema(100)}}
    ).encode()),
    "eval, item_schema past its own bound": ("/v1/evals", json.dumps(
        {**EVAL, "data_source_config": {"type": "custom",
                                        "item_schema": object_schema(PAST_BOUND)}}
    ).encode()),
    "graders/run, 10,000-deep item": ("/v1/fine_tuning/alpha/graders/run",
        b'{"grader": ' + json.dumps(EVAL["testing_criteria"][0]).encode()
        + b', "model_sample": "x", "item": ' + wrapped(10_000, '{"a": ', "{}") + b"}"),
}  # fmt: skip


@pytest.fixture(scope="module")
def raw(live: Live) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    with httpx.Client(base_url=live.url, headers=headers, timeout=TIMEOUT) as client:
        yield client


@pytest.fixture(scope="module")
def sdk(live: Live) -> Iterator[OpenAI]:
    with OpenAI(base_url=live.base_url, api_key=KEY, max_retries=0, timeout=TIMEOUT) as client:
        yield client


def still_serves(sdk: OpenAI) -> None:
    reply = sdk.chat.completions.create(model="openrft-tiny", messages=[
        {"role": "user", "content": "ping"}])  # fmt: skip
    assert reply.choices[0].message.content == "gnip"
    assert len(sdk.embeddings.create(model="openrft-tiny", input="ping").data) == 1


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_body_is_a_400_and_the_server_goes_on(
    case: str, raw: httpx.Client, sdk: OpenAI
) -> None:
    path, body = HOSTILE[case]
    answer = raw.post(path, content=body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    still_serves(sdk)


def test_what_the_checks_let_through(raw: httpx.Client, sdk: OpenAI) -> None:
    """Surrogate pairs, a UTF-8 BOM, and nesting up to the bound are ordinary JSON."""
    pair = raw.post("/v1/chat/completions", content=chat_text(b'"\\ud83d\\ude00 hi"'))
    assert pair.status_code == 200 and pair.json()["choices"][0]["message"]["content"] == "ih 😀"
    bom = raw.post("/v1/embeddings", content=b"\xef\xbb\xbf" + json.dumps(EMBED).encode())
    assert bom.status_code == 200, bom.text
    deep = {**CHAT, "tools": tools(MAX_DEPTH - 8)}
    assert raw.post("/v1/chat/completions", json=deep).status_code == 200
    # An item schema at its bound is a valid eval.
    config = {"type": "custom", "item_schema": object_schema(PAST_BOUND - 1)}
    made = sdk.evals.create(data_source_config=config, **EVAL)  # type: ignore[arg-type]
    assert made.id.startswith("eval_")


def test_the_bound_names_itself(raw: httpx.Client) -> None:
    message = raw.post("/v1/chat/completions", content=DEEP_TOOLS).json()["error"]["message"]
    assert f"deeper than {MAX_DEPTH} levels" in message
    schema = object_schema(PAST_BOUND)
    answer = raw.post("/v1/evals", json={**EVAL, "data_source_config": {
        "type": "custom", "item_schema": schema}})  # fmt: skip
    assert answer.json()["error"]["param"] == "data_source_config.item_schema"
    utf16 = raw.post("/v1/embeddings", content=json.dumps(EMBED).encode("utf-16"))
    assert "must be UTF-8" in utf16.json()["error"]["message"]


def test_hyperparameters_auto_or_out_of_bounds_are_never_a_500(sdk: OpenAI) -> None:
    """Found by the fuzz run: a bounded number-or-"auto" field met "auto" or a string with
    pydantic's TypeError (a 500, which the SDK retries) instead of a validation error."""
    training = upload(sdk, ROWS)
    grader = EVAL["testing_criteria"][0]
    for value, reason in (("x", "valid integer"), (0, "greater than or equal to 1")):
        hyperparameters = {"n_epochs": value}
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=training, method={
                "type": "reinforcement", "reinforcement": {"grader": grader,
                "hyperparameters": hyperparameters}})  # type: ignore[typeddict-item]  # fmt: skip
        assert caught.value.param == "method.reinforcement.hyperparameters.n_epochs"
        message = caught.value.body["message"]  # type: ignore[index]
        assert "'auto'" in message and reason in message
    job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=training, method={
        "type": "reinforcement", "reinforcement": {"grader": grader,
        "hyperparameters": {"n_epochs": "auto", "batch_size": "auto"}}})  # fmt: skip
    assert job.id.startswith("ftjob-")  # created: what "auto" resolves to is the job's business
