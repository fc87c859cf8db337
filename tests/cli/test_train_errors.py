"""`openrft train` says a failed job's error once, as its last line (the run itself is faked)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from openrft.cli.main import app
from openrft.train.outcome import JobOutcome
from tests.train.helpers import demo_method


def test_a_failed_jobs_error_is_printed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openrft.train import runner

    row = {"messages": [{"role": "user", "content": "sort 21:"}], "reference": "12"}
    (tmp_path / "train.jsonl").write_text(json.dumps(row) + "\n")
    body = {"training_file": "train.jsonl", "method": demo_method()}
    (tmp_path / "job.json").write_text(json.dumps(body))
    message = "all 8 samples failed grading"

    def failing_job(spec: Any, *, events: Any, **_: Any) -> Any:
        events.emit("message", "info", "Fine-tuning job started")
        error = {"code": "grader_error_rate", "message": message, "param": None}
        return JobOutcome(status="failed", error=error, step=0)  # announced by the command

    monkeypatch.setattr(runner, "run_job", failing_job)
    done = CliRunner().invoke(app, ["train", str(tmp_path / "job.json"), "--home", str(tmp_path)])
    assert done.exit_code == 1
    assert "Fine-tuning job started" in done.stderr
    assert done.stderr.count(message) == 1
    assert done.stderr.rstrip().endswith(f"openrft: error: grader_error_rate: {message}")
