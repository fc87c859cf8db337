"""Reward-hacking alarms: the pure logic (thresholds, baselines, each policy) and a job whose
train reward climbs while its validation reward does not, so the gap alarm fires, writes its
numbers, and with `pause` the job ends paused and resumes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from openrft.jobs.events import EventStore
from openrft.jobs.record import record_outcome
from openrft.jobs.store import JobStore
from openrft.models.registry import LoadedModel
from openrft.store.db import Database
from openrft.train.alarms import (
    AlarmSettings,
    TrendPolicy,
    observe,
    point,
    rising_while_falling,
    stop,
)
from openrft.train.outcome import JobOutcome
from openrft.train.runner import run_job
from openrft.train.spec import TrainSettings
from tests.train.helpers import ListSink, demo_spec
from tests.train.test_completer import ScriptedCompleter


def settings(**policies: Any) -> AlarmSettings:
    return AlarmSettings.model_validate(policies)


def run(series: list[dict[str, Any]], config: AlarmSettings) -> tuple[dict[str, Any], list[Any]]:
    state: dict[str, Any] = {}
    raised: list[Any] = []
    for p in series:
        state, raised = observe(state, p, config)
    return state, raised


def test_the_gap_alarm_fires_above_its_threshold_only() -> None:
    base = point(0, None, 0.2, 10.0)
    _, quiet = run([base, point(1, 0.30, 0.2, 10.0)], settings())
    assert quiet == []  # a gap of 0.10 is not above 0.10
    _, (alarm,) = run([base, point(1, 0.5, 0.2, 10.0)], settings())
    assert (alarm.name, alarm.action, alarm.level) == ("train_valid_gap", "warn", "warn")
    assert alarm.data["gap"] == pytest.approx(0.3) and alarm.data["threshold"] == 0.1
    assert "train reward 0.500 − validation reward 0.200 = 0.300 > 0.100" in alarm.message
    _, loose = run([base, point(1, 0.5, 0.2, 10.0)], settings(train_valid_gap={"threshold": 0.5}))
    assert loose == []


def test_completion_length_is_measured_against_the_first_validation() -> None:
    base = point(0, None, 0.5, 10.0)
    assert run([base, point(1, 0.5, 0.5, 19.0)], settings())[1] == []
    _, (long,) = run([base, point(1, 0.5, 0.5, 25.0)], settings())
    assert long.name == "completion_length" and long.data["ratio"] == 2.5
    assert long.data["baseline"] == 10.0
    _, (short,) = run([base, point(1, 0.5, 0.5, 4.0)], settings())
    assert short.data["ratio"] == 0.4
    # The baseline stays the first validation's, not the previous one's.
    _, raised = run([base, point(1, 0.5, 0.5, 19.0), point(2, 0.5, 0.5, 30.0)], settings())
    assert [a.data["ratio"] for a in raised] == [3.0]


def test_entropy_collapse_is_a_fraction_of_its_first_value() -> None:
    series = [point(0, None, 0.5, 10.0), point(1, 0.5, 0.5, 10.0, 2.0)]
    assert run([*series, point(2, 0.5, 0.5, 10.0, 0.6)], settings())[1] == []
    _, (alarm,) = run([*series, point(2, 0.5, 0.5, 10.0, 0.4)], settings())
    assert alarm.name == "entropy_collapse" and alarm.data["ratio"] == pytest.approx(0.2)


def test_policies_pause_once_and_fail() -> None:
    config = settings(train_valid_gap={"action": "pause"})
    state, (alarm,) = run([point(0, None, 0.0, 5.0), point(1, 0.9, 0.0, 5.0)], config)
    assert alarm.action == "pause" and stop([alarm]) is alarm
    assert state["acted"] == ["train_valid_gap"]
    # Resumed past it: the same alarm now warns rather than pausing again.
    _, (again,) = observe(state, point(2, 0.9, 0.0, 5.0), config)
    assert again.action == "warn" and stop([again]) is None
    config = settings(train_valid_gap={"action": "fail"})
    _, (failing,) = run([point(0, None, 0.0, 5.0), point(1, 0.9, 0.0, 5.0)], config)
    assert failing.level == "error" and stop([failing]) is failing


def test_settings_are_strict_with_warn_defaults() -> None:
    config = TrainSettings().alarms
    assert config.train_valid_gap.threshold == 0.1 and config.train_valid_gap.action == "warn"
    assert (config.completion_length.low, config.completion_length.high) == (0.5, 2.0)
    with pytest.raises(ValidationError):
        TrainSettings.model_validate({"alarms": {"train_valid_gap": {"action": "stop"}}})
    with pytest.raises(ValidationError):
        TrainSettings.model_validate({"alarms": {"gap": {}}})


def test_the_metric_hook_sees_a_reward_rising_while_the_metric_falls() -> None:
    policy = TrendPolicy(window=3)
    hit = rising_while_falling([0.2, 0.5, 0.9], [0.6, 0.5, 0.3], policy, "exact match")
    assert hit is not None and "exact match fell 0.600 → 0.300" in hit[0]
    assert rising_while_falling([0.2, 0.5, 0.9], [0.6, 0.7, 0.8], policy) is None
    assert rising_while_falling([0.2, 0.9], [0.6, 0.3], policy) is None  # not a window yet
    # Fed through the points: the validation reward against the point's metric.
    series = [point(0, None, 0.2, 9.0, None, 0.6), point(1, 0.5, 0.5, 9.0, None, 0.5)]
    _, (alarm,) = run([*series, point(2, 0.9, 0.9, 9.0, None, 0.3)], settings())
    assert alarm.name == "reward_vs_metric" and alarm.data["metric"] == [0.6, 0.3]
    assert run([*series, point(2, 0.9, 0.9, 9.0)], settings())[1] == []  # no metric: quiet


def hacked_job(home: Path, workdir: Path, action: str) -> tuple[Any, ListSink]:
    """Training answers right except sample 0, the one validation draws: train reward 0.75,
    validation reward 0."""
    spec = demo_spec(
        2, batch=4, valid=4, compute_multiplier=0.5, eval_interval=1,
        settings={"alarms": {"train_valid_gap": {"action": action}}},
    )  # fmt: skip
    rows = [*spec.training_rows, *(spec.validation_rows or [])]
    references = {str(row["messages"][-1]["content"]): row["reference"] for row in rows}

    def completer(loaded: LoadedModel) -> ScriptedCompleter:
        return ScriptedCompleter(loaded, references, lambda j: j != 0)

    sink = ListSink()
    outcome = run_job(spec, workdir=workdir, home=home, events=sink, completer=completer)
    return outcome, sink


def alarms_in(sink: ListSink) -> list[dict[str, Any]]:
    return [e for e in sink.events if e["message"].startswith("Alarm ")]


def test_the_gap_alarm_pauses_a_hacked_job_which_resumes(home: Path, tmp_path: Path) -> None:
    outcome, sink = hacked_job(home, tmp_path, "pause")
    assert outcome.status == "paused" and outcome.step == 1
    (alarm,) = alarms_in(sink)
    assert alarm["type"] == "message" and alarm["level"] == "warn" and alarm["step"] == 1
    assert alarm["data"]["train_reward_mean"] == 0.75 and alarm["data"]["valid_reward_mean"] == 0
    assert alarm["data"]["gap"] == 0.75 and alarm["data"]["action"] == "pause"
    assert "= 0.750 > 0.100; action: pause" in alarm["message"]
    assert (
        "resume it (POST /v1/fine_tuning/jobs/{id}/resume, or run its job file again)"
        in (alarm["message"])
    )
    assert [c["step"] for c in outcome.checkpoints or []] == [1]
    resumed, sink = hacked_job(home, tmp_path, "pause")
    assert resumed.status == "succeeded", resumed.error
    assert sink.events[0]["message"] == "Resumed from step 1"
    (again,) = alarms_in(sink)  # still there, now a warning: a person chose to go on
    assert again["step"] == 2 and again["data"]["action"] == "warn"


def test_the_gap_alarm_fails_a_job_when_told(home: Path, tmp_path: Path) -> None:
    outcome, sink = hacked_job(home, tmp_path, "fail")
    assert outcome.status == "failed" and outcome.error is not None
    assert outcome.error["code"] == "training_alarm"
    assert outcome.error["param"] == "settings.alarms"
    assert "Alarm train_valid_gap at step 1" in outcome.error["message"]
    assert alarms_in(sink)[0]["level"] == "error"


def test_a_warning_alarm_lets_the_job_finish(home: Path, tmp_path: Path) -> None:
    outcome, sink = hacked_job(home, tmp_path, "warn")
    assert outcome.status == "succeeded", outcome.error
    assert [a["step"] for a in alarms_in(sink)] == [1, 2]
    metrics = sink.metrics()[0]["data"]
    assert metrics["train_sampled_token_nll_mean"] > 0  # the entropy estimate, each step


def test_a_job_the_trainer_paused_is_recorded_paused(tmp_path: Path) -> None:
    """The job child records an alarm's pause: `running` → `paused` (resumable), and says so."""
    db = Database(tmp_path)
    try:
        jobs, events = JobStore(db), EventStore(db)
        row, _ = jobs.create("p", {"model": "openrft-tiny", "training_file": "file-x",
                                   "method": {}, "seed": 0})  # fmt: skip
        assert jobs.move(row["id"], {"validating_files"}, "queued")
        assert jobs.move(row["id"], {"queued"}, "running")
        paused = JobOutcome(status="paused", step=1, checkpoints=[])
        record_outcome(jobs, events, row["id"], paused, "ft:tiny")
        assert jobs.row(row["id"])["status"] == "paused"
        assert jobs.act("p", row["id"], "resume")["status"] == "queued"
    finally:
        db.close()
