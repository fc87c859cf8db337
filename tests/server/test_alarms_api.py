"""A hacked job through the API: the real trainer in the job child, its train reward climbing
while its validation reward does not, `settings.alarms` set to pause on the gap. The alarm is
a job event with its numbers, the job is `paused`, and `resume` runs it to the end."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from openrft.demo.task import make_rows
from openrft.server import Settings
from tests.server.conftest import KEYS, Live, live_server
from tests.server.fakes import FakeBackend
from tests.server.test_jobs import client, upload, wait_for
from tests.train.helpers import demo_method, tiny_home


@pytest.fixture
def hacked(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Live]:
    monkeypatch.setenv("OPENRFT_JOB_RUNNER", "tests.server.hacked_runner")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    settings = Settings(home=tiny_home(tmp_path_factory), api_keys=dict(KEYS))
    with live_server(settings, FakeBackend()) as server:
        yield server


def _jsonl(rows: list[dict[str, object]]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def test_a_gap_alarm_pauses_the_job_and_resume_finishes_it(hacked: Live) -> None:
    with client(hacked, strict=False) as sdk:  # `paused` is not among the SDK's statuses
        train = upload(sdk, _jsonl(make_rows(8, 1)))
        valid = upload(sdk, _jsonl(make_rows(4, 2)))
        method = demo_method(batch_size=4, n_epochs=1, eval_interval=1, eval_samples=1,
                             compute_multiplier=0.5)  # fmt: skip
        alarms = {"train_valid_gap": {"threshold": 0.1, "action": "pause"}}
        job = sdk.fine_tuning.jobs.create(
            model="openrft-tiny", training_file=train, validation_file=valid, method=method,
            extra_body={"settings": {"alarms": alarms}},
        )  # fmt: skip
        paused = wait_for(sdk, job.id, "paused", "failed", "succeeded", timeout=300)
        assert paused.status == "paused", paused.error
        events = sdk.fine_tuning.jobs.list_events(job.id, limit=100).data
        (alarm,) = [e for e in events if e.message.startswith("Alarm train_valid_gap")]
        assert alarm.level == "warn" and "action: pause" in alarm.message
        data = alarm.model_dump()["data"]
        assert (data["train_reward_mean"], data["valid_reward_mean"]) == (0.75, 0.0)
        assert data["gap"] == 0.75 and data["threshold"] == 0.1 and data["action"] == "pause"
        sdk.fine_tuning.jobs.resume(job.id)
        done = wait_for(sdk, job.id, "succeeded", "failed", "paused", timeout=300)
        assert done.status == "succeeded", done.error
        events = sdk.fine_tuning.jobs.list_events(job.id, limit=100).data
        warned = [e for e in events if e.message.startswith("Alarm train_valid_gap at step 2")]
        assert [e.model_dump()["data"]["action"] for e in warned] == ["warn"]
