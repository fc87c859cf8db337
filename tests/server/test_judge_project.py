"""Judges that call openrft's own server judge as the project being graded.

Three keys: alpha's, beta's and the judge's own (`OPENRFT_JUDGE_API_KEY`, project `judges`).
Alpha trains an `ft:` model. A `score_model` grader that names it reaches it when alpha grades
(through the grader route and through an eval run) and is a `model_grader_server_error` when
beta grades: the judge's key alone is no way into another project's models. The
`OpenRFT-Project` header means nothing with any key but the judge's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai import OpenAI

from openrft.server import Settings
from tests.server.conftest import Live, live_server
from tests.server.fakes import FakeBackend

KEYS = {"key-a": "alpha", "key-b": "beta", "key-j": "judges"}
ROWS = b"".join(
    b'{"messages": [{"role": "user", "content": "w%d"}], "answer": "%d"}\n' % (i, i)
    for i in range(6)
)
EXACT = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
         "reference": "{{item.answer}}", "operation": "eq"}  # fmt: skip
METHOD: Any = {"type": "reinforcement", "reinforcement": {"grader": EXACT,
               "hyperparameters": {"n_epochs": 1, "batch_size": 2}}}  # fmt: skip


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    home = tmp_path_factory.mktemp("home")
    settings = Settings(home=home, api_keys=dict(KEYS), lease_seconds=3, judge_key="key-j")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENRFT_JOB_RUNNER", "tests.server.fake_runner")
        patch.setenv("OPENRFT_JUDGE_API_KEY", "key-j")
        patch.setenv("OPENRFT_JUDGE_MAX_RETRIES", "0")
        with live_server(settings, FakeBackend()) as server:
            # The judge is built on first use, from the environment: point it at this server.
            patch.setenv("OPENRFT_JUDGE_BASE_URL", server.base_url)
            yield server


def sdk(live: Live, key: str) -> OpenAI:
    return OpenAI(base_url=live.base_url, api_key=key, max_retries=0, timeout=30)


@pytest.fixture(scope="module")
def alpha_model(live: Live) -> str:
    with sdk(live, "key-a") as client:
        file = client.files.create(file=("rows.jsonl", ROWS), purpose="fine-tune").id
        job = client.fine_tuning.jobs.create(
            model="openrft-tiny", training_file=file, method=METHOD
        )
        deadline = time.monotonic() + 60
        while (job := client.fine_tuning.jobs.retrieve(job.id)).status not in (
            "succeeded",
            "failed",
        ):
            assert time.monotonic() < deadline, f"job stuck in {job.status}"
            time.sleep(0.05)
    assert job.status == "succeeded" and job.fine_tuned_model, job.error
    return job.fine_tuned_model


def judge_with(model: str) -> dict[str, Any]:
    return {"type": "score_model", "name": "judge", "model": model,
            "input": [{"role": "user", "content": "rate {{sample.output_text}}"}]}  # fmt: skip


def grade(live: Live, key: str, model: str) -> dict[str, Any]:
    with sdk(live, key) as client:
        result = client.fine_tuning.alpha.graders.run(
            grader=judge_with(model),  # type: ignore[arg-type]
            model_sample="7",
        )
    errors: dict[str, Any] = result.metadata.errors.to_dict()
    return errors


def test_a_project_judges_with_its_own_fine_tuned_model(live: Live, alpha_model: str) -> None:
    calls = len(live.backend.calls)
    errors = grade(live, "key-a", alpha_model)
    assert not errors["model_grader_server_error"], errors
    assert len(live.backend.calls) > calls  # the judge's request reached alpha's model


def test_another_project_cannot_judge_with_it(live: Live, alpha_model: str) -> None:
    calls = len(live.backend.calls)
    errors = grade(live, "key-b", alpha_model)
    assert errors["model_grader_server_error"], errors
    assert "model" in errors["model_grader_server_error_details"].lower()
    assert len(live.backend.calls) == calls  # nothing reached the model


def test_an_eval_run_judges_as_its_own_project(live: Live, alpha_model: str) -> None:
    config: Any = {"type": "custom", "item_schema": {"type": "object", "properties": {}}}
    rows = b'{"item": {}, "sample": {"output_text": "7"}}\n'
    reached = {}
    for key in ("key-a", "key-b"):
        calls = len(live.backend.calls)
        with sdk(live, key) as client:
            evaluation = client.evals.create(
                data_source_config=config,
                testing_criteria=[judge_with(alpha_model)],  # type: ignore[list-item]
            )
            file = client.files.create(file=("e.jsonl", rows), purpose="evals").id
            source: Any = {"type": "jsonl", "source": {"type": "file_id", "id": file}}
            run = client.evals.runs.create(evaluation.id, data_source=source)
            deadline = time.monotonic() + 30
            while (run := client.evals.runs.retrieve(run.id, eval_id=evaluation.id)).status in (
                "queued",
                "in_progress",
            ):
                assert time.monotonic() < deadline, f"run still {run.status}"
                time.sleep(0.05)
            assert run.status == "completed", run.error
            reached[key] = len(live.backend.calls) > calls
    assert reached == {"key-a": True, "key-b": False}


def test_the_header_means_nothing_with_a_project_key(live: Live, alpha_model: str) -> None:
    body = {"model": alpha_model, "messages": [{"role": "user", "content": "hi"}]}
    url = live.base_url + "/chat/completions"
    as_beta = {"authorization": "Bearer key-b", "openrft-project": "alpha"}
    assert httpx.post(url, json=body, headers=as_beta, timeout=30).status_code == 404
    as_judge = {"authorization": "Bearer key-j", "openrft-project": "alpha"}
    assert httpx.post(url, json=body, headers=as_judge, timeout=30).status_code == 200
    elsewhere = httpx.get(live.base_url + "/models/" + alpha_model, headers=as_judge, timeout=30)
    assert elsewhere.status_code == 404  # only the chat route takes the judge's header
    unknown = {"authorization": "Bearer key-j", "openrft-project": "nobody"}
    answer = httpx.post(url, json=body, headers=unknown, timeout=30)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "invalid_project"
