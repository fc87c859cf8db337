"""`settings.eval_grader` at the API edge: checked as the job's grader is, once, with a 400
naming its path; a good one is stored typed and reaches the job child as given."""

from __future__ import annotations

import json

import openai
import pytest

from openrft.store.db import loads
from tests.server.conftest import Live
from tests.server.test_job_contract import REFUSED, _method, _row
from tests.server.test_jobs import GRADER, client, upload, wait_for

JUDGE_FREE = {"type": "string_check", "name": "contains", "input": "{{sample.output_text}}",
              "reference": "{{item.answer}}", "operation": "like"}  # fmt: skip


@pytest.mark.parametrize(
    ("eval_grader", "param"),
    [
        (REFUSED, "settings.eval_grader.calculate_output"),  # the edge's rules, not just shape
        ({"type": "string_check", "name": "x"}, "settings.eval_grader.input"),
        (
            {
                "type": "label_model",
                "name": "l",
                "model": "m",
                "input": [],
                "labels": ["a"],
                "passing_labels": ["a"],
            },
            "settings.eval_grader",
        ),
    ],
)
def test_a_bad_eval_grader_is_a_400_naming_it(
    live: Live, eval_grader: dict[str, object], param: str
) -> None:
    with client(live, "key-b") as sdk:
        before = len(sdk.fine_tuning.jobs.list(limit=100).data)
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
                method=_method(), extra_body={"settings": {"eval_grader": eval_grader}})  # fmt: skip
        assert caught.value.status_code == 400
        assert str(caught.value.param).startswith(param)
        error = caught.value.body
        assert isinstance(error, dict) and error["type"] == "invalid_request_error"
        assert len(sdk.fine_tuning.jobs.list(limit=100).data) == before


def test_an_eval_grader_is_stored_and_reaches_the_child(live: Live) -> None:
    with client(live) as sdk:
        settings = {"keep_best": 2, "eval_grader": JUDGE_FREE}
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
            method=_method(GRADER), extra_body={"settings": settings})  # fmt: skip
        done = wait_for(sdk, job.id, "succeeded", "failed")
        assert done.status == "succeeded", done.error
    row = _row(live.home, job.id)
    assert loads(row["settings"]) == settings
    with client(live) as sdk:  # the job's eval: its grader, then the eval grader
        evaluation = sdk.evals.retrieve(row["eval_id"])
    assert [c.name for c in evaluation.testing_criteria] == ["exact", "contains"]
    seen = json.loads((live.home / "jobs" / job.id / "spec-seen.json").read_text())
    assert seen["settings"]["eval_grader"] == JUDGE_FREE
