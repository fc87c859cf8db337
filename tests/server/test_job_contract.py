"""One job contract (`openrft.train.spec`), end to end with the scripted runner in the job
child: the spec the route builds is the one the child parses and the trainer gets; the grader
is validated once, at the edge, and trusted after; the child reads back a typed `JobOutcome`
(nothing else); and each final event is written once, by the child, on every way out."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from openrft.graders import validate_grader
from openrft.jobs.store import JobStore
from openrft.store.db import Database, loads
from openrft.train.spec import Hyperparameters, JobSpec, Method, Reinforcement
from tests.server.conftest import Live
from tests.server.test_jobs import GRADER, client, upload, wait_for

SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"],
          "additionalProperties": False}  # fmt: skip
# A grader the edge refuses (RFT rules: `zz` names no sub-grader) though its shape is fine.
REFUSED = {"type": "multi", "name": "m", "graders": {"a": GRADER}, "calculate_output": "a + zz"}
FINAL = {"The job has successfully completed", "Job cancelled", "Job paused"}
FINAL_PREFIXES = ("New fine-tuned model created: ", "Job failed: ")


def _method(grader: dict[str, Any] = GRADER, **hyperparameters: Any) -> Any:
    hyper = {"n_epochs": 1, "batch_size": 2, **hyperparameters}
    return {"type": "reinforcement", "reinforcement": {"grader": grader, "hyperparameters": hyper}}


def _row(home: Path, job_id: str) -> sqlite3.Row:
    db = Database(home)
    try:
        return JobStore(db).row(job_id)
    finally:
        db.close()


def _finals(sdk: OpenAI, job_id: str) -> list[str]:
    """The job's final messages, oldest first (a 100-event page holds all of a short job's)."""
    events = sdk.fine_tuning.jobs.list_events(job_id, limit=100).data
    messages = [event.message for event in reversed(events)]
    return [m for m in messages if m in FINAL or m.startswith(FINAL_PREFIXES)]


def test_the_spec_goes_from_the_wire_through_the_store_to_the_child_unchanged(live: Live) -> None:
    with client(live) as sdk:
        method = _method(eval_samples=None, reasoning_effort="low")
        # The Responses-style flattened form; the contract keeps Chat Completions' wrapper.
        method["reinforcement"]["response_format"] = {"type": "json_schema", "name": "out",
                                                      "schema": SCHEMA, "strict": True}  # fmt: skip
        settings = {"lora_rank": 4, "temperature": 0.7}
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
            method=method, suffix="c", seed=3, extra_body={"settings": settings})  # fmt: skip
        done = wait_for(sdk, job.id, "succeeded", "failed")
        assert done.status == "succeeded", done.error
    expected = Method(
        type="reinforcement",
        reinforcement=Reinforcement(
            grader=validate_grader(GRADER),
            response_format={"type": "json_schema",
                             "json_schema": {"name": "out", "schema": SCHEMA, "strict": True}},
            hyperparameters=Hyperparameters(n_epochs=1, batch_size=2, reasoning_effort="low"),
        ),
    )  # fmt: skip
    row = _row(live.home, job.id)
    seen = JobSpec.model_validate_json((live.home / "jobs" / job.id / "spec-seen.json").read_text())
    assert loads(row["method"]) == expected.to_json() == seen.method.to_json()
    assert seen.method == expected
    assert seen.settings.model_dump(exclude_unset=True) == settings == loads(row["settings"])
    assert (seen.seed, seen.suffix, seen.model) == (3, "c", "openrft-tiny")
    assert seen.model_name == done.fine_tuned_model  # the one name, computed once
    echoed = done.method.reinforcement
    assert (
        echoed.grader.model_dump(exclude_none=True) == expected.to_json()["reinforcement"]["grader"]
    )
    assert (echoed.hyperparameters.eval_samples, echoed.hyperparameters.reasoning_effort) == (
        "auto", "low")  # fmt: skip


def test_an_invalid_grader_never_reaches_the_store_or_the_child(live: Live) -> None:
    with client(live, "key-b") as sdk:
        before = len(sdk.fine_tuning.jobs.list(limit=100).data)
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
                                        method=_method(REFUSED))  # fmt: skip
        assert caught.value.param == "method.reinforcement.grader.calculate_output"
        assert len(sdk.fine_tuning.jobs.list(limit=100).data) == before


def test_the_stored_grader_is_trusted_after_the_edge(live: Live) -> None:
    """What the route stored is not validated again: a grader only the edge's rules refuse,
    stored as if it had passed them, is run as stored (the scripted trainer does not grade)."""
    with client(live) as sdk:
        train = upload(sdk)
    stored = Method.model_validate(_method(REFUSED)).to_json()  # shape only: no edge rules
    db = Database(live.home)
    try:
        row, _ = JobStore(db).create("alpha", {"model": "openrft-tiny", "training_file": train,
            "method": stored, "seed": 1})  # fmt: skip
    finally:
        db.close()
    with client(live, strict=False) as sdk:  # the SDK types a multi grader's `graders` as one
        done = wait_for(sdk, row["id"], "succeeded", "failed")
    assert done.status == "succeeded", done.error
    seen = json.loads((live.home / "jobs" / row["id"] / "spec-seen.json").read_text())
    assert seen["method"]["reinforcement"]["grader"]["calculate_output"] == "a + zz"


def test_the_child_reads_back_only_a_typed_outcome(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_DUCK", "1")  # the runner hands back a dict shaped like one
    with client(live) as sdk:
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
                                          method=_method())  # fmt: skip
        done = wait_for(sdk, job.id, "succeeded", "failed")
        assert done.status == "failed" and done.error
        assert done.error.code == "training_error"
        assert "not a JobOutcome" in done.error.message
        assert done.fine_tuned_model is None
        assert _finals(sdk, job.id) == [f"Job failed: {done.error.message}"]


def test_the_job_shows_the_outcome_and_its_final_events_once_after_a_kill(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CRASH_AT", "3")  # the first attempt dies before step 3
    with client(live) as sdk:
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
                                          method=_method())  # fmt: skip
        done = wait_for(sdk, job.id, "succeeded", "failed")
        assert done.status == "succeeded", done.error
        assert (done.trained_tokens, done.hyperparameters.batch_size) == (123, 2)
        ckpts = sdk.fine_tuning.jobs.checkpoints.list(job.id).data
        assert [c.fine_tuned_model_checkpoint for c in ckpts] == [
            f"{done.fine_tuned_model}:ckpt-step-{step}" for step in (4, 3, 2)
        ]
        assert _finals(sdk, job.id) == [
            f"New fine-tuned model created: {done.fine_tuned_model}",
            "The job has successfully completed",
        ]


def test_a_crash_a_cancel_and_a_pause_each_say_so_once(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_RAISE_AT", "2")
    with client(live) as sdk:
        train = upload(sdk)
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=train,
                                          method=_method())  # fmt: skip
        done = wait_for(sdk, job.id, "succeeded", "failed")
        assert done.error and done.error.message == "RuntimeError: boom at step 2"
        assert _finals(sdk, job.id) == ["Job failed: RuntimeError: boom at step 2"]
    monkeypatch.delenv("FAKE_RAISE_AT")
    monkeypatch.setenv("FAKE_STEPS", "200")
    with client(live, strict=False) as sdk:  # `paused` is not among the SDK's statuses
        for action in ("pause", "cancel"):
            job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=train,
                                              method=_method())  # fmt: skip
            _wait_for_a_step(live.home, job.id)
            getattr(sdk.fine_tuning.jobs, action)(job.id)
            word = {"pause": "Job paused", "cancel": "Job cancelled"}[action]
            deadline = time.monotonic() + 60
            while _finals(sdk, job.id) != [word]:
                assert time.monotonic() < deadline, _finals(sdk, job.id)
                time.sleep(0.05)
            if action == "cancel":
                continue
            sdk.fine_tuning.jobs.cancel(job.id)  # a paused job cancelled: no new attempt runs
            assert wait_for(sdk, job.id, "cancelled").fine_tuned_model is None


def _wait_for_a_step(home: Path, job_id: str) -> None:
    deadline = time.monotonic() + 60
    while not (home / "jobs" / job_id / "step-1" / "ok").exists():
        assert time.monotonic() < deadline, "the job never took a step"
        time.sleep(0.05)


def test_the_stored_form_parses_back_to_the_same_contract() -> None:
    method = Method.model_validate(_method(eval_samples=None))
    again = Method.model_validate(json.loads(json.dumps(method.to_json())))
    assert again == method and again.to_json() == method.to_json()
    assert again.to_json()["reinforcement"]["hyperparameters"] == {"n_epochs": 1, "batch_size": 2}
