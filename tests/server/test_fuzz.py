"""Schemathesis against the live server's own `/openapi.json`: no 5xx and no hang, anywhere.

Every operation gets schemathesis' examples, coverage (boundary values, wrong types, missing
and extra fields) and fuzzing phases, a fixed number of generated cases each, in deterministic
mode, so a CI run is reproducible. The model backend is the scripted fake
(tests/server/fakes.py), so chat and embeddings answer at once and the run stays well inside
a minute. A response slower than `TIMEOUT` counts as a hang and fails the run.
Schemathesis runs as its CLI in a subprocess, exactly as someone probing the server would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from openrft.server import Settings
from tests.server.conftest import Live, live_server
from tests.server.fakes import FakeBackend
from tests.server.test_jobs import method, upload, wait_for

EXAMPLES = 12
"""Generated cases per operation in the fuzzing phase (the coverage phase adds its own)."""
KEY = "key-f"
TIMEOUT = 10
"""Seconds a single response may take; every one here should take milliseconds."""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    home = tmp_path_factory.mktemp("fuzz")
    settings = Settings(home=home, api_keys={KEY: "fuzz"}, max_upload_bytes=64 * 1024)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPENRFT_JOB_RUNNER", "tests.server.fake_runner")
        with live_server(settings, FakeBackend()) as live:
            yield live


def seed_ids(live: Live) -> dict[str, str]:
    """Real ids for the path parameters, so the routes behind them see more than a 404."""
    with OpenAI(base_url=live.base_url, api_key=KEY, max_retries=0, timeout=TIMEOUT) as sdk:
        training = upload(sdk)
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=training,
                                          method=method())  # fmt: skip
        job = wait_for(sdk, job.id, "succeeded")
        config = {"type": "custom", "item_schema": {"type": "object"}}
        criteria = [{"type": "string_check", "name": "exact", "operation": "eq",
                     "input": "{{ sample.output_text }}", "reference": "1"}]  # fmt: skip
        made = sdk.evals.create(data_source_config=config, testing_criteria=criteria)  # type: ignore[arg-type,list-item]
        rows = [{"item": {}, "sample": {"output_text": "1"}}]
        run = sdk.evals.runs.create(made.id, data_source={
            "type": "jsonl", "source": {"type": "file_content", "content": rows}})  # fmt: skip
        while not (items := sdk.evals.runs.output_items.list(run.id, eval_id=made.id).data):
            time.sleep(0.05)
    return {"file_id": training, "job_id": job.id, "model": str(job.fine_tuned_model),
            "eval_id": made.id, "run_id": run.id, "item_id": items[0].id}  # fmt: skip


def schemathesis(url: str, report: Path, *only: str) -> subprocess.CompletedProcess[str]:
    st = Path(sys.executable).with_name("st")
    command = [
        str(st), "--config-file", str(report / "schemathesis.toml"), "run", f"{url}/openapi.json",
        "--checks", "not_a_server_error",
        "--header", f"Authorization: Bearer {KEY}",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(EXAMPLES),
        "--generation-deterministic",
        "--request-timeout", str(TIMEOUT),
        "--continue-on-failure",
        "--workers", "1",
        "--no-shrink",
        "--no-color",
        "--warnings", "off",
        "--report", "ndjson",
        "--report-dir", str(report),
        *only,
    ]  # fmt: skip
    # cwd: schemathesis keeps a `.schemathesis/` cache where it runs.
    return subprocess.run(
        command, cwd=report, capture_output=True, text=True, timeout=600, check=False
    )


def responses(report: Path) -> list[tuple[str, int]]:
    """(operation, status) of every response the run recorded."""
    out = []
    for path in report.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            finished = json.loads(line).get("ScenarioFinished")
            if not finished:
                continue
            for interaction in finished["recorder"].get("interactions", {}).values():
                if interaction.get("response"):
                    out.append(
                        (finished["recorder"]["label"], interaction["response"]["status_code"])
                    )
    return out


def test_no_operation_answers_5xx_or_hangs(server: Live, tmp_path: Path) -> None:
    ids = seed_ids(server)
    parameters = "".join(f'{name} = "{value}"\n' for name, value in ids.items())
    (tmp_path / "schemathesis.toml").write_text("[parameters]\n" + parameters)
    # Deletes last, so they do not take the seeded ids from the other operations.
    for only in (("--exclude-method", "DELETE"), ("--include-method", "DELETE")):
        done = schemathesis(server.url, tmp_path, *only)
        assert done.returncode == 0, done.stdout[-6000:]
    seen = responses(tmp_path)
    assert [(label, status) for label, status in seen if status >= 500] == []
    operations = httpx.get(f"{server.url}/openapi.json", timeout=10).json()["paths"]
    expected = {f"{method.upper()} {path}" for path, item in operations.items() for method in item}
    assert {label for label, _ in seen} == expected  # every operation was reached
    assert len(seen) > 40 * len(expected)
    # The seeded ids took the routes past their lookups: many operations answered a 2xx.
    answered = {label for label, status in seen if status < 300}
    assert len(answered) > len(expected) // 2, sorted(expected - answered)
