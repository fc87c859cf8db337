"""`openrft gate --require-review` and `openrft review` as a person runs them: the real CLI in
subprocesses, answers from a scripted model on loopback, reviews in a local home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import scripted_model
from tests.support.loopback import serve

EXACT = {"type": "string_check", "name": "exact", "input": "{{ sample.output_text }}",
         "reference": "{{ item.reference }}", "operation": "eq"}  # fmt: skip


def _rows() -> list[dict[str, Any]]:
    rows = []
    for digits in ["321", "9172", "55501", "97", "31"]:
        tags = ["edge"] if len(digits) < 3 else []
        rows.append({"messages": [{"role": "user", "content": f"sort {digits}:"}],
                     "reference": "".join(sorted(digits)), "tags": tags})  # fmt: skip
    for bad in ["12a", "x"]:
        rows.append({"messages": [{"role": "user", "content": f"sort {bad}:"}],
                     "reference": "I can't sort that.", "tags": ["refusal"]})  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with serve(scripted_model.app()) as base:
        yield f"{base}/v1"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "valid.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    (tmp_path / "grader.json").write_text(json.dumps(EXACT))
    return tmp_path


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "OPENRFT_HOME": str(cwd / "home")}
    env.pop("OPENRFT_BASE_URL", None)
    command = [sys.executable, "-m", "openrft.cli", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=180, env=env)


def _gate(endpoint: str, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _cli("gate", "--candidate", "sorter", "--baseline", "reverser", "-d", "valid.jsonl",
                "-g", "grader.json", "--base-url", endpoint, "--review-url", "home",
                "--report", "gate", *extra, cwd=cwd)  # fmt: skip


def _checks(cwd: Path) -> dict[str, Any]:
    data = json.loads((cwd / "gate.json").read_text())
    return {check["name"]: check for check in data["checks"]}


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_gate_refuses_until_enough_outputs_are_approved(endpoint: str, workspace: Path) -> None:
    assert _gate(endpoint, workspace).returncode == 0  # a clean improvement, no review asked
    first = _gate(endpoint, workspace, "--require-review", "3", "--review-samples", "1")
    assert first.returncode == 1, first.stdout + first.stderr
    review = _checks(workspace)["review"]
    assert not review["passed"] and "3 approvals required, 3 more needed" in review["detail"]
    assert "openrft review list review_" in " ".join(first.stdout.split())
    (listed,) = _json(_cli("review", "list", "--json", cwd=workspace))
    assert (listed["candidate"], listed["baseline"]) == ("sorter", "reverser")
    assert listed["counts"] == {"total": 3, "pending": 3, "approved": 0, "rejected": 0}
    assert set(listed["per_slice"]) == {"edge", "refusal", "untagged"}
    items = _json(_cli("review", "list", listed["id"], "--json", cwd=workspace))
    prompt = items[0]["item"]["messages"][0]["content"]
    answers = {scripted_model.ascending(prompt, 0), scripted_model.descending(prompt, 0)}
    assert {items[0]["candidate"]["output_text"], items[0]["baseline"]["output_text"]} == answers
    assert items[0]["candidate"]["reward"] == 1.0
    shown = _cli("review", "show", items[0]["id"], cwd=workspace)
    assert shown.returncode == 0 and "--- candidate sorter (reward 1) ---" in shown.stdout
    assert prompt in shown.stdout and "--- baseline reverser" in shown.stdout
    for item in items[:2]:
        assert _cli("review", "approve", item["id"], cwd=workspace).returncode == 0
    assert _gate(endpoint, workspace, "--require-review", "3").returncode == 1
    assert "1 more needed" in _checks(workspace)["review"]["detail"]
    done = _cli("review", "approve", items[2]["id"], "--note", "fine", cwd=workspace)
    assert "3 approved, 0 rejected, 0 pending" in " ".join(done.stdout.split())
    passed = _gate(endpoint, workspace, "--require-review", "3")
    assert passed.returncode == 0, passed.stdout
    assert _checks(workspace)["review"]["passed"]
    assert len(_json(_cli("review", "list", "--json", cwd=workspace))) == 1  # the same review


def test_one_rejected_output_fails_the_gate(endpoint: str, workspace: Path) -> None:
    assert _gate(endpoint, workspace, "--require-review", "1").returncode == 1
    (review,) = _json(_cli("review", "list", "--json", cwd=workspace))
    items = _json(_cli("review", "list", review["id"], "--json", cwd=workspace))
    assert len(items) == 2 + 2 + 3  # up to 3 per slice (default): edge, refusal, untagged
    no_note = _cli("review", "reject", items[0]["id"], cwd=workspace)
    assert no_note.returncode == 2 and "--note" in no_note.stderr
    for item in items[1:]:
        _cli("review", "approve", item["id"], cwd=workspace)
    rejected = _cli("review", "reject", items[0]["id"], "--note", "rude", cwd=workspace)
    assert rejected.returncode == 0, rejected.stderr
    assert _gate(endpoint, workspace, "--require-review", "1").returncode == 1
    assert "a rejected output blocks the release" in _checks(workspace)["review"]["detail"]
    pending = _json(_cli("review", "list", review["id"], "--status", "rejected", "--json",
                         cwd=workspace))  # fmt: skip
    assert [(i["id"], i["note"]) for i in pending] == [(items[0]["id"], "rude")]
    _cli("review", "approve", items[0]["id"], "--note", "on reflection", cwd=workspace)
    assert _gate(endpoint, workspace, "--require-review", "1").returncode == 0


def test_a_named_review_must_be_of_the_pair(endpoint: str, workspace: Path) -> None:
    _gate(endpoint, workspace, "--require-review", "1")
    (review,) = _json(_cli("review", "list", "--json", cwd=workspace))
    other = _cli("gate", "--candidate", "coin", "--baseline", "reverser", "-d", "valid.jsonl",
                 "-g", "grader.json", "--base-url", endpoint, "--review-url", "home",
                 "--require-review", "1", "--review", review["id"], cwd=workspace)  # fmt: skip
    assert other.returncode == 2
    assert "is of sorter vs reverser, not coin vs reverser" in other.stderr
    unknown = _cli("review", "show", "reviewitem_nope", cwd=workspace)
    assert unknown.returncode == 2 and "No such review item" in unknown.stderr
    assert "Traceback" not in unknown.stderr + other.stderr
