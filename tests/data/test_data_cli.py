"""`openrft data split` / `openrft data lint` through the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

OPENRFT = str(Path(sys.executable).parent / "openrft")


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OPENRFT, "data", *map(str, args)], capture_output=True, text=True, timeout=60
    )


def write_rows(path: Path, count: int, start: int = 0) -> Path:
    rows = [
        {"messages": [{"role": "user", "content": f"question {i} about thing {i * 7}"}],
         "label": "ab"[i % 2]}
        for i in range(start, start + count)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_split_is_deterministic_and_keeps_every_row(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "all.jsonl", 100)
    outputs = []
    for name in ("a", "b"):
        train, valid = tmp_path / f"{name}-train.jsonl", tmp_path / f"{name}-valid.jsonl"
        result = run("split", source, "--train", train, "--valid", valid, "--stratify", "label")
        assert result.returncode == 0, result.stderr
        outputs.append((train.read_bytes(), valid.read_bytes()))
    assert outputs[0] == outputs[1]
    train_rows, valid_rows = (
        read_rows(tmp_path / "a-train.jsonl"),
        read_rows(tmp_path / "a-valid.jsonl"),
    )
    assert len(train_rows) == 90 and len(valid_rows) == 10
    assert sorted(map(json.dumps, train_rows + valid_rows)) == sorted(
        map(json.dumps, read_rows(source))
    )
    assert sum(r["label"] == "a" for r in valid_rows) == 5


def test_split_by_size_and_seed(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "all.jsonl", 50)
    train, valid = tmp_path / "t.jsonl", tmp_path / "v.jsonl"
    result = run(
        "split", source, "--train", train, "--valid", valid, "--valid-size", "7", "--seed", "1"
    )
    assert result.returncode == 0 and len(read_rows(valid)) == 7 and len(read_rows(train)) == 43


def test_split_of_a_bad_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_bytes(b'{"messages": [{"role": "user", "content": "x"}]}\n{"a": NaN}\n')
    result = run("split", source, "--train", tmp_path / "t", "--valid", tmp_path / "v")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"openrft: error: {source}:2: NaN is not valid JSON (use a number or null)"
    )
    assert not (tmp_path / "t").exists()


def test_lint_json_and_exit_codes(tmp_path: Path) -> None:
    train = write_rows(tmp_path / "t.jsonl", 40)
    clean = write_rows(tmp_path / "v.jsonl", 10, start=40)
    result = run("lint", train, "--valid", clean, "--json")
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["ok"] is True and [s["rows"] for s in report["splits"]] == [40, 10]

    leaking = write_rows(tmp_path / "leak.jsonl", 10, start=35)
    result = run("lint", train, "--valid", leaking, "--json")
    assert result.returncode == 1
    assert any(f["code"] == "leakage" for f in json.loads(result.stdout)["findings"])


def test_lint_table_with_grader(tmp_path: Path) -> None:
    train = write_rows(tmp_path / "t.jsonl", 40)
    grader = tmp_path / "g.json"
    grader.write_text(json.dumps({
        "type": "string_check", "name": "g", "input": "{{sample.output_text}}",
        "reference": "{{item.missing}}", "operation": "eq",
    }))  # fmt: skip
    result = run("lint", train, "--grader", grader)
    assert result.returncode == 1
    assert "template_error" in result.stdout and "item.label" not in result.stdout
    assert "Traceback" not in result.stderr


def test_lint_missing_file_and_bad_grader_are_exit_2(tmp_path: Path) -> None:
    result = run("lint", tmp_path / "nope.jsonl")
    assert result.returncode == 2 and "nope.jsonl: no such file" in result.stderr
    train = write_rows(tmp_path / "t.jsonl", 5)
    grader = tmp_path / "g.json"
    grader.write_text('{"type": "string_check"}')
    result = run("lint", train, "--grader", grader)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"openrft: error: {grader}: Missing required field")


def test_split_fraction_and_size_are_exclusive(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "all.jsonl", 20)
    args = ("--train", tmp_path / "t", "--valid", tmp_path / "v")
    result = run("split", source, *args, "--valid-fraction", "0.5", "--valid-size", "3")
    assert result.returncode == 2 and "not both" in result.stderr
    assert run("split", source, *args, "--valid-fraction", "0.5").returncode == 0
    assert len(read_rows(tmp_path / "v")) == 10


def test_split_stratified_on_a_nearly_unique_field_keeps_the_size(tmp_path: Path) -> None:
    rows = read_rows(write_rows(tmp_path / "half.jsonl", 50)) * 2  # every prompt twice
    source = tmp_path / "all.jsonl"
    source.write_text(
        "".join(json.dumps({**r, "id": i}) + "\n" for i, r in enumerate(rows)), encoding="utf-8"
    )  # `id` is unique: no value has a validation share of its own
    train, valid = tmp_path / "t.jsonl", tmp_path / "v.jsonl"
    args = ("split", source, "--train", train, "--valid", valid, "--stratify", "id")
    result = run(*args, "--valid-size", "20")
    assert result.returncode == 0, result.stderr
    assert len(read_rows(valid)) == 20 and len(read_rows(train)) == 80
    result = run(*args, "--valid-size", "25")  # pairs cannot add up to 25
    assert result.returncode == 2 and not result.stdout
    assert "cannot take exactly 25 validation rows, only 24" in result.stderr
