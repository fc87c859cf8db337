"""`cosine` against a real OpenAI-compatible /v1/embeddings server on loopback."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from openrft.graders import grade_many, run_grader
from openrft.graders.text_similarity import cosine
from tests.support.loopback import serve

VECTORS = {"north": [1.0, 0.0, 0.0], "north-east": [1.0, 1.0, 0.0], "south": [-1.0, 0.0, 0.0]}
GRADER = {
    "type": "text_similarity",
    "name": "cos",
    "input": "{{sample.output_text}}",
    "reference": "{{item.reference}}",
    "evaluation_metric": "cosine",
}


def _app(calls: list[dict[str, Any]]) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Any:
        body = await request.json()
        calls.append(body)
        if "broken" in body["input"]:
            return JSONResponse({"error": {"message": "boom", "type": "server_error"}}, 500)
        data = [
            {"object": "embedding", "index": i, "embedding": VECTORS.get(text, [0.0, 0.0, 1.0])}
            for i, text in enumerate(body["input"])
        ]
        usage = {"prompt_tokens": 2, "total_tokens": 2}
        return {"object": "list", "data": data, "model": body["model"], "usage": usage}

    return app


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []
    with serve(_app(calls)) as base:
        monkeypatch.setenv("OPENRFT_EMBEDDINGS_BASE_URL", f"{base}/v1")
        monkeypatch.setenv("OPENRFT_EMBEDDINGS_MODEL", "tiny-embed")
        yield calls


def test_cosine_uses_the_endpoint(endpoint: list[dict[str, Any]]) -> None:
    response = run_grader(GRADER, "north", {"reference": "north-east"})
    assert response["reward"] == pytest.approx(1 / math.sqrt(2))
    assert endpoint[-1]["input"] == ["north", "north-east"]
    assert endpoint[-1]["model"] == "tiny-embed"


def test_negative_similarity_is_clamped_to_zero(endpoint: list[dict[str, Any]]) -> None:
    assert run_grader(GRADER, "north", {"reference": "south"})["reward"] == 0.0


def test_an_endpoint_failure_is_other_error(endpoint: list[dict[str, Any]]) -> None:
    response = run_grader(GRADER, "broken", {"reference": "north"})
    assert response["reward"] == 0.0 and response["metadata"]["errors"]["other_error"] is True


def test_many_rows_run_concurrently_against_the_endpoint(endpoint: list[dict[str, Any]]) -> None:
    rows = [("north", {"reference": "north"}), ("north", {"reference": "north-east"})] * 10
    report = grade_many(GRADER, rows, concurrency=4)
    assert report.count == 20 and report.error_counts() == {}
    assert report.mean() == pytest.approx((1 + 1 / math.sqrt(2)) / 2)
    assert len(endpoint) == 10  # identical strings score 1 without a call


def test_cosine_math() -> None:
    assert cosine([1, 0], [0, 1]) == 0.0
    assert cosine([0, 0], [1, 1]) == 0.0
    assert cosine([2, 2], [1, 1]) == pytest.approx(1.0)
