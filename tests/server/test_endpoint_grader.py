"""The `endpoint` grader over the API, driven by the official SDK against a real grader
endpoint on loopback: `graders/validate`, `graders/run`, a job (its grader's header values are
never echoed back, nor kept in the store once it finished) and an eval run (its criteria graded
by the endpoint, redacted on output, their header values kept apart from the eval's row)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from openrft.outbound import ENV
from openrft.server import Settings
from tests.server.conftest import Live, live_server
from tests.support.endpoint_grader import Reply, ScriptedEndpoint, endpoint_server
from tests.train.helpers import tiny_home

SECRET = "Bearer job-s3cret-9f8e"
EVAL_SECRET = "Bearer check-s3cret-71ab"
ITEM = {"question": "2+2?", "answer": "4"}
ROWS = b"".join(
    b'{"messages": [{"role": "user", "content": "w%d"}], "answer": "%d"}\n' % (i, i)
    for i in range(8)
)


@pytest.fixture(scope="module")
def grader_server() -> Iterator[tuple[ScriptedEndpoint, str]]:
    with endpoint_server() as served:
        yield served


@pytest.fixture
def endpoint(grader_server: tuple[ScriptedEndpoint, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    server, url = grader_server
    server.reset()
    monkeypatch.delenv(ENV, raising=False)
    server.url = url  # type: ignore[attr-defined]
    return server


def client(live: Live) -> OpenAI:
    return OpenAI(base_url=live.base_url, api_key="key-a", max_retries=0)


def grader(server: Any, **extra: Any) -> dict[str, Any]:
    spec = {"type": "endpoint", "name": "remote", "url": server.url + "/grade",
            "headers": {"Authorization": SECRET}, "pass_threshold": 1}  # fmt: skip
    return spec | extra


def test_validate_echoes_the_grader_with_its_header_values_masked(
    live: Live, endpoint: Any
) -> None:
    with client(live) as sdk:
        raw = sdk.fine_tuning.alpha.graders.with_raw_response.validate(grader=grader(endpoint))  # type: ignore[arg-type]
    assert SECRET not in raw.text
    echoed = json.loads(raw.text)["grader"]
    assert echoed["headers"] == {"Authorization": "***"}
    assert echoed["url"] == endpoint.url + "/grade" and echoed["type"] == "endpoint"
    assert endpoint.calls == []  # validating never calls the endpoint


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"url": "http://169.254.169.254/latest/meta-data"}, "grader.url", "url_not_allowed"),
        ({"headers": {"Authorization": "***"}}, "grader.headers.Authorization", "redacted_header"),
        ({"rate_limit": 0}, "grader.rate_limit", None),
    ],
)
def test_a_bad_endpoint_grader_is_a_400_naming_its_field(
    live: Live, endpoint: Any, change: dict[str, Any], param: str, code: str | None
) -> None:
    with client(live) as sdk:
        for call in (sdk.fine_tuning.alpha.graders.validate, sdk.fine_tuning.alpha.graders.run):
            extra = {} if call == sdk.fine_tuning.alpha.graders.validate else {"model_sample": ""}
            with pytest.raises(openai.BadRequestError) as caught:
                call(grader=grader(endpoint, **change), **extra)  # type: ignore[operator]
            body: Any = caught.value.body
            assert body["param"] == param and body["type"] == "invalid_request_error"
            assert code is None or body["code"] == code
    assert endpoint.calls == []


def test_run_reads_the_endpoints_score_and_sends_the_headers(live: Live, endpoint: Any) -> None:
    endpoint.reset(Reply(score=0.625))
    with client(live) as sdk:
        result = sdk.fine_tuning.alpha.graders.run(
            grader=grader(endpoint),  # type: ignore[arg-type]
            model_sample="4",
            item=ITEM,
        )
    assert result.reward == 0.625 and result.metadata.type == "endpoint"
    assert result.metadata.errors.unresponsive_reward_error is False
    [call] = endpoint.calls
    assert call.headers["authorization"] == SECRET
    assert call.body["item"] == ITEM and call.body["sample"]["output_text"] == "4"


def test_run_reports_a_failing_endpoint_as_an_errored_grade(live: Live, endpoint: Any) -> None:
    echo = Reply(status=503, raw=json.dumps({"detail": f"rejected {SECRET}"}))
    endpoint.reset(*[echo] * 4)
    with client(live) as sdk:
        raw = sdk.fine_tuning.alpha.graders.with_raw_response.run(
            grader=grader(endpoint),  # type: ignore[arg-type]
            model_sample="4",
            item=ITEM,
        )
    assert raw.http_response.status_code == 200 and SECRET not in raw.text
    result = raw.parse()
    assert result.reward == 0 and result.metadata.errors.unresponsive_reward_error is True
    details = json.loads(raw.text)["metadata"]["errors"]["endpoint_grader_error_details"]
    assert "HTTP 503" in details and "after 4 attempts" in details
    assert endpoint.hits() == 4


def wait_for(sdk: OpenAI, job_id: str, *statuses: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        job = sdk.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses:
            return job
        assert time.monotonic() < deadline, f"job stuck in {job.status}"
        time.sleep(0.05)


def dump(live: Live, *, but: tuple[str, ...] = ()) -> str:
    """The text of every table of the store, but the tables named in `but`."""
    with closing(sqlite3.connect(live.home / "openrft.db")) as db:
        names = [
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        return "\n".join(
            repr(row)
            for name in names
            if name not in but
            for row in db.execute(f"SELECT * FROM {name}")
        )


def test_a_job_keeps_its_grader_headers_secret(live: Live, endpoint: Any) -> None:
    multi = {"type": "multi", "graders": {"remote": grader(endpoint)},
             "calculate_output": "remote"}  # fmt: skip
    method: Any = {"type": "reinforcement", "reinforcement": {"grader": multi,
                   "hyperparameters": {"n_epochs": 1, "batch_size": 2}}}  # fmt: skip
    check = grader(endpoint, name="check", headers={"Authorization": EVAL_SECRET})
    with client(live) as sdk:
        train = sdk.files.create(file=("rows.jsonl", ROWS), purpose="fine-tune").id
        created = sdk.fine_tuning.jobs.with_raw_response.create(
            model="openrft-tiny", training_file=train, method=method,
            extra_body={"settings": {"eval_grader": check}},
        )  # fmt: skip
        job = created.parse()
        done = wait_for(sdk, job.id, "succeeded", "failed")
        assert done.status == "succeeded", done.error
        shown = [created.text, sdk.fine_tuning.jobs.with_raw_response.retrieve(job.id).text,
                 sdk.fine_tuning.jobs.with_raw_response.list().text,
                 sdk.fine_tuning.jobs.with_raw_response.list_events(job.id, limit=100).text,
                 sdk.evals.with_raw_response.retrieve(job.eval_id).text]  # fmt: skip
        for text in shown:
            assert SECRET not in text and EVAL_SECRET not in text
        echoed = json.loads(shown[1])["method"]["reinforcement"]["grader"]
        assert echoed["graders"]["remote"]["headers"] == {"Authorization": "***"}
        criteria = json.loads(shown[-1])["testing_criteria"]
        assert criteria[0]["graders"]["remote"]["headers"] == {"Authorization": "***"}
        # A job copied from the echo would send "***" as the key: it is refused, by name.
        copied = {"type": "reinforcement", "reinforcement": {"grader": echoed}}
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=train, method=copied)  # type: ignore[arg-type]
    body: Any = caught.value.body
    assert body["code"] == "redacted_header"
    assert body["param"] == "method.reinforcement.grader.graders.remote.headers.Authorization"
    # The job itself still holds the real key: its trainer sends it.
    seen = json.loads((live.home / "jobs" / job.id / "spec-seen.json").read_text())
    assert seen["method"]["reinforcement"]["grader"]["graders"]["remote"]["headers"] == {
        "Authorization": SECRET
    }
    assert seen["settings"]["eval_grader"]["headers"] == {"Authorization": "***"}  # dumped
    check_seen = json.loads((live.home / "jobs" / job.id / "eval-grader-seen.json").read_text())
    assert check_seen["headers"] == {"Authorization": EVAL_SECRET}
    # The store, the job finished, holds neither key (`job_secrets` went with it).
    stored = dump(live)
    assert job.id in stored and SECRET not in stored and EVAL_SECRET not in stored


def test_an_eval_run_grades_with_the_endpoint(live: Live, endpoint: Any) -> None:
    rows = [{"item": {"answer": str(i)}, "sample": {"output_text": str(i % 2)}} for i in range(4)]
    config: Any = {"type": "custom", "item_schema": {"type": "object"},
                   "include_sample_schema": True}  # fmt: skip
    with client(live) as sdk:
        created = sdk.evals.with_raw_response.create(
            data_source_config=config,
            testing_criteria=[grader(endpoint)],  # type: ignore[list-item]
        )
        assert SECRET not in created.text
        assert SECRET not in dump(live, but=("eval_secrets",))
        evaluation = created.parse()
        source: Any = {"type": "jsonl", "source": {"type": "file_content", "content": rows}}
        run = sdk.evals.runs.create(evaluation.id, data_source=source)
        deadline = time.monotonic() + 30
        while (run := sdk.evals.runs.retrieve(run.id, eval_id=evaluation.id)).status not in (
            "completed",
            "failed",
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert run.status == "completed", run.error
        assert run.result_counts.passed == 2 and run.result_counts.failed == 2
        items = sdk.evals.runs.output_items.with_raw_response.list(run.id, eval_id=evaluation.id)
        assert SECRET not in items.text
        fetched = sdk.evals.with_raw_response.retrieve(evaluation.id).text
        assert SECRET not in fetched
    assert json.loads(fetched)["testing_criteria"][0]["headers"] == {"Authorization": "***"}
    assert endpoint.hits() == 4
    assert {call.headers["authorization"] for call in endpoint.calls} == {SECRET}
    # Kept apart from the eval's row (`eval_secrets`, where the run read it), until the eval
    # is deleted: no other table holds it, before the run, after it, or after the delete.
    assert evaluation.id in dump(live) and SECRET not in dump(live, but=("eval_secrets",))
    assert SECRET in dump(live)
    with client(live) as sdk:
        assert sdk.evals.delete(evaluation.id).deleted
    assert SECRET not in dump(live)


@pytest.fixture
def real(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Live]:
    """A server whose jobs run the real trainer on `openrft-tiny` (the session's warm copy)."""
    monkeypatch.delenv("OPENRFT_JOB_RUNNER")
    shutil.copytree(tiny_home(tmp_path_factory) / "models", tmp_path / "home" / "models")
    with live_server(Settings(home=tmp_path / "home"), backend=None) as server:
        yield server


# The one check that the real trainer sends the kept keys.
def test_a_real_job_s_grader_gets_the_real_key(real: Live, endpoint: Any) -> None:
    """The trainer, given the method and settings the store keeps (`***`), grades with the
    header values kept apart: the endpoint sees the real keys, the store then neither."""
    check = grader(endpoint, name="check", headers={"Authorization": EVAL_SECRET})
    hyper = {"n_epochs": 1, "batch_size": 2, "compute_multiplier": 0.25}
    method: Any = {"type": "reinforcement",
                   "reinforcement": {"grader": grader(endpoint), "hyperparameters": hyper}}  # fmt: skip
    rows = b"".join(
        b'{"messages": [{"role": "user", "content": "w%d"}], "answer": "%d"}\n' % (i, i)
        for i in range(2)
    )
    with client(real) as sdk:
        train = sdk.files.create(file=("t.jsonl", rows), purpose="fine-tune").id
        job = sdk.fine_tuning.jobs.create(
            model="openrft-tiny", training_file=train, validation_file=train, method=method,
            extra_body={"settings": {"eval_grader": check}},
        )  # fmt: skip
        done = wait_for(sdk, job.id, "succeeded", "failed", timeout=120)
    assert done.status == "succeeded", done.error
    sent = {call.headers["authorization"] for call in endpoint.calls}
    assert sent == {SECRET, EVAL_SECRET}  # the reward's and the eval grader's, never `***`
    stored = dump(real)
    assert job.id in stored and SECRET not in stored and EVAL_SECRET not in stored
