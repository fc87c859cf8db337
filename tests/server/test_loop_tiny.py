"""The whole five-step loop on `openrft-tiny`, real trainer and real model, through the SDK:
grader → data → job → events to `succeeded` → checkpoints → chat with the `ft:` model and a
checkpoint, and embeddings from the fine-tuned weights."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from openrft.demo import task
from openrft.server import Settings
from tests.server.conftest import Live, live_server

GRADER = json.loads((Path(task.__file__).parent / "grader.json").read_text())


@pytest.fixture
def real(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    monkeypatch.delenv("OPENRFT_JOB_RUNNER")
    with live_server(Settings(home=tmp_path / "home"), backend=None) as server:
        yield server


def jsonl(rows: list[dict[str, object]]) -> io.BytesIO:
    return io.BytesIO(b"".join(json.dumps(row).encode() + b"\n" for row in rows))


def test_five_step_loop(real: Live) -> None:
    with OpenAI(base_url=real.base_url, api_key="unused", max_retries=0,
                _strict_response_validation=True) as sdk:  # fmt: skip
        # 1. the grader
        assert sdk.fine_tuning.alpha.graders.validate(grader=GRADER).grader  # type: ignore[arg-type]
        row = task.make_rows(1, seed=1)[0]
        ran = sdk.fine_tuning.alpha.graders.run(
            grader=GRADER, model_sample=row["reference"], item=row
        )  # type: ignore[arg-type]
        assert ran.reward == 1.0
        # 2. the data
        train = sdk.files.create(
            file=("train.jsonl", jsonl(task.make_rows(8, seed=2))), purpose="fine-tune"
        )
        valid = sdk.files.create(
            file=("valid.jsonl", jsonl(task.make_rows(4, seed=3))), purpose="fine-tune"
        )
        # 3. the job: 2 steps of 4 prompts × 2 samples, validating each step
        hyper = {"n_epochs": 1, "batch_size": 4, "compute_multiplier": 0.25, "eval_interval": 1}
        job = sdk.fine_tuning.jobs.create(
            model="openrft-tiny", training_file=train.id, validation_file=valid.id, suffix="loop",
            method={"type": "reinforcement", "reinforcement": {"grader": GRADER, "hyperparameters": hyper}},  # type: ignore[typeddict-item]
        )  # fmt: skip
        # 4. follow the events to the end
        seen: set[str] = set()
        deadline = time.monotonic() + 240
        while (status := sdk.fine_tuning.jobs.retrieve(job.id).status) not in (
            "succeeded",
            "failed",
        ):
            assert time.monotonic() < deadline, f"job still {status}"
            seen |= {event.id for event in sdk.fine_tuning.jobs.list_events(job.id, limit=100)}
            time.sleep(0.5)
        done = sdk.fine_tuning.jobs.retrieve(job.id)
        assert done.status == "succeeded", done.error
        events = list(sdk.fine_tuning.jobs.list_events(job.id, limit=100))
        metrics = [event for event in events if event.type == "metrics"]
        assert [event.data["step"] for event in metrics] == [2, 1]  # type: ignore[index]
        assert done.method and done.method.reinforcement
        assert not done.method.reinforcement.hyperparameters.model_extra  # only the 7 keys
        assert done.method.reinforcement.hyperparameters.eval_samples == 1  # resolved from "auto"
        # 4b. each validation (the baseline too) is a run of the job's eval, sample by sample
        eval_id = (done.model_extra or {})["eval_id"]
        loose = OpenAI(base_url=real.base_url, api_key="unused", max_retries=0)  # `error`: null
        runs = {run.name: run for run in loose.evals.runs.list(eval_id, limit=10)}
        assert sorted(runs) == ["step 0", "step 1", "step 2"]
        last = runs["step 2"]
        assert last.status == "completed" and last.result_counts.total == 4
        items = list(loose.evals.runs.output_items.list(last.id, eval_id=eval_id))
        scores = [item.results[0].score for item in items]
        valid_mean = metrics[0].data["full_valid_mean_reward"]  # type: ignore[index]
        assert abs(sum(scores) / len(scores) - valid_mean) < 1e-9  # the numbers the job reported
        assert all(item.sample.output and item.sample.input for item in items)
        # 5. checkpoints and the models they make
        ckpts = sdk.fine_tuning.jobs.checkpoints.list(job.id).data
        assert ckpts and ckpts[0].step_number == 2
        assert done.fine_tuned_model and done.fine_tuned_model.startswith(
            "ft:openrft-tiny:openrft:loop:"
        )
        for model in (done.fine_tuned_model, ckpts[-1].fine_tuned_model_checkpoint):
            reply = sdk.chat.completions.create(model=model, max_completion_tokens=8, seed=0,
                                                messages=row["messages"])  # fmt: skip
            assert reply.choices[0].message.content is not None and reply.usage
            assert reply.usage.completion_tokens <= 8
            # The same seeded request streamed token by token says the same thing.
            stream = sdk.chat.completions.create(model=model, max_completion_tokens=8, seed=0,
                                                 messages=row["messages"], stream=True)  # fmt: skip
            pieces = [c.choices[0].delta.content for c in stream if c.choices]
            assert "".join(p or "" for p in pieces) == reply.choices[0].message.content
            assert len([p for p in pieces if p]) > 1
        vectors = sdk.embeddings.create(
            model=done.fine_tuned_model, input="sort 123:", encoding_format="float"
        )
        assert abs(sum(value * value for value in vectors.data[0].embedding) - 1.0) < 1e-4


def test_the_server_serves_openrft_tiny_as_a_judge(
    real: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 4: score_model and label_model with the openrft server itself as the judge."""
    from openrft.graders import ERROR_FLAGS, run_grader

    monkeypatch.setenv("OPENRFT_JUDGE_BASE_URL", real.base_url)
    prompt = [{"role": "user", "content": "sort {{ item.digits }}: {{ sample.output_text }}"}]
    score = {"type": "score_model", "name": "judge", "model": "openrft-tiny", "input": prompt,
             "range": [0, 10], "sampling_params": {"max_completions_tokens": 96, "seed": 1}}  # fmt: skip
    label = {"type": "label_model", "name": "verdict", "model": "openrft-tiny", "input": prompt,
             "labels": ["right", "wrong"], "passing_labels": ["right"]}  # fmt: skip
    for grader in (score, label):
        response = run_grader(grader, "12379", {"digits": "93172"})
        metadata = response["metadata"]
        assert not [flag for flag in ERROR_FLAGS if metadata["errors"][flag]], metadata["errors"]
        assert metadata["sampled_model_name"] == "openrft-tiny"
        assert metadata["token_usage"]["total_tokens"] > 0
        assert 0.0 <= response["reward"] <= (10.0 if grader is score else 1.0)


def _train(sdk: OpenAI, model: str, suffix: str, train: str, valid: str) -> str:
    hyper = {"n_epochs": 1, "batch_size": 4, "compute_multiplier": 0.25, "eval_interval": 1}
    job = sdk.fine_tuning.jobs.create(
        model=model, training_file=train, validation_file=valid, suffix=suffix,
        method={"type": "reinforcement", "reinforcement": {"grader": GRADER, "hyperparameters": hyper}},  # type: ignore[typeddict-item]
    )  # fmt: skip
    deadline = time.monotonic() + 240
    while (status := sdk.fine_tuning.jobs.retrieve(job.id).status) not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, f"job still {status}"
        time.sleep(0.5)
    assert status == "succeeded", sdk.fine_tuning.jobs.retrieve(job.id).error
    return job.id


def test_a_job_from_an_ft_model_names_its_model_once(real: Live) -> None:
    """Job B fine-tunes job A's model: B's events, checkpoints and job agree on one name, with
    the original base model in it and no server path (it once said `ft:/…/step-2:openrft::…`)."""
    with OpenAI(base_url=real.base_url, api_key="unused", max_retries=0) as sdk:
        train = sdk.files.create(
            file=("t.jsonl", jsonl(task.make_rows(4, seed=2))), purpose="fine-tune"
        )
        valid = sdk.files.create(file=("v.jsonl", jsonl(task.make_rows(2, seed=3))), purpose="fine-tune")  # fmt: skip
        first = sdk.fine_tuning.jobs.retrieve(_train(sdk, "openrft-tiny", "a", train.id, valid.id))
        assert first.fine_tuned_model
        second = _train(sdk, first.fine_tuned_model, "b", train.id, valid.id)
        done = sdk.fine_tuning.jobs.retrieve(second)
        name = done.fine_tuned_model
        assert name and name.startswith("ft:openrft-tiny:openrft:b:") and "/" not in name
        events = [e.message for e in sdk.fine_tuning.jobs.list_events(second, limit=100)]
        created = {m for m in events if m.startswith("New fine-tuned model created")}
        assert created == {f"New fine-tuned model created: {name}"}
        assert not [m for m in events if str(real.home) in m or "/checkpoints/" in m]
        ckpts = sdk.fine_tuning.jobs.checkpoints.list(second).data
        assert [c.fine_tuned_model_checkpoint for c in ckpts] == [f"{name}:ckpt-step-1"]
