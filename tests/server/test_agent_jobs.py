"""Agentic jobs over the API, created with the official SDK: `method.reinforcement.tools` and
`max_episode_steps` are accepted, checked (a 400 naming the field), echoed with the header
values redacted everywhere (job object, list, events, the job's row; the store keeps them
apart until the job finishes), and the header values reach the job's trainer; rows may offer only the tools the job serves."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import openai
import pytest

from tests.server.conftest import Live
from tests.server.test_jobs import GRADER, ROWS, client, upload, wait_for

SECRET = "s3cr3t-value-9f1c"
TOOL = {"name": "lookup", "server_url": "http://127.0.0.1:9/tools", "headers": {"X-Key": SECRET}}


def agentic(tools: Any, **extra: Any) -> Any:
    hyper = {"n_epochs": 1, "batch_size": 2}
    return {"type": "reinforcement", "reinforcement": {"grader": GRADER, "tools": tools,
            "hyperparameters": hyper, **extra}}  # fmt: skip


def rows_offering(*names: str) -> bytes:
    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
             for n in names]  # fmt: skip
    return b"".join(
        json.dumps({"messages": [{"role": "user", "content": f"w{i}"}], "answer": str(i),
                    "tools": tools}).encode() + b"\n"
        for i in range(6)
    )  # fmt: skip


def create(sdk: openai.OpenAI, method: Any, rows: bytes = ROWS, **extra: Any) -> Any:
    return sdk.fine_tuning.jobs.create(
        model="openrft-tiny", training_file=upload(sdk, rows), method=method, **extra
    )


def test_tools_are_echoed_redacted_and_reach_the_trainer(live: Live) -> None:
    with client(live) as sdk:
        job = create(sdk, agentic([TOOL], max_episode_steps=4), rows_offering("lookup"),
                     extra_body={"settings": {"tool_concurrency": 3}})  # fmt: skip
        done = wait_for(sdk, job.id, "succeeded", "failed")
        assert done.status == "succeeded", done.error
        shown = done.method.reinforcement.model_extra
        assert shown["tools"] == [{**TOOL, "headers": {"X-Key": "***"}}]
        assert shown["max_episode_steps"] == 4
        listed = sdk.fine_tuning.jobs.list(limit=50).model_dump_json()
        events = sdk.fine_tuning.jobs.list_events(job.id, limit=100).model_dump_json()
        for text in (job.model_dump_json(), done.model_dump_json(), listed, events):
            assert "X-Key" in text or text is events
            assert SECRET not in text
    # The values were kept in the store apart from the job's row (`job_secrets`), where the
    # child read them, and went with the job's last run: a dump of a store whose jobs have
    # all finished holds none.
    with sqlite3.connect(live.home / "openrft.db") as db:
        dump = "\n".join(db.iterdump())
        assert db.execute("SELECT COUNT(*) FROM job_secrets").fetchone() == (0,)
    assert job.id in dump and SECRET not in dump
    workdir = live.home / "jobs" / job.id
    assert not (workdir / "secrets.json").exists()  # nothing on this host's disk
    seen = json.loads((workdir / "spec-seen.json").read_text())  # what the trainer was given
    assert seen["method"]["reinforcement"]["tools"][0]["headers"] == {"X-Key": SECRET}
    assert seen["method"]["reinforcement"]["max_episode_steps"] == 4
    assert seen["settings"] == {"tool_concurrency": 3}


def test_a_job_without_tools_keeps_openais_shape(live: Live) -> None:
    with client(live) as sdk:
        job = create(sdk, agentic(None), rows_offering("anything"))  # rows' tools: one answer
        assert "tools" not in (job.method.reinforcement.model_extra or {})
        assert wait_for(sdk, job.id, "succeeded", "failed").status == "succeeded"


def _refused(sdk: openai.OpenAI, method: Any) -> openai.BadRequestError:
    body = {"model": "openrft-tiny", "training_file": upload(sdk), "method": method}
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.post("/fine_tuning/jobs", body=body, cast_to=object)
    assert SECRET not in json.dumps(caught.value.body)
    return caught.value


def test_bad_tools_are_400s_naming_the_field(live: Live) -> None:
    tools = "method.reinforcement.tools"
    other = {**TOOL, "headers": None}
    cases: list[tuple[Any, str]] = [
        (agentic([TOOL, other]), f"{tools}[1].name"),
        (agentic([{**TOOL, "name": "no spaces"}]), f"{tools}[0].name"),
        (agentic([{**TOOL, "server_url": "ftp://127.0.0.1/x"}]), f"{tools}[0].server_url"),
        (agentic([{**TOOL, "server_url": 7}]), f"{tools}[0].server_url"),
        (agentic([{**TOOL, "srever_url": "x"}]), f"{tools}[0].srever_url"),
        (agentic([{**TOOL, "headers": {"X-Key": SECRET + "\r\nEvil: 1"}}]), f"{tools}[0].headers.X-Key"),
        (agentic([{**TOOL, "headers": {"X-Key": 5}}]), f"{tools}[0].headers.X-Key"),
        (agentic([{**TOOL, "headers": {"X-Key": "***"}}]), f"{tools}[0].headers.X-Key"),
        (agentic([{**TOOL, "headers": {"bad name": SECRET}}]), f"{tools}[0].headers"),
        (agentic([{**TOOL, "name": f"t{i}"} for i in range(129)]), tools),
        (agentic({"name": "lookup"}), tools),
        (agentic([TOOL], max_episode_steps=0), "method.reinforcement.max_episode_steps"),
        (agentic([TOOL], max_episode_steps=101), "method.reinforcement.max_episode_steps"),
        (agentic([TOOL], response_format={"type": "json_schema", "json_schema": {
            "name": "a", "schema": {"type": "object"}}}), "method.reinforcement.response_format"),
    ]  # fmt: skip
    with client(live) as sdk:
        for method, param in cases:
            error = _refused(sdk, method)
            assert error.param == param, (method, error.body)


def test_only_allowed_hosts_may_serve_tools(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    outside = {**TOOL, "server_url": "http://169.254.169.254/latest/meta-data"}
    named = {"name": "lookup", "server_url": "https://tools.example.com/api"}
    with client(live) as sdk:
        for tool in (outside, named):
            error = _refused(sdk, agentic([tool]))
            assert (error.param, error.code) == ("method.reinforcement.tools[0].server_url",
                                                 "url_not_allowed")  # fmt: skip
            assert "OPENRFT_OUTBOUND_HOSTS" in error.message
        monkeypatch.setenv("OPENRFT_OUTBOUND_HOSTS", "tools.example.com")
        job = create(sdk, agentic([named]), rows_offering("lookup"))
        assert job.method.reinforcement.model_extra["tools"] == [named]  # no headers: none shown
        assert _refused(sdk, agentic([outside])).code == "url_not_allowed"


def test_rows_may_offer_only_the_tools_the_job_serves(live: Live) -> None:
    with client(live) as sdk:
        job = create(sdk, agentic([TOOL]), rows_offering("lookup", "weather"))
        failed = wait_for(sdk, job.id, "failed", "succeeded")
        assert failed.status == "failed" and failed.error
        assert failed.error.param == "training_file"
        assert "'weather'" in failed.error.message and "line 1" in failed.error.message
        served = create(sdk, agentic([TOOL, {"name": "weather", "server_url": TOOL["server_url"]}]),
                        rows_offering("lookup", "weather"))  # fmt: skip
        assert wait_for(sdk, served.id, "succeeded", "failed").status == "succeeded"
