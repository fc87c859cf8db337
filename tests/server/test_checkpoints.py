"""`checkpoints.list` follows what is on disk and servable, through the SDK on a live server
with the scripted runner (which keeps its newest 3 checkpoints and, with `FAKE_RETAIN=1`,
deletes the others as the trainer's retention does): a checkpoint is listed by the time its
"Checkpoint created" event is out, while the job runs; one written by an attempt that was
killed after a pause, resume and cancel is listed; one whose directory is gone is neither
listed nor served."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.server.conftest import Live

GRADER = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
          "reference": "{{item.answer}}", "operation": "eq"}  # fmt: skip
ROWS = b"".join(
    b'{"messages": [{"role": "user", "content": "w%d"}], "answer": "%d"}\n' % (i, i)
    for i in range(6)
)
METHOD: Any = {"type": "reinforcement", "reinforcement": {"grader": GRADER,
               "hyperparameters": {"n_epochs": 1, "batch_size": 2}}}  # fmt: skip
USER: Any = [{"role": "user", "content": "abc"}]


@pytest.fixture(autouse=True)
def _retain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_RETAIN", "1")


def client(live: Live) -> OpenAI:
    return OpenAI(base_url=live.base_url, api_key="key-a", max_retries=0)


def start(sdk: OpenAI) -> str:
    file = sdk.files.create(file=("rows.jsonl", ROWS), purpose="fine-tune").id
    return sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=file, method=METHOD).id


def wait(what: str, ready: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := ready()):
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.05)
    return value


def created_steps(sdk: OpenAI, job_id: str) -> set[int]:
    """Steps whose "Checkpoint created at step N" event is out."""
    events = sdk.fine_tuning.jobs.list_events(job_id, limit=1000).data
    prefix = "Checkpoint created at step "
    return {int(e.message[len(prefix) :]) for e in events if e.message.startswith(prefix)}


def listed(sdk: OpenAI, job_id: str) -> list[int]:
    return [c.step_number for c in sdk.fine_tuning.jobs.checkpoints.list(job_id, limit=100).data]


def on_disk(live: Live, job_id: str) -> list[int]:
    """Complete checkpoint directories, highest step first (the listing's order)."""
    workdir = live.home / "jobs" / job_id
    done = [int(p.name[5:]) for p in workdir.glob("step-*") if (p / "ok").exists()]
    return sorted(done, reverse=True)


def child_gone(live: Live, job_id: str) -> bool:
    return job_id not in live.app.state.worker.children


def test_a_checkpoint_is_listed_once_its_event_is_out(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_STEPS", "60")
    monkeypatch.setenv("FAKE_STEP_SECONDS", "0.2")
    with client(live) as sdk:
        job_id = start(sdk)
        wait("step 3's checkpoint event", lambda: 3 in created_steps(sdk, job_id))
        steps = listed(sdk, job_id)
        assert sdk.fine_tuning.jobs.retrieve(job_id).status == "running"
        assert 3 in steps and len(steps) <= 3, steps
        wait("step 5's checkpoint event", lambda: 5 in created_steps(sdk, job_id))
        steps = listed(sdk, job_id)
        assert 5 in steps and 2 not in steps, steps  # step 2's directory was retired
        sdk.fine_tuning.jobs.cancel(job_id)
        wait("the child to stop", lambda: child_gone(live, job_id))


def test_pause_resume_cancel_lists_every_kept_checkpoint(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_STEPS", "60")
    monkeypatch.setenv("FAKE_STEP_SECONDS", "0.1")
    with client(live) as sdk:
        job_id = start(sdk)
        wait("a checkpoint", lambda: created_steps(sdk, job_id))
        sdk.fine_tuning.jobs.pause(job_id)
        wait("the paused child to stop", lambda: child_gone(live, job_id))
        assert listed(sdk, job_id) == on_disk(live, job_id)
        paused_at = max(on_disk(live, job_id))
        monkeypatch.setenv("FAKE_STEP_SECONDS", "3")  # the resumed attempt's steps are slow
        sdk.fine_tuning.jobs.resume(job_id)
        wait(
            "the resumed attempt's checkpoint", lambda: paused_at + 1 in created_steps(sdk, job_id)
        )
        # Cancelled mid-step and then killed (as the worker kills a child that does not stop
        # in time): the attempt never reports an outcome.
        sdk.fine_tuning.jobs.cancel(job_id)
        child = live.app.state.worker.children[job_id][0]
        os.kill(child.pid, signal.SIGKILL)
        wait("the killed child to be reaped", lambda: child_gone(live, job_id))
        assert sdk.fine_tuning.jobs.retrieve(job_id).status == "cancelled"
        steps = listed(sdk, job_id)
        assert steps == on_disk(live, job_id) and steps[0] == paused_at + 1, steps


def test_a_checkpoint_whose_directory_is_gone_is_not_listed_or_served(live: Live) -> None:
    with client(live) as sdk:
        job_id = start(sdk)
        wait("the job", lambda: sdk.fine_tuning.jobs.retrieve(job_id).status == "succeeded")
        checkpoints = sdk.fine_tuning.jobs.checkpoints.list(job_id).data
        assert [c.step_number for c in checkpoints] == [4, 3, 2] == on_disk(live, job_id)
        oldest = checkpoints[-1].fine_tuned_model_checkpoint
        sdk.chat.completions.create(model=oldest, messages=USER)
        # A later attempt's retention (or an operator) removes step 2's directory.
        shutil.rmtree(Path(live.home / "jobs" / job_id / "step-2"))
        page = sdk.fine_tuning.jobs.checkpoints.list(job_id, limit=1)
        assert [c.step_number for c in page.data] == [4] and page.has_more
        assert listed(sdk, job_id) == [4, 3]
        assert oldest not in {model.id for model in sdk.models.list()}
        for call in (
            lambda: sdk.chat.completions.create(model=oldest, messages=USER),
            lambda: sdk.embeddings.create(model=oldest, input="a"),
            lambda: sdk.models.retrieve(oldest),
        ):
            with pytest.raises(openai.NotFoundError) as caught:
                call()
            assert caught.value.code == "model_not_found"
