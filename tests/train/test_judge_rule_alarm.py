"""The judge-vs-rule divergence alarm: a multi grader whose judge part ranks the validation
samples against its deterministic part (Spearman's ρ below the threshold) raises it; the pure
measure, and a job whose scripted judge prefers wrong answers that ends paused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from openrft.graders import GradeResult, validate_grader
from openrft.models.registry import LoadedModel
from openrft.train.alarms import AlarmSettings, observe, point
from openrft.train.divergence import judge_rule
from openrft.train.runner import run_job
from tests.graders.scripted_judge import Reply, ScriptedJudge
from tests.train.helpers import ListSink, demo_spec
from tests.train.test_completer import ScriptedCompleter
from tests.train.test_judge_budget import judge

__all__ = ["judge"]  # the scripted-judge fixture

JUDGE = {
    "type": "score_model", "name": "judge", "model": "judge-mini", "range": [0, 1],
    "input": [{"role": "user", "content": "Is this sorted? {{ sample.output_text }}"}],
}  # fmt: skip
RULE = {
    "type": "string_check", "name": "exact", "input": "{{ sample.output_text }}",
    "reference": "{{ item.reference }}", "operation": "eq",
}  # fmt: skip


def multi(**graders: dict[str, Any]) -> dict[str, Any]:
    formula = " + ".join(graders) if len(graders) > 1 else next(iter(graders))
    return {"type": "multi", "name": "both", "graders": graders, "calculate_output": formula}


def grades(pairs: list[tuple[float, float]]) -> list[GradeResult]:
    return [GradeResult(j + r, sub_rewards={"judge": j, "exact": r}) for j, r in pairs]


def test_alike_and_opposite_rankings() -> None:
    grader = validate_grader(multi(judge=JUDGE, exact=RULE))
    rule = [1.0, 0.0] * 5
    alike = judge_rule(grader, grades([(0.2 + 0.7 * r + 0.01 * i, r) for i, r in enumerate(rule)]))
    assert alike is not None and alike["spearman"] == pytest.approx(0.870, abs=1e-3)
    assert (alike["judge"], alike["rule"], alike["n"]) == ("judge", "exact", 10)
    opposite = judge_rule(grader, grades([(1.0 - r, r) for r in rule]))
    assert opposite is not None and opposite["spearman"] == pytest.approx(-1.0)
    assert (opposite["judge_mean"], opposite["rule_mean"]) == (0.5, 0.5)
    # Failed grades are left out: a failed sub-grader's 0 is no score.
    failed = GradeResult(0.0, errors={"model_grader_server_error": True},
                         sub_rewards={"judge": 0.0, "exact": 1.0})  # fmt: skip
    assert judge_rule(grader, [*grades([(1.0 - r, r) for r in rule]), failed])["n"] == 10  # type: ignore[index]


def test_nothing_is_measured_without_both_kinds() -> None:
    results = grades([(1.0, 0.0)] * 8)
    assert judge_rule(validate_grader(JUDGE), results) is None
    assert judge_rule(validate_grader(RULE), results) is None
    assert judge_rule(validate_grader(multi(judge=JUDGE)), results) is None
    assert (
        judge_rule(validate_grader(multi(exact=RULE, same={**RULE, "name": "b"})), results) is None
    )


def alarms_for(divergence: dict[str, Any] | None, **policy: Any) -> list[Any]:
    config = AlarmSettings.model_validate({"judge_rule_divergence": policy})
    state, _ = observe({}, point(0, None, 0.5, 9.0), config)
    return observe(state, point(1, 0.5, 0.5, 9.0, divergence=divergence), config)[1]


def numbers(rho: float | None, n: int) -> dict[str, Any]:
    return {"judge": "judge", "rule": "exact", "spearman": rho, "n": n,
            "judge_mean": 0.5, "rule_mean": 0.5}  # fmt: skip


def test_the_alarm_fires_below_the_threshold_on_enough_samples() -> None:
    (alarm,) = alarms_for(numbers(-1.0, 8), action="pause")
    assert (alarm.name, alarm.action) == ("judge_rule_divergence", "pause")
    assert alarm.data["spearman"] == -1.0 and alarm.data["n"] == 8
    assert alarm.data["threshold"] == 0.3 and alarm.data["min_samples"] == 8
    assert "judge 'judge' and rule 'exact' rank the 8 validation samples" in alarm.message
    assert "Spearman ρ -1.000 < 0.300" in alarm.message
    assert alarms_for(numbers(-1.0, 7)) == []  # too few samples
    assert alarms_for(numbers(0.3, 20)) == []  # not below the threshold
    assert alarms_for(numbers(None, 20)) == []  # one side constant: no ranking to compare
    assert alarms_for(None) == []  # a job without both kinds of grader
    assert alarms_for(numbers(0.5, 8), threshold=0.6)[0].data["threshold"] == 0.6
    assert AlarmSettings().judge_rule_divergence.action == "warn"


def test_a_baseline_alarm_only_warns() -> None:
    config = AlarmSettings.model_validate({"judge_rule_divergence": {"action": "pause"}})
    state, (alarm,) = observe({}, point(0, None, 0.5, 9.0, divergence=numbers(-1, 8)), config)
    assert alarm.action == "warn" and state["acted"] == []  # the first trained step can pause


def test_a_judge_that_disagrees_with_the_rule_pauses_the_job(
    judge: ScriptedJudge, home: Path, tmp_path: Path
) -> None:
    """Validation draws 2 samples of each of 4 prompts: the first right, the second "wrong";
    the judge scores "wrong" 1 and a right answer 0, so ρ = -1 on 8 samples."""
    judge.handler = lambda body: Reply(result=1.0 if "wrong" in str(body) else 0.0)
    spec = demo_spec(
        2, batch=2, valid=4, compute_multiplier=0.25, eval_interval=1, eval_samples=2,
        settings={"alarms": {"judge_rule_divergence": {"action": "pause"}}},
    )  # fmt: skip
    spec.method.reinforcement.grader = multi(judge=JUDGE, exact=RULE)
    rows = [*spec.training_rows, *(spec.validation_rows or [])]
    references = {str(row["messages"][-1]["content"]): row["reference"] for row in rows}

    def completer(loaded: LoadedModel) -> ScriptedCompleter:
        return ScriptedCompleter(loaded, references, lambda j: j % 2 == 0)

    sink = ListSink()
    outcome = run_job(spec, workdir=tmp_path, home=home, events=sink, completer=completer)
    assert outcome.status == "paused" and outcome.step == 1, outcome.error
    raised = [e for e in sink.events if e["message"].startswith("Alarm judge_rule_divergence")]
    assert [(e["step"], e["data"]["action"]) for e in raised] == [(0, "warn"), (1, "pause")]
    data = raised[1]["data"]
    assert data["spearman"] == pytest.approx(-1.0) and data["n"] == 8
    assert (data["judge"], data["rule"], data["judge_mean"], data["rule_mean"]) == (
        "judge", "exact", 0.5, 0.5,
    )  # fmt: skip
    assert "; action: pause" in raised[1]["message"] and raised[1]["level"] == "warn"
