"""`openrft train`'s job file takes an agentic job's tools as the API does: checked with the
same rules and messages (a header's value never quoted), rows checked against the tools, and
the job's fingerprint (`job-spec.json`) free of header values, so a rotated key resumes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from openrft.cli.job_file import JobFileError, check_same_job, load_job
from tests.train.helpers import demo_grader

SECRET = "file-secret-77aa"
TOOL = {"name": "lookup", "server_url": "http://localhost:8123/t", "headers": {"X-Key": SECRET}}
OFFER = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]


def job_file(folder: Path, tools: Any, offer: list[Any] = OFFER, **extra: Any) -> Path:
    row = {"messages": [{"role": "user", "content": "sort 21:"}], "reference": "12",
           "tools": offer}  # fmt: skip
    (folder / "train.jsonl").write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    reinforcement = {"grader": demo_grader(), "tools": tools, **extra}
    body = {"id": "ftjob-agentfile", "training_file": "train.jsonl",
            "method": {"type": "reinforcement", "reinforcement": reinforcement}}  # fmt: skip
    (folder / "job.json").write_text(json.dumps(body))
    return folder / "job.json"


def test_tools_are_typed_and_the_fingerprint_holds_no_secret(tmp_path: Path) -> None:
    spec = load_job(job_file(tmp_path, [TOOL], max_episode_steps=3), tmp_path)
    tool = spec.reinforcement.tools[0]
    assert (tool.name, tool.headers, spec.reinforcement.max_episode_steps) == (
        "lookup", {"X-Key": SECRET}, 3)  # fmt: skip
    assert SECRET not in repr(spec)
    workdir = tmp_path / "work"
    check_same_job(tmp_path / "job.json", spec, workdir)
    assert SECRET not in (workdir / "job-spec.json").read_text()
    rotated = {**TOOL, "headers": {"X-Key": "a-new-key"}}
    check_same_job(tmp_path / "job.json", load_job(job_file(tmp_path, [rotated], max_episode_steps=3), tmp_path),
                   workdir)  # fmt: skip  # the same job: a key is how it runs, not what


@pytest.mark.parametrize(
    ("tools", "offer", "extra", "field", "words"),
    [
        ([TOOL, TOOL], OFFER, {}, "method.reinforcement.tools[1].name", "duplicate"),
        ([{**TOOL, "server_url": "http://10.1.2.3/t"}], OFFER, {},
         "method.reinforcement.tools[0].server_url", "OPENRFT_OUTBOUND_HOSTS"),
        ([{**TOOL, "headers": {"X-Key": SECRET + "\n"}}], OFFER, {},
         "method.reinforcement.tools[0].headers.X-Key", "printable"),
        ([TOOL], OFFER, {"max_episode_steps": 0}, "method.reinforcement.max_episode_steps",
         "greater than or equal to 1"),
        ([TOOL], [*OFFER, {"type": "function", "function": {"name": "weather"}}], {},
         "training_file", "'weather'"),
    ],
)  # fmt: skip
def test_bad_tools_name_the_field(
    tmp_path: Path, tools: Any, offer: Any, extra: Any, field: str, words: str
) -> None:
    with pytest.raises(JobFileError) as caught:
        load_job(job_file(tmp_path, tools, offer, **extra), tmp_path)
    assert caught.value.param == field and words in caught.value.message
    assert SECRET not in caught.value.message
