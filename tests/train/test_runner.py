"""run_job on openrft-tiny and the demo task: events, checkpoints, control, failures."""

import json
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

from openrft.graders import validate_grader
from openrft.models.tiny import NAME
from openrft.train.events import read_events
from openrft.train.runner import run_job
from tests.train.helpers import ListSink, demo_spec

SCORE_KEYS = {"graders", "train_reward_mean", "valid_reward_mean"}
LEGACY_KEYS = {
    "train_mean_reward",
    "full_valid_mean_reward",
    "full_valid_mean_parse_error",
    "reasoning_tokens_mean",
    "completion_tokens_mean",
    "valid_reasoning_tokens_mean",
    "mean_unresponsive_rewards",
    "model_graders_token_usage",
}


def run(spec: Any, workdir: Path, home: Path, control: Any = None) -> tuple[Any, ListSink]:
    sink = ListSink()
    return run_job(spec, workdir=workdir, home=home, events=sink, control=control), sink


def test_metrics_events_and_checkpoints_have_openais_shape(home: Path, tmp_path: Path) -> None:
    outcome, sink = run(demo_spec(4, eval_interval=2), tmp_path, home)
    assert outcome.status == "succeeded" and outcome.error is None
    metrics = sink.metrics()
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    data = metrics[1]["data"]
    assert {"step", "total_steps", "usage", "errors", "scores", "timing"} | LEGACY_KEYS <= set(data)
    assert set(data["scores"]) == SCORE_KEYS and data["total_steps"] == 4
    assert set(data["timing"]["step"]) == {"eval", "sampling", "training", "full_iteration"}
    grader = data["scores"]["graders"][0]
    assert grader["name"] == "sorted_exactly" and grader["type"] == "string_check"
    assert 0 <= data["train_mean_reward"] == data["scores"]["train_reward_mean"] <= 1
    assert data["full_valid_mean_reward"] == data["scores"]["valid_reward_mean"] is not None
    assert metrics[0]["data"]["full_valid_mean_reward"] is None  # step 1 does not validate
    assert data["errors"]["graders"][0]["train_invalid_variable_error_count"] == 0
    assert [c["step"] for c in outcome.checkpoints] == [2, 4]
    final = outcome.checkpoints[-1]
    assert set(final["metrics"]) == {
        "step",
        "train_reward_mean",
        "valid_reward_mean",
        "full_valid_mean_reward",
    }
    assert final["model_name"].startswith("ft:openrft-tiny:openrft::") and final[
        "model_name"
    ].endswith(":ckpt-step-4")
    assert outcome.fine_tuned_model_path == final["path"]
    assert outcome.resolved_hyperparameters["batch_size"] == 4
    assert outcome.trained_tokens > 0
    journal = read_events(tmp_path / "events.jsonl")
    assert [e["message"] for e in journal] == [e["message"] for e in sink.events]


def test_every_trainable_parameter_changes_after_one_step(home: Path, tmp_path: Path) -> None:
    outcome, _ = run(demo_spec(1, batch=8), tmp_path, home)
    before = load_file(home / "models" / NAME / "model.safetensors")
    after = load_file(Path(outcome.fine_tuned_model_path) / "model" / "model.safetensors")
    assert before.keys() == after.keys()
    unchanged = [name for name in before if before[name].equal(after[name])]
    assert unchanged == []


def test_lora_trains_only_the_adapter_and_its_checkpoint_serves(home: Path, tmp_path: Path) -> None:
    from peft import PeftModel

    from openrft.models.registry import load_model

    spec = demo_spec(2, batch=8, settings={"lora_rank": 4})
    outcome, _ = run(spec, tmp_path, home)
    assert outcome.status == "succeeded"
    folder = Path(outcome.fine_tuned_model_path) / "model"
    adapter = load_file(folder / "adapter_model.safetensors")
    assert adapter and all("lora_" in name for name in adapter)
    assert any(name.endswith("lora_B.weight") and t.abs().sum() > 0 for name, t in adapter.items())
    served = load_model(outcome.fine_tuned_model_path, home=home)
    assert isinstance(served.model, PeftModel)


class Script:
    """A Control that answers from a list, one answer per step."""

    def __init__(self, *answers: Any):
        self.answers = list(answers)

    def check(self) -> Any:
        return self.answers.pop(0) if self.answers else None


def test_cancel_stops_within_one_step(home: Path, tmp_path: Path) -> None:
    outcome, sink = run(demo_spec(5), tmp_path, home, Script(None, None, "cancel"))
    assert outcome.status == "cancelled"
    assert [m["step"] for m in sink.metrics()] == [1, 2]


def test_pause_checkpoints_and_resume_continues_the_step_count(home: Path, tmp_path: Path) -> None:
    spec = demo_spec(6, eval_interval=4)
    paused, first = run(spec, tmp_path, home, Script(None, None, None, "pause"))
    assert paused.status == "paused"
    assert [c["step"] for c in paused.checkpoints] == [3]
    done, second = run(spec, tmp_path, home)
    assert done.status == "succeeded"
    assert [m["step"] for m in first.metrics() + second.metrics()] == [1, 2, 3, 4, 5, 6]
    assert "Resumed from step 3" in [e["message"] for e in second.events]
    # The pause checkpoint has no validation reward: the next checkpoint retires it (J3).
    assert [c["step"] for c in done.checkpoints] == [4, 6]
    straight, _ = run(spec, tmp_path / "straight", home)  # the same job, never paused
    resumed_weights = load_file(Path(done.fine_tuned_model_path) / "model" / "model.safetensors")
    straight_weights = load_file(
        Path(straight.fine_tuned_model_path) / "model" / "model.safetensors"
    )
    assert all(resumed_weights[k].equal(straight_weights[k]) for k in straight_weights)
    assert done.trained_tokens == straight.trained_tokens


def test_grader_errors_past_the_limit_fail_the_job(home: Path, tmp_path: Path) -> None:
    spec = demo_spec(3, batch=8)
    grader = spec.method.reinforcement.grader
    # every sample: invalid_variable_error
    update = {"reference": "{{ item.no_such_field }}"}
    spec.method.reinforcement.grader = grader.model_copy(update=update)
    outcome, sink = run(spec, tmp_path, home)
    assert outcome.status == "failed"
    assert outcome.error["code"] == "grader_error_rate"
    assert "64 of 64" in outcome.error["message"]
    assert sink.metrics() == []
    # Nothing was graded at step 0 either: no score, not a reward of 0 that reads as one.
    baseline = next(e for e in sink.events if e["message"].startswith("Baseline validation"))
    assert "no score: all 16 samples errored" in baseline["message"]
    assert "no_such_field" in baseline["message"] and baseline["level"] == "warn"
    assert baseline["data"] == {"valid_reward_mean": None}
    assert not any("reward=0.000" in e["message"] for e in sink.events)


def test_a_grader_that_fails_every_sample_says_so_without_a_limit() -> None:
    from openrft.graders import failure
    from openrft.train.rewards import GraderErrorRate, check_error_rate

    flag, key = "python_grader_runtime_error", "python_grader_runtime_error_details"
    results = [failure(flag, key, "ValueError: boom") for _ in range(32)]
    with pytest.raises(GraderErrorRate) as info:
        check_error_rate(results)
    message = info.value.message
    assert "all 32 samples failed grading with a python runtime error" in message
    assert "ValueError: boom" in message and "limit" not in message


def test_a_few_grader_errors_are_counted_and_left_out(home: Path, tmp_path: Path) -> None:
    spec = demo_spec(1, batch=8, valid=0)
    for row in spec.training_rows[:2]:
        del row["reference"]  # 2 prompts × 8 samples = 16 errors, under max(50, 20%)
    outcome, sink = run(spec, tmp_path, home)
    assert outcome.status == "succeeded"
    errors = sink.metrics()[0]["data"]["errors"]["graders"][0]
    assert errors["train_invalid_variable_error_count"] == 16
    assert sink.metrics()[0]["data"]["errored_samples"] == 16
    assert any("held out for validation" in e["message"] for e in sink.events)  # D4


def test_response_format_jobs_produce_parsable_samples(home: Path, tmp_path: Path) -> None:
    spec = demo_spec(2, batch=4, settings={"max_completion_tokens": 32})
    schema = {
        "type": "object",
        "properties": {"digits": {"type": "string"}},
        "required": ["digits"],
        "additionalProperties": False,
    }
    reinforcement = spec.method.reinforcement
    reinforcement.response_format = {
        "type": "json_schema",
        "json_schema": {"name": "s", "strict": True, "schema": schema},
    }
    reinforcement.grader = validate_grader(
        {
            "type": "string_check",
            "name": "g",
            "input": "{{ sample.output_json.digits }}",
            "reference": "{{ item.reference }}",
            "operation": "eq",
        }
    )
    outcome, sink = run(spec, tmp_path, home)
    assert outcome.status == "succeeded"
    for event in sink.metrics():
        data = event["data"]
        assert data["errors"]["graders"][0]["train_sample_parse_error_count"] == 0
    assert sink.metrics()[-1]["data"]["full_valid_mean_parse_error"] == 0


def test_tool_calls_land_in_output_tools() -> None:
    from openrft.train.step import to_sample

    text = '<tool_call>{"name": "add", "arguments": {"a": 1}}</tool_call>'
    sample = to_sample(text, "stop", {"tools": [{"type": "function"}]}, False)
    assert sample.output_tools[0]["function"] == {"name": "add", "arguments": json.dumps({"a": 1})}
    assert sample.get_choices()[0]["finish_reason"] == "tool_calls"
    plain = to_sample(text, "stop", {}, False)
    assert plain.output_tools == [] and plain.output_text == text


def test_a_bad_request_fails_cleanly(home: Path, tmp_path: Path) -> None:
    spec = demo_spec(1).model_copy(update={"model": "no-such-org/no-such-model"})
    outcome, _ = run(spec, tmp_path, home)
    assert outcome.status == "failed" and outcome.error and outcome.error["param"] == "model"


@pytest.mark.slow
def test_validation_reward_rises_by_thirty_points(home: Path, tmp_path: Path) -> None:
    """The learning test (spec/cpu-feasibility.md 2b): assert the gain, never the time."""
    spec = demo_spec(50, batch=8, valid=200, eval_interval=25)
    outcome, sink = run(spec, tmp_path, home)
    assert outcome.status == "succeeded"
    baseline = next(
        e["data"]["valid_reward_mean"] for e in sink.events if e["message"].startswith("Baseline")
    )
    final = sink.metrics()[-1]["data"]["full_valid_mean_reward"]
    assert final - baseline >= 0.30, (baseline, final)


def test_a_python_grader_rewards_through_the_sandbox_pool(home: Path, tmp_path: Path) -> None:
    from openrft.errors import SandboxUnavailableError
    from openrft.sandbox import tiers

    try:
        tiers.detect()
    except SandboxUnavailableError as exc:
        pytest.skip(f"no python-grader sandbox here: {exc}")
    spec = demo_spec(2, batch=4, valid=4)
    source = (
        "def grade(sample, item):\n    return float(sample['output_text'] == item['reference'])\n"
    )
    python = {"type": "python", "name": "exact", "source": source}
    spec.method.reinforcement.grader = validate_grader(python)
    outcome, sink = run(spec, tmp_path, home)
    assert outcome.status == "succeeded", outcome.error
    data = sink.metrics()[-1]["data"]
    assert data["scores"]["graders"][0]["type"] == "python"
    assert data["errors"]["graders"][0]["train_python_grader_server_error_count"] == 0
    assert data["timing"]["graders"][0]["train_execution_latency_mean"] > 0


def test_a_full_disk_fails_the_job_clearly_and_keeps_the_last_checkpoint(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from openrft.train import runner

    real = runner.write_weights
    calls = []

    def full_on_second(loaded: Any, optimizer: Any, folder: Path, whole: Any = None) -> None:
        calls.append(folder)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(folder))
        real(loaded, optimizer, folder, whole)

    monkeypatch.setattr(runner, "write_weights", full_on_second)
    outcome, _ = run(demo_spec(4, eval_interval=2), tmp_path, home)
    assert outcome.status == "failed" and outcome.error["code"] == "disk_full"
    assert [c["step"] for c in outcome.checkpoints] == [2]
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-2"]


def test_kept_checkpoints_are_reported_before_each_checkpoint_event(
    home: Path, tmp_path: Path
) -> None:
    """The job store lists a checkpoint by the time its event is out, and never one that
    retention deleted: each report is exactly the checkpoint directories on disk."""
    sink = ListSink()
    reports: list[tuple[int, list[int]]] = []

    def on_checkpoint(kept: list[dict[str, Any]]) -> None:
        on_disk = sorted(int(p.name[5:]) for p in (tmp_path / "checkpoints").glob("step-*"))
        assert [c["step"] for c in kept] == on_disk
        assert all(Path(c["path"]).is_dir() for c in kept)
        reports.append((len(sink.events), [c["step"] for c in kept]))

    spec = demo_spec(4, eval_interval=1, settings={"keep_best": 1})
    outcome = run_job(spec, workdir=tmp_path, home=home, events=sink, on_checkpoint=on_checkpoint)
    assert outcome.status == "succeeded"
    created = [
        (index, int(e["message"].rsplit(" ", 1)[1]))
        for index, e in enumerate(sink.events)
        if e["message"].startswith("Checkpoint created at step ")
    ]
    assert [step for _, step in created] == [1, 2, 3, 4]
    for index, step in created:  # the last report before each event holds its step
        last = [kept for seen, kept in reports if seen <= index][-1]
        assert step in last
    assert reports[-1][1] == [c["step"] for c in outcome.checkpoints]
    assert any(len(kept) < len(created) for _, kept in reports[1:])  # retention was reported
