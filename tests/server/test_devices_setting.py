"""`settings.devices` (the GPUs a job's processes see): at the API edge a malformed list or
count, a CPU job, a host without those GPUs, or a `processes` that disagrees is a 400 naming
the setting, and no job; the check's arithmetic against a host with GPUs (`check_devices`);
and the `CUDA_VISIBLE_DEVICES` the worker's launcher gives each child, seen by real child
processes (the scripted runner records it)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openai
import pytest
import torch

from openrft.errors import InvalidRequestError
from openrft.jobs.launcher import ProcessLauncher
from openrft.jobs.worker import Worker
from openrft.store.db import Database, loads
from openrft.train.distributed import check_devices
from openrft.train.spec import TrainSettings
from tests.server.conftest import Live
from tests.server.test_job_contract import _method, _row
from tests.server.test_jobs import client, upload
from tests.server.test_launcher import queued

GPUS = torch.cuda.device_count() if torch.cuda.is_available() else 0
ABSENT = "no CUDA GPUs" if GPUS == 0 else "does not exist"


@pytest.mark.parametrize(
    ("devices", "says"),
    [
        ([GPUS], ABSENT),
        ([0, 0], "listed twice"),
        ([-1], "whole numbers ≥ 0"),
        ([], "a list of CUDA device indices"),
        (True, "a list of CUDA device indices"),
        ("0,1", "a list of CUDA device indices"),
        (0, "at least 1"),
        ({"devices": [0], "device": "cpu"}, "not 'cpu'"),
    ],
)
def test_a_bad_devices_setting_is_a_400_naming_it(live: Live, devices: Any, says: str) -> None:
    settings = devices if isinstance(devices, dict) else {"devices": devices}
    with client(live, "key-b") as sdk:
        before = len(sdk.fine_tuning.jobs.list(limit=100).data)
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
                method=_method(batch_size=2), extra_body={"settings": settings})  # fmt: skip
        assert caught.value.status_code == 400 and caught.value.param == "settings.devices"
        assert says in caught.value.message
        assert len(sdk.fine_tuning.jobs.list(limit=100).data) == before


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"devices": [1, 4]}, "device 4 does not exist: this host has 4 GPU(s), 0 to 3"),
        ({"devices": 5}, "5 GPUs asked"),
        ({"devices": [0, 1], "processes": 1}, "2 GPU(s) for 1 process(es)"),
        ({"devices": 1, "processes": 2}, "1 GPU(s) for 2 process(es)"),
        ({"devices": [0], "device": "cuda:1"}, "not 'cuda:1'"),
    ],
)
def test_devices_a_host_with_gpus_lacks_or_processes_contradict(
    settings: dict[str, Any], says: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        check_devices(TrainSettings.model_validate(settings), gpus=4)
    assert caught.value.param == "settings.devices" and says in caught.value.message


def test_devices_set_one_process_per_gpu_unless_given() -> None:
    picked = check_devices(TrainSettings.model_validate({"devices": [0, 3]}), gpus=4)
    assert picked.processes == 2 and picked.model_dump(exclude_unset=True) == {
        "devices": [0, 3], "processes": 2}  # fmt: skip
    counted = check_devices(TrainSettings.model_validate({"devices": 3, "device": "cuda"}), gpus=4)
    assert counted.processes == 3
    agreed = TrainSettings.model_validate({"devices": [2], "processes": 1})
    assert check_devices(agreed, gpus=4) == agreed


def test_an_api_host_without_gpus_checks_against_its_workers(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`OPENRFT_WORKER_GPUS=2` on the API host: jobs are checked against 2 GPUs per worker."""
    monkeypatch.setenv("OPENRFT_WORKER_GPUS", "2")
    with client(live) as sdk:
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
            method=_method(batch_size=2), extra_body={"settings": {"devices": [1, 0]}})  # fmt: skip
        assert loads(_row(live.home, job.id)["settings"]) == {"devices": [1, 0], "processes": 2}
        for settings, param, says in (
            ({"devices": [2]}, "settings.devices", "the worker hosts (OPENRFT_WORKER_GPUS) have 2"),
            ({"processes": 4}, "settings.processes", "the worker hosts (OPENRFT_WORKER_GPUS) have 2"),
        ):  # fmt: skip
            with pytest.raises(openai.BadRequestError) as caught:
                sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
                    method=_method(batch_size=4), extra_body={"settings": settings})  # fmt: skip
            assert caught.value.param == param and says in caught.value.message
        sdk.fine_tuning.jobs.cancel(job.id)


def test_each_child_sees_the_gpus_its_job_asked_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker sees GPUs 4, 5 and 6 (its own CUDA_VISIBLE_DEVICES): job a asks for index 2
    (GPU 6); b and c, running beside it, for one GPU each: the lowest free, GPU 4 then 5; d
    asks for none and sees what the worker sees."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6")
    monkeypatch.setenv("FAKE_STEPS", "6")
    monkeypatch.setenv("FAKE_STEP_SECONDS", "0.3")
    db = Database(tmp_path)
    worker = Worker(tmp_path, db, max_running=4,
                    launcher=ProcessLauncher(tmp_path, {"openrft-tiny": "openrft-tiny"}))  # fmt: skip
    asked = {"ftjob-a": {"devices": [2]}, "ftjob-b": {"devices": 1}, "ftjob-c": {"devices": 1},
             "ftjob-d": None}  # fmt: skip
    for job_id, settings in asked.items():
        queued(tmp_path, db, job_id, settings)
    deadline = time.monotonic() + 120
    while worker.children or any(worker.jobs.row(j)["status"] != "succeeded" for j in asked):
        assert time.monotonic() < deadline, [worker.jobs.row(j)["status"] for j in asked]
        worker.tick()
        time.sleep(0.05)
    seen = {job_id: (tmp_path / "jobs" / job_id / "gpus-seen.txt").read_text() for job_id in asked}
    assert seen == {"ftjob-a": "6", "ftjob-b": "4", "ftjob-c": "5", "ftjob-d": "4,5,6"}
