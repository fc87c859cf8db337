"""The openrft server as the judge (decision G6's default): our request passes the server's
own wire validation and its answer parses. A scripted backend keeps it fast; the real
`openrft-tiny` behind the same route is exercised by tests/server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openrft.graders import GraderContext, grade_many, run_grader
from openrft.server import Settings
from tests.server.conftest import Live, live_server
from tests.server.fakes import Completion, FakeBackend


class JudgeBackend(FakeBackend):
    """Answers a structured request like a judge: the result is 0.9 if the user message holds
    "Paris", else 0.1; a label request gets its first label."""

    def _one(self, loaded: str, request: dict[str, Any], index: int) -> Completion:
        answer = super()._one(loaded, request, index)
        schema = (request.get("response_format") or {}).get("json_schema", {}).get("schema")
        if not schema:
            return answer
        result = schema["properties"]["result"]
        prompt = json.dumps(request["messages"][-1]["content"])
        value = result["enum"][0] if "enum" in result else 0.9 if "Paris" in prompt else 0.1
        text = json.dumps(
            {"steps": [{"description": "read", "conclusion": "done"}], "result": value}
        )
        return Completion(text, None, "stop", answer.prompt_tokens, len(text))


@pytest.fixture(scope="module")
def openrft_judge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    home: Path = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENRFT_JOB_RUNNER", "tests.server.fake_runner")
        with live_server(Settings(home=home), JudgeBackend()) as server:
            yield server


def test_openrft_server_as_judge(openrft_judge: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENRFT_JUDGE_BASE_URL", openrft_judge.base_url)
    grader = {
        "type": "score_model",
        "name": "judge",
        "model": "openrft-tiny",
        "input": [
            {"role": "developer", "content": "Score the answer."},
            {
                "role": "user",
                "content": [{"type": "input_text", "text": "Answer: {{sample.output_text}}"}],
            },
        ],
        "sampling_params": {
            "seed": 3,
            "temperature": 0.5,
            "top_p": 0.9,
            "max_completions_tokens": 200,
        },
    }
    body = run_grader(grader, "Paris", {})
    assert body["reward"] == 0.9 and not any(body["metadata"]["errors"].values())
    assert body["metadata"]["sampled_model_name"] == "openrft-tiny"
    assert body["model_grader_token_usage_per_model"]["openrft-tiny"]["total_tokens"] > 0
    report = grade_many(grader, [("Paris", {}), ("Lyon", {})], context=GraderContext())
    assert [r.reward for r in report.results] == [0.9, 0.1]


def test_openrft_server_as_label_judge(
    openrft_judge: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENRFT_JUDGE_BASE_URL", openrft_judge.base_url)
    grader = {
        "type": "label_model",
        "name": "labeler",
        "model": "openrft-tiny",
        "input": [{"role": "user", "content": "Is {{sample.output_text}} right?"}],
        "labels": ["yes", "no"],
        "passing_labels": ["yes"],
    }
    body = run_grader(grader, "Paris", {})
    assert body["reward"] == 1.0 and not any(body["metadata"]["errors"].values())


def _served(grader: dict[str, Any]) -> dict[str, Any]:
    """A published config with its judge model swapped for the one this server serves."""
    return {**grader, "model": "openrft-tiny"}


SCORE_PROMPT = (
    "Score how close the reference answer is to the model answer. Score 1.0 if they are the "
    "same and 0.0 if they are different. Return just a floating point score\n\n"
    " Reference answer: {{item.label}}\n\n Model answer: {{sample.output_text}}"
)
PUBLISHED_WITH_REASONING_EFFORT: dict[str, dict[str, Any]] = {
    # OpenAI's graders guide, "Score model graders" (platform.openai.com/docs/guides/graders).
    "graders-guide": {
        "type": "score_model",
        "name": "my_score_model",
        "input": [
            {
                "role": "system",
                "content": "You are an expert grader. If the reference and model answer are "
                "exact matches, output a score of 1. If they are somewhat similar in meaning, "
                "output a score in 0.5. Otherwise, give a score of 0.",
            },
            {
                "role": "user",
                "content": "Reference: {{ item.reference_answer }}. "
                "Model answer: {{ sample.output_text }}",
            },
        ],
        "pass_threshold": 0.5,
        "model": "o4-mini-2025-04-16",
        "range": [0, 1],
        "sampling_params": {
            "max_completions_tokens": 32768,
            "top_p": 1,
            "reasoning_effort": "medium",
        },
    },
    # OpenAI's API reference, the Score Model Grader object
    # (platform.openai.com/docs/api-reference/graders/score-model).
    "api-reference": {
        "type": "score_model",
        "name": "Example score model grader",
        "input": [{"role": "user", "content": SCORE_PROMPT}],
        "model": "o4-mini-2025-04-16",
        "sampling_params": {
            "temperature": 1,
            "top_p": 1,
            "seed": 42,
            "max_completions_tokens": 32768,
            "reasoning_effort": "medium",
        },
    },
    # The same object in the API reference's later revision: gpt-5-mini, text and image parts
    # (platform.openai.com/docs/api-reference/graders/score-model).
    "api-reference-multimodal": {
        "type": "score_model",
        "name": "Example score model grader",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": SCORE_PROMPT},
                    {
                        "type": "input_image",
                        "image_url": "https://example.com/reference.png",
                        "file_id": None,
                        "detail": "auto",
                    },
                ],
            }
        ],
        "model": "gpt-5-mini",
        "sampling_params": {
            "temperature": 1,
            "top_p": 1,
            "seed": 42,
            "max_completions_tokens": 32768,
            "reasoning_effort": "medium",
        },
    },
    # A public RFT notebook (a "reward_seeker" project's o4_mini_mix environment; the code
    # search did not name its repository) validating a joke judge on OpenAI; its model was
    # the user's fine-tuned one.
    "joke-judge-notebook": {
        "type": "score_model",
        "name": "tuned_joke_grader",
        "input": [
            {
                "role": "system",
                "content": "You are a great comedian. Rate the joke about the given topic on a "
                "scale from 1 to 10, where 1 is the worst and 10 is the best. Rate based on "
                "humor, creativity, and actually being about the topic.",
            },
            {"role": "user", "content": "Topic: {{ item.topic }}.\nJoke: {{ sample.output_text }}"},
        ],
        "model": "ft:o4-mini-2025-04-16:org::tuned",
        "range": [1, 10],
        "sampling_params": {"reasoning_effort": "medium"},
    },
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_WITH_REASONING_EFFORT))
def test_published_judges_with_reasoning_effort_run_against_openrft(
    openrft_judge: Live, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("OPENRFT_JUDGE_BASE_URL", openrft_judge.base_url)
    grader = _served(PUBLISHED_WITH_REASONING_EFFORT[name])
    item = {"label": "Paris", "reference_answer": "Paris", "topic": "Paris"}
    body = run_grader(grader, "Paris", item)
    low, high = grader.get("range", [0, 1])
    assert not any(body["metadata"]["errors"].values()), body["metadata"]["errors"]
    assert low <= body["reward"] <= high and body["metadata"]["sampled_model_name"]
    sent = openrft_judge.backend.requests[-1]
    assert sent["reasoning_effort"] == "medium"
