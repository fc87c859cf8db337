"""`openrft grade` streams its file (openrft.cli.grade): chunk after chunk, the summary and the
`--out` lines equal what grading the whole file at once gives, reading stays at most a chunk
ahead of grading, a bad line leaves no half-written results, and `openrft grade` imports no
other command."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from openrft.cli import grade
from openrft.cli.main import build_app
from openrft.graders import GradeColumn, GradeResult, Sample, grade_many, validate_grader
from openrft.graders.batch import ExactSum, RunningReport, grade_stream
from openrft.graders.passing import passed
from openrft.graders.result import run_response
from openrft.graders.schema import display_name
from tests.graders import examples

EXACT = examples.EXACT
CLOSE = {"type": "text_similarity", "name": "close", "input": "{{sample.output_text}}",
         "reference": "{{item.reference}}", "evaluation_metric": "fuzzy_match",
         "pass_threshold": 0.7}  # fmt: skip
MULTI = {"type": "multi", "name": "both", "calculate_output": "0.25 * exact + 0.75 * close",
         "graders": {"exact": EXACT, "close": CLOSE}, "pass_threshold": 0.5}  # fmt: skip
GRADERS = {"string_check": EXACT, "fuzzy_match": CLOSE, "multi": MULTI}


def mixed_rows(count: int) -> list[dict[str, Any]]:
    """Strings, sample objects and Chat Completions; right, near and wrong answers; every
    sixth row without the reference (an errored grade)."""
    rows = []
    for number in range(count):
        reference = f"réponse {number} ✓"
        text = (reference, reference[:-2] + "x", "no idea")[number % 3]
        sample: Any = text
        if number % 4 == 1:
            sample = {"output_text": text}
        elif number % 4 == 2:
            sample = {"choices": [{"message": {"role": "assistant", "content": text}}]}
        rows.append({"sample": sample, "item": {} if number % 6 == 5 else {"reference": reference}})
    return rows


def whole_file(spec_json: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[Any, list[Any]]:
    """What `openrft grade` printed and wrote before it streamed: `grade_many` over every row."""
    spec = validate_grader(spec_json)
    report = grade_many(spec, [(Sample.coerce(row["sample"]), row["item"]) for row in rows])
    summary = report.summary()
    summary["pass_rate"] = sum(passed(spec, r) for r in report.results) / report.count
    lines = []
    for line, result in enumerate(report.results, start=1):
        record = {"line": line, **run_response(result, display_name(spec), spec.type)}
        if result.detail:
            record["detail"] = result.detail
        lines.append(record)
    return summary, lines


def untimed(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "metadata": {**record["metadata"], "execution_time": 0}}


@pytest.mark.parametrize("name", GRADERS)
def test_streamed_results_equal_grading_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setattr(grade, "ROWS_PER_CHUNK", 7)  # 100 rows: 15 chunks, the last short
    rows = mixed_rows(100)
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    spec_path = tmp_path / "grader.json"
    spec_path.write_text(json.dumps(GRADERS[name]))
    out = tmp_path / "out.jsonl"
    args = ["grade", "-g", str(spec_path), "-d", str(data), "--out", str(out), "--json"]
    done = CliRunner().invoke(build_app(("grade",)), args)
    assert done.exit_code == 0, done.output
    streamed = json.loads(done.stdout)
    expected, expected_lines = whole_file(GRADERS[name], rows)
    for key in ("rows", "mean_reward", "errored_rows", "errors", "pass_rate", "token_usage"):
        assert streamed[key] == expected[key], key
    assert streamed["errored_rows"] == 100 // 6 and 0 < streamed["pass_rate"] < 1
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [untimed(r) for r in written] == [untimed(r) for r in expected_lines]
    assert not list(tmp_path.glob(".out.jsonl*"))  # nothing left beside the results


@pytest.mark.parametrize("name", GRADERS)
def test_a_clean_rows_line_is_the_text_json_dumps_writes(name: str) -> None:
    spec = validate_grader(GRADERS[name])
    column = grade_many(spec, [{"sample": r["sample"], "item": r["item"]} for r in mixed_rows(30)])
    results = column.results
    assert isinstance(results.execution_time, float)  # the column path, where templates apply
    lines = list(range(3, 33))
    text = grade.ResultWriter(spec).lines(results, lines)
    expected = ""
    for line, result in zip(lines, results, strict=True):
        record = {"line": line, **run_response(result, display_name(spec), spec.type)}
        if result.detail:
            record["detail"] = result.detail
        expected += json.dumps(record, ensure_ascii=False) + "\n"
    assert text == expected


def test_reading_stays_at_most_one_chunk_ahead_of_grading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(grade, "ROWS_PER_CHUNK", 10)
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in mixed_rows(95)), encoding="utf-8")
    read = 0
    real_iter = grade.iter_chunks

    def counting(path: Path) -> Iterator[tuple[list[int], list[dict[str, Any]]]]:
        nonlocal read
        for lines, rows in real_iter(path):
            read += len(rows)
            yield lines, rows

    ahead: list[int] = []
    real_add = RunningReport.add

    def add(self: RunningReport, column: GradeColumn, seconds: float) -> None:
        real_add(self, column, seconds)
        ahead.append(read - self.count)  # rows read and not yet added up

    monkeypatch.setattr(grade, "iter_chunks", counting)
    monkeypatch.setattr(RunningReport, "add", add)
    spec = tmp_path / "grader.json"
    spec.write_text(json.dumps(CLOSE))
    done = CliRunner().invoke(build_app(("grade",)), ["grade", "-g", str(spec), "-d", str(data)])
    assert done.exit_code == 0, done.output
    assert len(ahead) == 10 and max(ahead) <= 10  # one chunk in hand, at most, per chunk graded


def test_grade_stream_takes_a_chunk_only_when_the_last_is_in_hand() -> None:
    taken = 0

    def chunks() -> Iterator[list[dict[str, Any]]]:
        nonlocal taken
        for _ in range(6):
            taken += 1
            yield [{"sample": "a", "item": {"reference": "a"}}] * 3

    seen = []
    for column, _ in grade_stream(validate_grader(EXACT), chunks()):
        seen.append(taken)
        assert column.rewards == [1.0] * 3
    assert seen == [2, 3, 4, 5, 6, 6]  # chunk k graded while chunk k + 1 was read


def test_running_sums_are_fsum_over_every_value() -> None:
    values = [0.1] * 10 + [1e16, 1.0, -1e16] + [1 / 3] * 7 + [2.0**-60] * 5
    running = ExactSum()
    for start in range(0, len(values), 4):
        running.add(values[start : start + 4])
    assert running.total == math.fsum(values)
    assert sum(values) != math.fsum(values)  # a plain running sum would differ


def test_a_bad_line_after_graded_chunks_leaves_no_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(grade, "ROWS_PER_CHUNK", 4)
    data = tmp_path / "rows.jsonl"
    good = "".join(json.dumps(row) + "\n" for row in mixed_rows(20))
    data.write_text(good + '{"sample": "a", "item": [1]}\n', encoding="utf-8")
    spec = tmp_path / "grader.json"
    spec.write_text(json.dumps(EXACT))
    out = tmp_path / "out.jsonl"
    args = ["grade", "-g", str(spec), "-d", str(data), "--out", str(out)]
    done = CliRunner().invoke(build_app(("grade",)), args)
    assert done.exit_code == 1 and isinstance(done.exception, grade.DataFileError)
    assert done.exception.line == 21 and '"item" must be an object' in done.exception.message
    assert not out.exists() and not list(tmp_path.glob(".out.jsonl*"))


def test_running_report_first_failure_is_the_first_failed_row() -> None:
    spec = validate_grader(EXACT)
    report = RunningReport(spec)
    report.add(GradeColumn([1.0, 1.0]), 0.1)
    failed = GradeResult(0.0, {"invalid_variable_error": True}, detail="late")
    report.add(GradeColumn([0.0, 1.0], failures={0: failed}), 0.1)
    assert report.first_failure == (2, failed)
    assert report.summary()["errors"] == {"invalid_variable_error": 1}


def test_openrft_grade_imports_no_other_command(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.argv = ['openrft', 'grade', '--help']\n"
        "from openrft.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('openrft.cli.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"'))
    assert "openrft.cli.grade" in loaded
    for other in ("data", "demo", "evals", "models", "serve", "train", "job_file"):
        assert f"openrft.cli.{other}" not in loaded
