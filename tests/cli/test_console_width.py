"""`openrft eval` and `gate` at 80 columns: every name and number whole, never cut to "…"."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from openrft.evals.tables import FitTable
from tests.support import scripted_model
from tests.support.loopback import serve

TUNED = "ft:openrft-tiny:demo:ftjob-0123456789ab"  # the shape of a name users copy
BASE = "openrft-tiny"
EXACT = {"type": "string_check", "name": "exact", "input": "{{ sample.output_text }}",
         "reference": "{{ item.reference }}", "operation": "eq"}  # fmt: skip


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    policies = {TUNED: scripted_model.ascending, BASE: scripted_model.descending}
    with serve(scripted_model.app(policies)) as base:
        yield f"{base}/v1"


def _files(folder: Path) -> tuple[str, str]:
    rows = []
    for digits in ["321", "9172", "55501", "804213", "97", "6612", "2111", "3829"]:
        rows.append({"messages": [{"role": "user", "content": f"sort {digits}:"}],
                     "reference": "".join(sorted(digits)),
                     "tags": ["edge_cases_written_in_long_words"] if len(digits) < 4 else []})  # fmt: skip
    (folder / "valid.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "grader.json").write_text(json.dumps(EXACT))
    return str(folder / "valid.jsonl"), str(folder / "grader.json")


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80"}
    command = [sys.executable, "-m", "openrft.cli", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=180, env=env)


def _readable(text: str, width: int = 80) -> None:
    assert "…" not in text and "..." not in text
    assert max(map(len, text.splitlines())) <= width


def test_eval_at_80_columns_shows_whole_names_and_numbers(endpoint: str, tmp_path: Path) -> None:
    valid, grader = _files(tmp_path)
    done = _cli("eval", "-m", BASE, "-m", TUNED, "-d", valid, "-g", grader, "--base-url",
                endpoint, "--report", str(tmp_path / "eval"), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    _readable(done.stdout)
    assert TUNED in done.stdout and BASE in done.stdout
    for measure in ("mean reward", "95% CI", "pass rate", "completion tok/item", "p95 s"):
        assert measure in done.stdout
    assert re.search(r"mean reward\s+│\s+1\s+│", done.stdout)  # the tuned model's, whole
    assert "[1.000, 1.000]" in done.stdout


def test_gate_at_80_columns_shows_whole_checks(endpoint: str, tmp_path: Path) -> None:
    valid, grader = _files(tmp_path)
    done = _cli("gate", "--candidate", TUNED, "--baseline", BASE, "-d", valid, "-g", grader,
                "--base-url", endpoint, "--min-gain", "0.5", "--report", str(tmp_path / "gate"),
                cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    _readable(done.stdout)
    assert f"gate: {TUNED} vs {BASE}" in " ".join(done.stdout.split())
    assert "slice:edge_cases_written_in_long_words" in done.stdout
    text = " ".join(done.stdout.replace("│", " ").split())  # the wrapped detail cells, read on
    assert "improved by 1.0000" in text and "+0.5000)" in text  # gain, required: whole


ROWS: list[dict[str, Any]] = [
    {"model": BASE, "mean reward": 0.25, "95% CI": "[0.100, 0.400]", "p95 s": 0.5},
    {"model": TUNED, "mean reward": 0.875, "95% CI": "[0.700, 1.000]", "p95 s": 0.25},
]


@pytest.mark.parametrize(("width", "layout"), [(200, "wide"), (80, "transposed"), (50, "stacked")])
def test_the_layout_follows_the_width(width: int, layout: str) -> None:
    console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(FitTable("evaluation", ROWS))
    text = console.export_text()
    console.file.close()
    _readable(text, width)
    lines = text.splitlines()
    header = next(line for line in lines if "model" in line)
    if layout == "wide":
        assert "mean reward" in header and "95% CI" in header
    elif layout == "transposed":
        assert BASE in header and TUNED in header
    else:
        assert f"model: {BASE}" in lines and f"model: {TUNED}" in lines
    for value in ("0.875", "[0.700, 1.000]", "0.25"):
        assert value in text
