"""A real chat model's own template, end-of-turn tokens and thinking section, served through
the SDK on a loopback server and trained by a job (`tests/models/thinker.py` builds the model:
it always thinks 8 words, closes `</think>`, answers "the answer is 4" and ends its turn)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from openrft.models.chat import render_prompt
from openrft.models.registry import load_model
from openrft.server import Settings
from openrft.train.runner import run_job
from openrft.train.spec import JobSpec
from tests.models.thinker import THOUGHT_TOKENS, save_thinker
from tests.server.conftest import live_server
from tests.train.helpers import ListSink

ANSWER = "the answer is 4"
ANSWER_TOKENS = 4 + 1  # the words and the end-of-turn token
ASK = [
    {"role": "system", "content": "you are kind"},
    {"role": "user", "content": "what is two plus two"},
]
SPECIAL = ("<|im_end|>", "<|endoftext|>", "<|im_start|>", "<think>", "</think>")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("reasoning")
    return {
        "thinker": save_thinker(root / "thinker"),
        "two-eos": save_thinker(root / "two-eos", second_eos=True),
    }


@pytest.fixture(scope="module")
def sdk(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenAI]:
    bases = {name: str(path) for name, path in models.items()}
    settings = Settings(home=tmp_path_factory.mktemp("home"), base_models=bases)
    with (
        live_server(settings, backend=None) as server,
        OpenAI(
            base_url=server.base_url,
            api_key="unused",
            max_retries=0,
            _strict_response_validation=True,
        ) as client,  # fmt: skip
    ):
        yield client


def clean(text: str | None) -> str:
    assert text is not None and not any(token in text for token in SPECIAL)
    return text


def test_the_answer_comes_without_its_thinking_and_reasoning_is_counted(sdk: OpenAI) -> None:
    done = sdk.chat.completions.create(model="thinker", messages=ASK, max_tokens=32)  # type: ignore[arg-type]
    choice = done.choices[0]
    assert clean(choice.message.content) == ANSWER and choice.finish_reason == "stop"
    assert done.usage is not None and done.usage.completion_tokens_details is not None
    assert done.usage.completion_tokens == THOUGHT_TOKENS + ANSWER_TOKENS
    assert done.usage.completion_tokens_details.reasoning_tokens == THOUGHT_TOKENS


def test_a_second_end_of_turn_token_from_the_generation_config_stops(sdk: OpenAI) -> None:
    # The tokenizer's eos is <|im_end|>; the model ends with <|endoftext|>, which only its
    # generation config lists.
    done = sdk.chat.completions.create(model="two-eos", messages=ASK, max_tokens=32)  # type: ignore[arg-type]
    choice = done.choices[0]
    assert clean(choice.message.content) == ANSWER and choice.finish_reason == "stop"
    assert done.usage is not None
    assert done.usage.completion_tokens == THOUGHT_TOKENS + ANSWER_TOKENS


@pytest.mark.parametrize(("effort", "thought"), [("low", 4), ("medium", 8), ("high", 8)])
def test_reasoning_effort_bounds_the_thinking(sdk: OpenAI, effort: str, thought: int) -> None:
    # 16 tokens: low may think 4 of them (then </think> is forced), medium 8, high 12.
    done = sdk.chat.completions.create(
        model="thinker",
        messages=ASK,  # type: ignore[arg-type]
        max_tokens=16,
        reasoning_effort=effort,  # type: ignore[arg-type]
    )
    assert clean(done.choices[0].message.content) == ANSWER
    assert done.usage is not None and done.usage.completion_tokens_details is not None
    assert done.usage.completion_tokens_details.reasoning_tokens == thought + 1
    assert done.usage.completion_tokens == thought + 1 + ANSWER_TOKENS


@pytest.mark.parametrize(("limit", "content"), [(11, "the answer"), (5, "")])
def test_a_completion_cut_by_the_limit_says_length(sdk: OpenAI, limit: int, content: str) -> None:
    done = sdk.chat.completions.create(model="thinker", messages=ASK, max_tokens=limit)  # type: ignore[arg-type]
    choice = done.choices[0]
    assert clean(choice.message.content) == content and choice.finish_reason == "length"
    assert done.usage is not None and done.usage.completion_tokens_details is not None
    assert done.usage.completion_tokens_details.reasoning_tokens == min(limit, THOUGHT_TOKENS)


def test_a_stream_sends_the_answer_only(sdk: OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="thinker",
        messages=ASK,  # type: ignore[arg-type]
        max_tokens=32,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert clean(text) == ANSWER
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    usage = chunks[-1].usage
    assert usage is not None and usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == THOUGHT_TOKENS


def test_a_schema_constrained_answer_skips_the_thinking(sdk: OpenAI) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
              "additionalProperties": False}  # fmt: skip
    done = sdk.chat.completions.create(
        model="thinker",
        messages=ASK,  # type: ignore[arg-type]
        max_tokens=24,
        response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}},
    )
    assert set(json.loads(clean(done.choices[0].message.content))) == {"n"}
    assert done.usage is not None and done.usage.completion_tokens_details is not None
    assert done.usage.completion_tokens_details.reasoning_tokens == 0


def test_messages_the_template_refuses_are_a_400(sdk: OpenAI) -> None:
    twice = [*ASK, {"role": "user", "content": "what"}]
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(model="thinker", messages=twice)  # type: ignore[arg-type]
    assert "roles must alternate" in refused.value.message
    assert isinstance(refused.value.body, dict) and refused.value.body["param"] == "messages"


def test_every_turn_goes_through_the_models_template(models: dict[str, Path]) -> None:
    tokenizer = load_model(str(models["thinker"]), home=models["thinker"]).tokenizer
    call = {"id": "call_1", "type": "function",
            "function": {"name": "add", "arguments": json.dumps({"x": 2, "y": 2})}}  # fmt: skip
    turns: list[dict[str, Any]] = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "4"},
        {"role": "developer", "content": "be brief"},
    ]
    tools = [{"type": "function", "function": {"name": "add", "parameters": {}}}]
    prompt = render_prompt(tokenizer, turns, tools)
    assert prompt == (
        f"<|im_start|>system\ntools: {json.dumps(tools)}<|im_end|>\n"
        "<|im_start|>system\nyou are kind<|im_end|>\n"
        "<|im_start|>user\nwhat is two plus two<|im_end|>\n"
        '<|im_start|>assistant\n<tool_call>{"name": "add", "arguments": {"x": 2, "y": 2}}'
        "</tool_call><|im_end|>\n"
        "<|im_start|>tool\n4<|im_end|>\n"
        "<|im_start|>system\nbe brief<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n"
    )
    # A schema-constrained answer cannot think: the section the template opened is closed.
    closed = render_prompt(tokenizer, ASK, None, structured=True)
    assert closed.endswith("assistant\n<think>\n\n</think>\n\n")


def job(model: Path, effort: str) -> JobSpec:
    grader = {"type": "string_check", "name": "exact", "operation": "eq",
              "input": "{{sample.output_text}}", "reference": "{{item.reference}}"}  # fmt: skip
    row = {"messages": ASK, "reference": ANSWER}
    hyper = {"batch_size": 1, "n_epochs": 1, "compute_multiplier": 0.25, "eval_interval": 1,
             "reasoning_effort": effort}  # fmt: skip
    reinforcement = {"grader": grader, "hyperparameters": hyper}
    return JobSpec(
        id=f"ftjob-thinker-{effort}",
        model=str(model),
        training_rows=[row],
        validation_rows=[row],
        method={"type": "reinforcement", "reinforcement": reinforcement},
        settings={"max_completion_tokens": 16},
    )


@pytest.mark.parametrize(
    ("effort", "thought", "completion", "reward"),
    [
        ("medium", THOUGHT_TOKENS, THOUGHT_TOKENS + ANSWER_TOKENS, 1.0),  # 16 tokens, think 8
        ("low", 5, 8, 0.0),  # J2: 8 tokens, think 4 + </think>, then "the answer is" is cut
    ],
)
def test_rollouts_grade_the_answer_and_count_reasoning(
    models: dict[str, Path],
    tmp_path: Path,
    effort: str,
    thought: int,
    completion: int,
    reward: float,
) -> None:
    sink = ListSink()
    outcome = run_job(job(models["thinker"], effort), workdir=tmp_path, home=tmp_path, events=sink)
    assert outcome.status == "succeeded", outcome.error
    (data,) = [event["data"] for event in sink.metrics()]
    # The grader saw the answer alone: with the thinking section it would never match.
    assert data["train_mean_reward"] == reward and data["full_valid_mean_reward"] == reward
    samples = data["usage"]["samples"]
    assert samples["train_reasoning_tokens_mean"] == thought == data["reasoning_tokens_mean"]
    assert samples["train_reasoning_tokens_count"] == 2 * thought  # two samples
    assert samples["valid_reasoning_tokens_mean"] == thought == data["valid_reasoning_tokens_mean"]
    assert data["completion_tokens_mean"] == completion
