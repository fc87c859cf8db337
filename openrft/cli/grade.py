"""`openrft grade`: run a grader over a JSONL of `{"sample": ..., "item": {...}}` rows."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from openrft.cli.render import console, err_console, load_json_file, progress_bar
from openrft.errors import DataFileError, GraderValidationError
from openrft.graders import (
    AnyGrader,
    BatchReport,
    Sample,
    display_name,
    grade_many,
    is_sync,
    passed,
    run_response,
    validate_grader,
)

_PROGRESS_MIN_ROWS = 2000


def load_grader(path: Path) -> AnyGrader:
    """A grader from a JSON file (the grader itself, or `{"grader": {...}}`)."""
    data = load_json_file(path)
    if isinstance(data, dict) and set(data) == {"grader"}:
        data = data["grader"]
    try:
        return validate_grader(data)
    except GraderValidationError as exc:
        raise DataFileError(exc.message, path=str(path)) from None


def load_rows(path: Path) -> list[tuple[int, Sample, dict[str, Any]]]:
    """Rows of `{"sample": <string or sample object>, "item": {...}}`, each checked."""
    from openrft.data.jsonl import iter_jsonl

    if not path.is_file():
        raise DataFileError("no such file", path=str(path))
    rows = []
    for line, row in iter_jsonl(path):
        rows.append((line, *_row(row, str(path), line)))
    if not rows:
        raise DataFileError("no rows to grade", path=str(path))
    return rows


def _row(row: dict[str, Any], path: str, line: int) -> tuple[Sample, dict[str, Any]]:
    unknown = set(row) - {"sample", "item"}
    if "sample" not in row or unknown:
        extra = f" (unexpected: {', '.join(sorted(unknown))})" if unknown else ""
        raise DataFileError(
            f'each row is {{"sample": ..., "item": {{...}}}}{extra}', path=path, line=line
        )
    item = row.get("item", {})
    if not isinstance(item, dict):
        raise DataFileError('"item" must be an object', path=path, line=line)
    try:
        return Sample.coerce(row["sample"]), item
    except TypeError as exc:
        raise DataFileError(f'"sample": {exc}', path=path, line=line) from None


def grade_command(
    grader: Annotated[Path, typer.Option("--grader", "-g", help="Grader JSON file.")],
    data: Annotated[Path, typer.Option("--data", "-d", help='JSONL of {"sample", "item"} rows.')],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write per-row results.")] = None,
    concurrency: Annotated[int, typer.Option(help="Rows graded at once (remote graders).")] = 32,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Grade every row of a JSONL file and print a summary."""
    spec = load_grader(grader)
    rows = load_rows(data)
    show_bar = not as_json and (len(rows) >= _PROGRESS_MIN_ROWS or not is_sync(spec))
    with progress_bar(len(rows), f"grading {data.name}", enabled=show_bar) as update:
        report = grade_many(
            spec,
            [(sample, item) for _, sample, item in rows],
            concurrency=concurrency,
            progress=update,
        )
    if out is not None:
        _write_results(out, spec, rows, report)
    summary = report.summary()
    summary["pass_rate"] = _pass_rate(spec, report)
    graded = summary["errored_rows"] < report.count
    if not graded:  # no score, rather than a score of 0
        summary["mean_reward"] = dict.fromkeys(summary["mean_reward"])
        summary["pass_rate"] = None
    if as_json:
        console.print_json(json.dumps(summary))
    else:
        _print_summary(spec, summary, out)
    if not graded:  # a check that failed: exit 1, with the cause
        error = first_error(report, [line for line, _, _ in rows])
        err_console.print(
            f"openrft: error: no score: all {report.count} rows errored; first error: {error}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


def first_error(report: BatchReport, lines: list[int]) -> str:
    """The first failed row's line and details (or its flags when it has none)."""
    index = min(report.results.failures)
    result = report.results.failures[index]
    flags = ", ".join(flag for flag, on in (result.errors or {}).items() if on is True)
    return f"line {lines[index]}: {result.detail or flags}"


def _pass_rate(spec: AnyGrader, report: BatchReport) -> float:
    if not report.results:
        return math.nan
    return sum(passed(spec, result) for result in report.results) / report.count


def _write_results(out: Path, spec: AnyGrader, rows: list[Any], report: BatchReport) -> None:
    name = display_name(spec)
    with out.open("w", encoding="utf-8") as handle:
        for (line, _, _), result in zip(rows, report.results, strict=True):
            record = {"line": line, **run_response(result, name, spec.type)}
            if result.detail:
                record["detail"] = result.detail
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _print_summary(spec: AnyGrader, summary: dict[str, Any], out: Path | None) -> None:
    table = Table(title=f"{display_name(spec)} ({spec.type}) on {summary['rows']} rows")
    table.add_column("measure")
    table.add_column("value", justify="right")
    if summary["pass_rate"] is None:
        table.add_row("mean reward", "no score: every row errored")
    else:
        for name, mean in summary["mean_reward"].items():
            table.add_row(f"mean reward · {name}", f"{mean:.4f}")
        table.add_row("pass rate", f"{summary['pass_rate']:.1%}")
    table.add_row("rows with errors", str(summary["errored_rows"]))
    for flag, count in sorted(summary["errors"].items()):
        table.add_row(f"  {flag}", str(count))
    table.add_row("latency p50 / p95", _latency(summary))
    table.add_row("grades per second", f"{summary['grades_per_second']:,.0f}")
    if summary["token_usage"]:
        table.add_row("judge tokens", f"{summary['token_usage']['total_tokens']:,}")
    console.print(table)
    if out is not None:
        console.print(f"per-row results: {out}")


def _latency(summary: dict[str, Any]) -> str:
    return f"{summary['latency_p50_s'] * 1e3:.3f} ms / {summary['latency_p95_s'] * 1e3:.3f} ms"
