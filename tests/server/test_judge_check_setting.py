"""`settings.judge_check` at the API edge: its shape, and the rules that need the job's grader
(a model judge to check, rows that grader can compare), are a 400 naming the path; no job."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.server.conftest import Live
from tests.server.test_job_contract import _method
from tests.server.test_jobs import GRADER, client, upload
from tests.train.test_judge_gate import LABELLED
from tests.train.test_judge_rule_alarm import JUDGE


@pytest.mark.parametrize(
    ("grader", "judge_check", "param", "text"),
    [
        (GRADER, {"rows": LABELLED}, "settings.judge_check", "no model grader"),
        (JUDGE, {"rows": [*LABELLED[:3], {"sample": "s", "human": "yes"}]},
         "settings.judge_check.rows[3]", "finite number"),
        (JUDGE, {"rows": LABELLED[:3]}, "settings.judge_check.rows", "at least 4"),
        (JUDGE, {"rows": LABELLED, "action": "stop"}, "settings.judge_check.action", "'warn'"),
        (JUDGE, {"rows": LABELLED, "min_rho": 2}, "settings.judge_check.min_rho", "less than or equal"),
        (JUDGE, {"rows": LABELLED, "every": 1}, "settings.judge_check.every", "unknown setting"),
    ],
)  # fmt: skip
def test_a_bad_judge_check_is_a_400_naming_it(
    live: Live,
    grader: dict[str, Any],
    judge_check: dict[str, Any],
    param: str,
    text: str,
) -> None:
    with client(live, "key-b") as sdk:
        before = len(sdk.fine_tuning.jobs.list(limit=100).data)
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
                method=_method(grader), extra_body={"settings": {"judge_check": judge_check}})  # fmt: skip
        assert caught.value.status_code == 400
        assert caught.value.param == param and text in caught.value.message
        error = caught.value.body
        assert isinstance(error, dict) and error["type"] == "invalid_request_error"
        assert len(sdk.fine_tuning.jobs.list(limit=100).data) == before
