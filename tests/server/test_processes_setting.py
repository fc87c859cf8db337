"""`settings.processes` and `settings.sharding` at the API edge: a job asks for more ranks than
this host has, a batch that does not divide into them, or an unknown sharding: a 400 naming the
setting, and no job. A good one is stored as given (the worker reads it to start torchrun)."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from openrft.store.db import loads
from openrft.threads import usable_cores
from tests.server.conftest import Live
from tests.server.test_job_contract import _method, _row
from tests.server.test_jobs import client, upload


@pytest.mark.parametrize(
    ("settings", "batch", "param", "says"),
    [
        ({"processes": usable_cores() + 1, "device": "cpu"}, 2, "settings.processes", "host has"),
        ({"processes": 2, "device": "cpu"}, 3, "settings.processes", "does not divide"),
        ({"processes": 0}, 2, "settings.processes", "greater than or equal to 1"),
        ({"sharding": "zero3"}, 2, "settings.sharding", "'ddp' or 'fsdp'"),
    ],
)
def test_a_bad_process_setting_is_a_400_naming_it(
    live: Live, settings: dict[str, Any], batch: int, param: str, says: str
) -> None:
    with client(live, "key-b") as sdk:
        before = len(sdk.fine_tuning.jobs.list(limit=100).data)
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
                method=_method(batch_size=batch), extra_body={"settings": settings})  # fmt: skip
        assert caught.value.status_code == 400 and caught.value.param == param
        assert says in caught.value.message
        assert len(sdk.fine_tuning.jobs.list(limit=100).data) == before


def test_a_two_process_job_is_stored_as_asked(live: Live) -> None:
    with client(live) as sdk:
        settings = {"processes": 2, "device": "cpu", "sharding": "fsdp"}
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
            method=_method(batch_size=2), extra_body={"settings": settings})  # fmt: skip
    assert loads(_row(live.home, job.id)["settings"]) == settings
