"""`openrft grade` as a user runs it: the real console script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.graders import examples

OPENRFT = [sys.executable, "-m", "openrft.cli"]
EXACT = examples.EXACT


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run(
        [*OPENRFT, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def grader(tmp_path: Path) -> Path:
    path = tmp_path / "grader.json"
    path.write_text(json.dumps(EXACT), encoding="utf-8")
    return path


def test_grade_prints_a_summary_and_writes_results(tmp_path: Path, grader: Path) -> None:
    data = _write(tmp_path / "rows.jsonl", [
        {"sample": "a", "item": {"reference": "a"}},
        {"sample": "b", "item": {"reference": "c"}},
        {"sample": "x", "item": {}},
    ])  # fmt: skip
    out = tmp_path / "out.jsonl"
    done = _run(
        "grade", "--grader", str(grader), "--data", str(data), "--out", str(out), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "mean reward · exact" in done.stdout and "0.3333" in done.stdout
    assert "invalid_variable_error" in done.stdout
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["line"] for r in results] == [1, 2, 3]
    assert [r["reward"] for r in results] == [1.0, 0.0, 0.0]
    assert results[2]["metadata"]["errors"]["invalid_variable_error"] is True
    assert "item.reference" in results[2]["detail"]


def test_json_summary(tmp_path: Path, grader: Path) -> None:
    data = _write(tmp_path / "rows.jsonl", [{"sample": "a", "item": {"reference": "a"}}] * 3)
    done = _run("grade", "-g", str(grader), "-d", str(data), "--json", cwd=tmp_path)
    summary = json.loads(done.stdout)
    assert summary["rows"] == 3 and summary["mean_reward"] == {"exact": 1.0}
    assert summary["pass_rate"] == 1.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"sample": "a", "item": {"reference": "a"}}\n{"sample": "b", "item": [1]}\n', "rows.jsonl:2: \"item\" must be an object"),
        (b'{"sample": "a"}\n{"item": {}}\n', "rows.jsonl:2: each row is"),
        (b'{"sample": "a", "extra": 1}\n', "rows.jsonl:1: each row is"),
        (b'{"sample": 5}\n', "rows.jsonl:1: \"sample\""),
        (b'{"sample": "a"}\n{"sample": "b"\n', "rows.jsonl:2:"),
        (b'{"sample": "\xff"}\n', "rows.jsonl:1:"),
        (b"", "no rows to grade"),
    ],
)  # fmt: skip
def test_bad_rows_give_one_line_naming_file_and_line(
    tmp_path: Path, grader: Path, content: bytes, message: str
) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_bytes(content)
    done = _run("grade", "-g", str(grader), "-d", str(data), cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_bad_grader_files(tmp_path: Path) -> None:
    data = _write(tmp_path / "rows.jsonl", [{"sample": "a"}])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**EXACT, "operation": "contains"}))
    done = _run("grade", "-g", str(bad), "-d", str(data), cwd=tmp_path)
    assert done.returncode == 2 and "bad.json: Invalid value for 'grader.operation'" in done.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{\n  'single': quotes\n}")
    done = _run("grade", "-g", str(broken), "-d", str(data), cwd=tmp_path)
    assert done.returncode == 2 and "broken.json:2: invalid JSON" in done.stderr
    done = _run("grade", "-g", str(tmp_path / "missing.json"), "-d", str(data), cwd=tmp_path)
    assert done.returncode == 2 and "missing.json: no such file" in done.stderr


def test_a_chat_completion_sample_is_graded_on_its_first_choice(tmp_path: Path) -> None:
    # A row's sample as `chat.completions.create(...).model_dump()` gives it.
    def completion(content: str | None, calls: list[object] | None = None) -> dict[str, object]:
        message = {"role": "assistant", "content": content, "refusal": None, "tool_calls": calls}
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "finish_reason": "stop", "message": message}]}  # fmt: skip

    call = {"id": "c1", "type": "function",
            "function": {"name": "lookup", "arguments": json.dumps({"city": "Paris"})}}  # fmt: skip
    grader = tmp_path / "multi.json"
    grader.write_text(json.dumps({
        "type": "multi", "calculate_output": "text + city",
        "graders": {"text": EXACT, "city": {**EXACT, "input":
                    "{{sample.output_tools[0].function.arguments.city}}"}},
    }))  # fmt: skip
    data = _write(tmp_path / "rows.jsonl", [
        {"sample": completion("Paris", [call]), "item": {"reference": "Paris"}},
        {"sample": completion("Lyon", [call]), "item": {"reference": "Paris"}},
    ])  # fmt: skip
    out = tmp_path / "out.jsonl"
    done = _run("grade", "-g", str(grader), "-d", str(data), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["reward"] for r in results] == [2.0, 1.0]
    assert [r["sub_rewards"] for r in results] == [{"text": 1.0, "city": 1.0},
                                                    {"text": 0.0, "city": 1.0}]  # fmt: skip


def test_every_row_errored_is_no_score_and_exit_1(tmp_path: Path, grader: Path) -> None:
    data = _write(tmp_path / "rows.jsonl", [{"sample": "a", "item": {}}] * 3)
    done = _run("grade", "-g", str(grader), "-d", str(data), cwd=tmp_path)
    assert done.returncode == 1, done.stdout
    assert "no score" in done.stdout and "0.0000" not in done.stdout
    line = "openrft: error: no score: all 3 rows errored; first error: line 1: "
    assert done.stderr.startswith(line) and "'reference' not found" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1  # said once, on one line
    done = _run("grade", "-g", str(grader), "-d", str(data), "--json", cwd=tmp_path)
    summary = json.loads(done.stdout)
    assert done.returncode == 1 and summary["errored_rows"] == 3
    assert summary["mean_reward"] == {"exact": None} and summary["pass_rate"] is None


def test_a_misspelt_grader_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    data = _write(tmp_path / "rows.jsonl", [{"sample": "a", "item": {"reference": "a"}}])
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({**{k: v for k, v in EXACT.items() if k != "reference"},
                                "refrence": "{{ item.reference }}"}))  # fmt: skip
    done = _run("grade", "-g", str(typo), "-d", str(data), cwd=tmp_path)
    assert done.returncode == 2
    assert "Unrecognized field 'grader.refrence' (did you mean 'reference'?)" in done.stderr
    assert "missing required field 'grader.reference'" in done.stderr
