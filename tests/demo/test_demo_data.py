"""The demo's own train / valid files pass `openrft data lint`, as a user would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from openrft.demo import task
from openrft.demo.run import DemoSettings, write_rows

GRADER = Path(task.__file__).parent / "grader.json"


def test_the_demo_data_lints_clean(tmp_path: Path) -> None:
    settings = DemoSettings(home=tmp_path)
    train, valid = task.make_split(settings.train_rows, settings.valid_rows, settings.seed)
    assert (len(train), len(valid)) == (400, 100)
    write_rows(tmp_path / "train.jsonl", train)
    write_rows(tmp_path / "valid.jsonl", valid)
    command = [sys.executable, "-m", "openrft.cli", "data", "lint", str(tmp_path / "train.jsonl"),
               "--valid", str(tmp_path / "valid.jsonl"), "--grader", str(GRADER), "--json"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=os.environ)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    findings = {f["code"]: f["severity"] for f in report["findings"]}
    assert "leakage" not in findings and "duplicate_prompt" not in findings
    assert "error" not in findings.values() and "warning" not in findings.values()


def test_the_split_is_deterministic_and_keeps_the_task() -> None:
    train, valid = task.make_split(400, 100, seed=42)
    assert (train, valid) == task.make_split(400, 100, seed=42)
    assert train[:50] == task.make_rows(50, seed=42)  # the same stream, repeats skipped
    for row in train + valid:
        digits = row["messages"][0]["content"].removeprefix("sort ").removesuffix(":")
        assert row["reference"] == "".join(sorted(digits))
