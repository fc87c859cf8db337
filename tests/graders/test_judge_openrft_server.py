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
