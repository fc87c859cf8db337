"""`settings.judge_check` in training: the job's judge graded on a small human-labelled set at
every validation. A scripted judge that ranks the labelled samples against the people raises
the `judge_check` alarm (warn at the baseline, pause at the first trained validation, only a
warning after the resume); one that agrees writes its numbers and raises nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openrft.errors import InvalidRequestError
from openrft.graders import validate_grader
from openrft.models.registry import LoadedModel
from openrft.train.judge_gate import JudgeCheckSettings, validate
from openrft.train.runner import run_job
from tests.graders.scripted_judge import Reply, ScriptedJudge
from tests.train.helpers import ListSink, demo_spec
from tests.train.test_completer import ScriptedCompleter
from tests.train.test_judge_budget import judge
from tests.train.test_judge_rule_alarm import JUDGE, RULE

__all__ = ["judge"]  # the scripted-judge fixture

LABELLED = [
    {"item": {"reference": "x"}, "sample": f"{word} answer {i}", "human": human}
    for i in range(4)
    for word, human in (("labelgood", 1), ("labelbad", 0))
]
"""8 rows: people scored each `labelgood` sample 1 and each `labelbad` one 0."""


def job(judge: ScriptedJudge, agrees: bool, action: str) -> Any:
    """A 2-step job validating every step, its grader the scripted judge (score_model)."""
    good, bad = (1.0, 0.0) if agrees else (0.0, 1.0)
    judge.handler = lambda body: Reply(
        result=bad if "labelbad" in str(body) else good if "labelgood" in str(body) else 0.5
    )
    settings = {"judge_check": {"rows": LABELLED, "action": action}}
    spec = demo_spec(2, batch=2, valid=4, compute_multiplier=0.25, eval_interval=1,
                     settings=settings)  # fmt: skip
    spec.method.reinforcement.grader = JUDGE
    return spec


def run(spec: Any, workdir: Path, home: Path, sink: ListSink) -> Any:
    rows = [*spec.training_rows, *(spec.validation_rows or [])]
    references = {str(row["messages"][-1]["content"]): row["reference"] for row in rows}

    def completer(loaded: LoadedModel) -> ScriptedCompleter:
        return ScriptedCompleter(loaded, references, lambda j: j % 2 == 0)

    return run_job(spec, workdir=workdir, home=home, events=sink, completer=completer)


def checks(sink: ListSink) -> list[dict[str, Any]]:
    starts = ("Alarm judge_check at", "Judge check at")
    return [e for e in sink.events if e["message"].startswith(starts)]


def test_a_judge_that_disagrees_with_people_pauses_the_job(
    judge: ScriptedJudge, home: Path, tmp_path: Path
) -> None:
    spec = job(judge, agrees=False, action="pause")
    sink = ListSink()
    outcome = run(spec, tmp_path, home, sink)
    assert outcome.status == "paused" and outcome.step == 1, outcome.error
    raised = checks(sink)
    assert [(e["step"], e["data"]["action"]) for e in raised] == [(0, "warn"), (1, "pause")]
    data = raised[1]["data"]
    assert data["judge_check_spearman"] == pytest.approx(-1.0) and data["n"] == 8
    assert data["exact"] == 0.0 and data["min_rho"] == 0.8 and data["errored"] == 0
    low, high = data["spearman_ci"]
    assert low < -0.9 and high < 0.8  # the whole interval below the bar
    text = raised[1]["message"]
    assert text.startswith("Alarm judge_check at step 1: judge 'judge' against 8 labelled")
    assert "Spearman ρ -1.000 [" in text and "exact agreement 0/8 (0.00)" in text
    assert text.endswith("below the least ρ 0.800; action: pause (the job pauses at its last "
                         "checkpoint: resume it (POST /v1/fine_tuning/jobs/{id}/resume, or run "
                         "its job file again) to go on, this alarm only warning after that; or "
                         "cancel it)")  # fmt: skip
    (metrics,) = [e["data"] for e in sink.metrics() if e["step"] == 1]
    assert metrics["judge_check_spearman"] == pytest.approx(-1.0)
    assert metrics["scores"]["judge_check_spearman"] == pytest.approx(-1.0)
    # Resumed, a person chose to go on: the check only warns and the job finishes.
    again = ListSink()
    outcome = run(spec, tmp_path, home, again)
    assert outcome.status == "succeeded", outcome.error
    assert [(e["step"], e["data"]["action"]) for e in checks(again)] == [(2, "warn")]


def test_a_judge_that_disagrees_fails_the_job_with_fail(
    judge: ScriptedJudge, home: Path, tmp_path: Path
) -> None:
    outcome = run(job(judge, agrees=False, action="fail"), tmp_path, home, ListSink())
    assert outcome.status == "failed" and outcome.step == 1
    assert outcome.error is not None
    assert (outcome.error["code"], outcome.error["param"]) == (
        "training_alarm", "settings.judge_check",
    )  # fmt: skip


def test_a_judge_that_agrees_raises_nothing(
    judge: ScriptedJudge, home: Path, tmp_path: Path
) -> None:
    sink = ListSink()
    outcome = run(job(judge, agrees=True, action="pause"), tmp_path, home, sink)
    assert outcome.status == "succeeded", outcome.error
    seen = checks(sink)
    assert [(e["step"], e["level"]) for e in seen] == [(0, "info"), (1, "info"), (2, "info")]
    assert all(e["data"]["judge_check_spearman"] == pytest.approx(1.0) for e in seen)
    assert seen[0]["message"].startswith("Judge check at step 0: judge 'judge' against 8")
    assert "exact agreement 8/8 (1.00)" in seen[0]["message"]
    assert not any(e["message"].startswith("Alarm judge_check") for e in sink.events)
    assert [e["data"]["judge_check_spearman"] for e in sink.metrics()] == pytest.approx([1, 1])


def test_the_rows_are_checked_against_the_grader() -> None:
    settings = JudgeCheckSettings.model_validate({"rows": LABELLED})
    validate(settings, validate_grader(JUDGE))  # fine
    with pytest.raises(InvalidRequestError) as caught:
        validate(settings, validate_grader(RULE))
    assert caught.value.param == "settings.judge_check" and "no model grader" in str(caught.value)
    bad = {"rows": [*LABELLED[:3], {"sample": "s", "human": "yes"}]}
    with pytest.raises(InvalidRequestError) as caught:
        validate(JudgeCheckSettings.model_validate(bad), validate_grader(JUDGE))
    assert caught.value.param == "settings.judge_check.rows[3]"
    assert '"human" must be a finite number' in str(caught.value)
