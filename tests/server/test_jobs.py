"""Fine-tuning jobs end to end through the SDK, with the scripted runner in the job child:
create → validating_files → queued → running → succeeded; events, checkpoints, models,
pause/resume/cancel while running, file checks (D2–D4), a crashed child resumed."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.server.conftest import Live

GRADER = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
          "reference": "{{item.answer}}", "operation": "eq"}  # fmt: skip
ROWS = b"".join(
    b'{"messages": [{"role": "user", "content": "w%d"}], "answer": "%d"}\n' % (i, i)
    for i in range(12)
)
FIRST_LINES = b"".join(ROWS.splitlines(keepends=True)[:3])


def client(live: Live, key: str = "key-a", strict: bool = True) -> OpenAI:
    return OpenAI(base_url=live.base_url, api_key=key, max_retries=0,
                  _strict_response_validation=strict)  # fmt: skip


def method(grader: dict[str, Any] | None = None) -> Any:
    return {"type": "reinforcement", "reinforcement": {"grader": grader or GRADER,
            "hyperparameters": {"n_epochs": 1, "batch_size": 2}}}  # fmt: skip


def upload(sdk: OpenAI, content: bytes = ROWS) -> str:
    return sdk.files.create(file=("rows.jsonl", content), purpose="fine-tune").id


def wait_for(sdk: OpenAI, job_id: str, *statuses: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        job = sdk.fine_tuning.jobs.retrieve(job_id)
        if job.status in statuses:
            return job
        assert time.monotonic() < deadline, f"job stuck in {job.status}"
        time.sleep(0.05)


def test_job_runs_to_success_with_events_checkpoints_and_models(live: Live) -> None:
    with client(live) as sdk:
        train, valid = upload(sdk), upload(sdk, FIRST_LINES)
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=train,
            validation_file=valid, method=method(), suffix="demo", seed=7, metadata={"run": "a"})  # fmt: skip
        assert job.status == "validating_files" and job.object == "fine_tuning.job"
        assert (job.seed, job.training_file, job.validation_file) == (7, train, valid)
        assert job.method and job.method.reinforcement
        assert job.method.reinforcement.hyperparameters.n_epochs == 1
        assert job.method.reinforcement.hyperparameters.eval_interval == "auto"
        done = wait_for(sdk, job.id, "succeeded", "failed")
        assert done.status == "succeeded", done.error
        assert done.fine_tuned_model and done.fine_tuned_model.startswith(
            "ft:openrft-tiny:alpha:demo:"
        )
        assert done.finished_at and done.trained_tokens == 123 and done.error is None
        assert done.hyperparameters.batch_size == 2
        events = list(sdk.fine_tuning.jobs.list_events(job.id, limit=3))
        messages = [event.message for event in events]
        assert (
            messages[0] == "The job has successfully completed"
            and messages[-1] == "Created fine-tuning job"
        )
        metrics = [event for event in events if event.type == "metrics"]
        assert [event.data["step"] for event in metrics] == [4, 3, 2, 1]  # type: ignore[index]
        page = sdk.fine_tuning.jobs.checkpoints.list(job.id, limit=2)
        assert [c.step_number for c in page.data] == [4, 3] and page.has_more
        ckpts = list(sdk.fine_tuning.jobs.checkpoints.list(job.id, limit=1))
        assert [c.step_number for c in ckpts] == [4, 3, 2]
        assert ckpts[0].fine_tuned_model_checkpoint == f"{done.fine_tuned_model}:ckpt-step-4"
        assert ckpts[0].metrics.step == 4 and ckpts[0].fine_tuning_job_id == job.id
        ids = [model.id for model in sdk.models.list()]
        assert done.fine_tuned_model in ids and ckpts[2].fine_tuned_model_checkpoint in ids
        assert sdk.models.retrieve(done.fine_tuned_model).owned_by == "alpha"
        reply = sdk.chat.completions.create(model=done.fine_tuned_model,
                                            messages=[{"role": "user", "content": "abc"}])  # fmt: skip
        assert reply.choices[0].message.content == "cba"
        sdk.chat.completions.create(model=ckpts[2].fine_tuned_model_checkpoint,
                                    messages=[{"role": "user", "content": "x"}])  # fmt: skip
        served = {model for model, _ in live.backend.calls}
        assert str(live.home / "jobs" / job.id / "step-4") in served
        assert str(live.home / "jobs" / job.id / "step-2") in served
        with client(live, "key-b") as other:
            for call in (other.fine_tuning.jobs.retrieve, other.fine_tuning.jobs.cancel,
                         other.fine_tuning.jobs.list_events, other.fine_tuning.jobs.checkpoints.list,
                         other.models.retrieve):  # fmt: skip
                with pytest.raises(openai.NotFoundError):
                    call(done.fine_tuned_model if call == other.models.retrieve else job.id)
        deleted = sdk.models.delete(done.fine_tuned_model)
        assert deleted.deleted is True and deleted.id == done.fine_tuned_model
        with pytest.raises(openai.NotFoundError):
            sdk.models.retrieve(done.fine_tuned_model)
        with pytest.raises(openai.BadRequestError):
            sdk.models.delete("openrft-tiny")


def test_list_filters_by_metadata_and_pages(live: Live) -> None:
    with client(live, "key-b") as sdk:
        train = upload(sdk)
        made = [sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=train,
                method=method(), metadata={"batch": "x", "i": str(i)}).id for i in range(3)]  # fmt: skip
        page = sdk.fine_tuning.jobs.list(limit=2, metadata={"batch": "x"})
        assert [job.id for job in page.data] == made[::-1][:2] and page.has_more
        assert [
            job.id for job in sdk.fine_tuning.jobs.list(limit=1, metadata={"batch": "x"})
        ] == made[::-1]
        only = sdk.fine_tuning.jobs.list(metadata={"i": "1"})
        assert [job.id for job in only.data] == [made[1]] and not only.has_more
        for job_id in made:
            wait_for(sdk, job_id, "succeeded")


def test_create_rejects_bad_requests(live: Live) -> None:
    with client(live) as sdk:
        train = upload(sdk)
        cases: list[tuple[dict[str, Any], str | None]] = [
            ({"training_file": "file-nope"}, "training_file"),
            ({"method": {"type": "supervised"}}, "method.type"),
            (
                {"method": method({**GRADER, "operation": "nope"})},
                "method.reinforcement.grader.operation",
            ),
            ({"model": "no-such-model"}, "model"),
            ({"seed": -1}, "seed"),
            ({"bogus": 1}, "bogus"),
            ({"settings": {"lora_rank": -1}}, "settings.lora_rank"),
            ({"settings": {"lora_rnak": 8}}, "settings.lora_rnak"),
            (
                {"settings": {"alarms": {"train_valid_gap": {"action": "stop"}}}},
                "settings.alarms.train_valid_gap.action",
            ),
        ]
        for change, param in cases:
            body = {"model": "openrft-tiny", "training_file": train, "method": method(), **change}
            with pytest.raises(openai.BadRequestError) as caught:
                sdk.post("/fine_tuning/jobs", body=body, cast_to=object)
            assert caught.value.param == param, (change, caught.value.body)


def test_file_checks_fail_the_job(live: Live) -> None:
    with client(live) as sdk:
        bad = upload(sdk, ROWS.splitlines(keepends=True)[0] + b'{"messages": []}\n')
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=bad, method=method())
        failed = wait_for(sdk, job.id, "failed", "succeeded")
        assert failed.status == "failed" and failed.error and failed.error.param == "training_file"
        assert f"{bad}:2" in failed.error.message
        missing = {**GRADER, "reference": "{{item.nothing}}"}
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
                                          method=method(missing))  # fmt: skip
        failed = wait_for(sdk, job.id, "failed", "succeeded")
        assert failed.status == "failed" and failed.error and "item.nothing" in failed.error.message


def test_split_when_no_validation_file(live: Live) -> None:
    with client(live) as sdk:
        job = sdk.fine_tuning.jobs.create(
            model="openrft-tiny", training_file=upload(sdk), method=method()
        )
        wait_for(sdk, job.id, "succeeded")
        messages = [event.message for event in sdk.fine_tuning.jobs.list_events(job.id, limit=100)]
        assert any(
            message.startswith("No validation_file: 1 of 12 training rows") for message in messages
        )
        assert (live.home / "jobs" / job.id / "valid.jsonl").read_text().count("\n") == 1


def test_pause_resume_cancel_while_running(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_STEPS", "30")
    monkeypatch.setenv("FAKE_STEP_SECONDS", "0.1")
    with client(live) as sdk, client(live, strict=False) as loose:
        job = sdk.fine_tuning.jobs.create(
            model="openrft-tiny", training_file=upload(sdk), method=method()
        )
        wait_for(sdk, job.id, "running")
        deadline = time.monotonic() + 20
        while not sdk.fine_tuning.jobs.checkpoints.list(job.id).data:  # listed while running
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert loose.fine_tuning.jobs.pause(job.id).status == "paused"
        time.sleep(0.3)
        assert loose.fine_tuning.jobs.retrieve(job.id).status == "paused"
        with pytest.raises(openai.BadRequestError) as caught:
            loose.fine_tuning.jobs.pause(job.id)
        assert caught.value.code == "invalid_job_state"
        assert loose.fine_tuning.jobs.resume(job.id).status == "queued"
        wait_for(sdk, job.id, "running")
        time.sleep(0.3)
        assert sdk.fine_tuning.jobs.cancel(job.id).status == "cancelled"
        time.sleep(0.5)
        final = sdk.fine_tuning.jobs.retrieve(job.id)
        assert final.status == "cancelled" and final.fine_tuned_model is None
        steps = [e.data["step"] for e in sdk.fine_tuning.jobs.list_events(job.id, limit=100)
                 if e.type == "metrics"]  # type: ignore[index]  # fmt: skip
        assert steps == sorted(set(steps), reverse=True) and len(steps) < 30
        with pytest.raises(openai.BadRequestError):
            sdk.fine_tuning.jobs.resume(job.id)


def test_crashed_child_is_requeued_and_resumes(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CRASH_AT", "3")
    with client(live) as sdk:
        job = sdk.fine_tuning.jobs.create(
            model="openrft-tiny", training_file=upload(sdk), method=method()
        )
        done = wait_for(sdk, job.id, "succeeded", "failed")
        assert done.status == "succeeded"
        events = list(sdk.fine_tuning.jobs.list_events(job.id, limit=100))
        assert any("requeued" in event.message for event in events)
        steps = [e.data["step"] for e in events if e.type == "metrics"]  # type: ignore[index]
        assert steps == [4, 3, 2, 1]


def test_idempotency_key_and_metadata_limits(live: Live) -> None:
    with client(live) as sdk:
        train = upload(sdk)
        headers = {"Idempotency-Key": "create-once"}
        first = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=train,
                                            method=method(), extra_headers=headers)  # fmt: skip
        again = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=train,
                                            method=method(), extra_headers=headers)  # fmt: skip
        assert again.id == first.id
        with pytest.raises(openai.BadRequestError):
            sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=train, method=method(),
                                        metadata={"k" * 65: "v"})  # fmt: skip
        wait_for(sdk, first.id, "succeeded")


async def test_async_client_jobs(live: Live) -> None:
    async with AsyncOpenAI(base_url=live.base_url, api_key="key-a", max_retries=0,
                           _strict_response_validation=True) as sdk:  # fmt: skip
        train = await sdk.files.create(file=("rows.jsonl", ROWS), purpose="fine-tune")
        job = await sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=train.id,
                                                method=method())  # fmt: skip
        while (await sdk.fine_tuning.jobs.retrieve(job.id)).status != "succeeded":
            await asyncio.sleep(0.05)
        events = [event async for event in await sdk.fine_tuning.jobs.list_events(job.id, limit=2)]
        assert events[-1].message == "Created fine-tuning job"
        ckpts = await sdk.fine_tuning.jobs.checkpoints.list(job.id)
        assert [c.step_number for c in ckpts.data] == [4, 3, 2]
        assert job.id in [j.id async for j in await sdk.fine_tuning.jobs.list(limit=100)]


def test_server_import_needs_no_torch() -> None:
    code = "import sys, openrft.server, openrft.cli.main; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_engine_settings_reach_the_trainer(live: Live) -> None:
    """openrft's `settings` extension, sent with the SDK's `extra_body`."""
    with client(live) as sdk:
        settings = {"lora_rank": 8, "judge_max_tokens": 50_000}
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
            method=method(), extra_body={"settings": settings})  # fmt: skip
        assert wait_for(sdk, job.id, "succeeded", "failed").status == "succeeded"
    seen = json.loads((live.home / "jobs" / job.id / "step-1" / "settings.json").read_text())
    assert seen == settings


def test_each_validation_is_a_run_of_the_jobs_eval(live: Live) -> None:
    with client(live) as sdk:
        train, valid = upload(sdk), upload(sdk, FIRST_LINES)  # answers "0", "1", "2"
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=train,
                                          validation_file=valid, method=method())  # fmt: skip
        eval_id = (job.model_extra or {})["eval_id"]
        assert eval_id.startswith("eval_")
        done = wait_for(sdk, job.id, "succeeded", "failed")
        assert (done.model_extra or {})["eval_id"] == eval_id
        evaluation = sdk.evals.retrieve(eval_id)
        assert evaluation.metadata == {"fine_tuning_job_id": job.id}
        assert [criterion.name for criterion in evaluation.testing_criteria] == ["exact"]
        with client(live, strict=False) as loose:  # a run's `error` is null (docs/server.md)
            runs = list(loose.evals.runs.list(eval_id))
            items = list(loose.evals.runs.output_items.list(runs[0].id, eval_id=eval_id))
        assert [run.name for run in runs] == ["step 1", "step 2", "step 3", "step 4"]
        # The fake trainer answers every row with the step number: step 1 and 2 pass one row.
        passed = [(run.result_counts.passed, run.result_counts.failed) for run in runs]
        assert passed == [(1, 2), (1, 2), (0, 3), (0, 3)]
        assert [item.datasource_item["answer"] for item in items] == ["0", "1", "2"]
        assert [item.status for item in items] == ["fail", "pass", "fail"]
        assert items[1].sample.output[0].content == "1"
        assert items[1].sample.input[0].content == "w1"
        with client(live, "key-b") as other, pytest.raises(openai.NotFoundError):
            other.evals.retrieve(eval_id)


def _json_schema(*keys: str) -> dict[str, Any]:
    properties = {key: {"type": "string"} for key in keys}
    schema = {"type": "object", "properties": properties, "required": list(keys),
              "additionalProperties": False}  # fmt: skip
    return {"type": "json_schema", "json_schema": {"name": "out", "schema": schema, "strict": True}}


def test_a_response_format_that_cannot_fit_the_budget_is_a_400(live: Live) -> None:
    """openrft-tiny's budget is 16 completion tokens at medium effort (bytes, for its byte-level
    tokenizer); `{"explanation":"","final_answer":""}` is 36: every sample would end empty."""
    long = _json_schema("explanation", "final_answer")
    with client(live) as sdk:
        train = upload(sdk)

        def create(response_format: Any, effort: str = "default", **extra: Any) -> Any:
            body = method()
            body["reinforcement"] |= {"response_format": response_format}
            body["reinforcement"]["hyperparameters"]["reasoning_effort"] = effort
            return sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=train,
                                               method=body, **extra)  # fmt: skip

        for effort, budget in (("default", 16), ("high", 32)):
            with pytest.raises(openai.BadRequestError) as caught:
                create(long, effort)
            error = caught.value
            assert error.param == "method.reinforcement.response_format"
            assert "needs 36 completion tokens" in error.message, error.message
            assert f"may use {budget} (max completion tokens 16 × reasoning_effort" in error.message
        unsupported = _json_schema("a")
        unsupported["json_schema"]["schema"]["properties"]["a"] = {"type": "null"}
        with pytest.raises(openai.BadRequestError) as caught:
            create(unsupported)
        assert caught.value.param == "method.reinforcement.response_format"
        # What fits is accepted: a short schema, or the long one with a larger budget.
        assert create(_json_schema("answer")).status == "validating_files"  # 13 bytes
        roomy = create(long, extra_body={"settings": {"max_completion_tokens": 36}})
        assert roomy.status == "validating_files"


AUTO = {"batch_size": "auto", "compute_multiplier": "auto", "eval_interval": "auto",
        "eval_samples": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto",
        "reasoning_effort": "default"}  # fmt: skip


def test_auto_hyperparameters_are_accepted_and_bad_ones_are_400s(live: Live) -> None:
    """`"auto"`, the SDK's documented default, on every hyperparameter (it was a 500 the SDK
    retried); a number out of range or a word is a 400 naming the field."""
    with client(live) as sdk:
        train = upload(sdk)
        for name, value in AUTO.items():
            spec = {"type": "reinforcement",
                    "reinforcement": {"grader": GRADER, "hyperparameters": {name: value}}}  # fmt: skip
            job = sdk.fine_tuning.jobs.create(
                model="openrft-tiny", training_file=train, method=spec
            )  # type: ignore[arg-type]
            assert job.method and job.method.reinforcement
            echoed = job.method.reinforcement.hyperparameters
            assert echoed is not None and getattr(echoed, name) == value
            sdk.fine_tuning.jobs.cancel(job.id)
        for name, value in [("n_epochs", 0), ("batch_size", "many"), ("compute_multiplier", 11),
                            ("learning_rate_multiplier", -1), ("eval_samples", "auto ")]:  # fmt: skip
            spec = {"type": "reinforcement",
                    "reinforcement": {"grader": GRADER, "hyperparameters": {name: value}}}  # fmt: skip
            with pytest.raises(openai.BadRequestError) as caught:
                sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=train, method=spec)  # type: ignore[arg-type]
            assert caught.value.param == f"method.reinforcement.hyperparameters.{name}"
