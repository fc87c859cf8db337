"""`openrft grade`: run a grader over a JSONL of `{"sample": ..., "item": {...}}` rows.

The file is streamed: read, graded and written `ROWS_PER_CHUNK` rows at a time, the summary
added up as it goes (`graders.batch.RunningReport`), so memory stays flat however many rows
the file holds. The numbers are those `grade_many` gives over the whole file at once.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.table import Table

from openrft.cli.render import console, err_console, load_json_file, progress_bar
from openrft.errors import DataFileError, GraderValidationError
from openrft.graders import (
    AnyGrader,
    GradeColumn,
    GradeResult,
    MultiGrader,
    RunningReport,
    Sample,
    ScoreModelGrader,
    display_name,
    grade_stream,
    is_sync,
    run_response,
    validate_grader,
)
from openrft.store.atomic import atomic_file

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


ROWS_PER_CHUNK = 8192
"""Rows read, graded and written together: memory holds about three chunks, whatever the
file's length."""


def iter_chunks(path: Path) -> Iterator[tuple[list[int], list[dict[str, Any]]]]:
    """The file's rows, `ROWS_PER_CHUNK` at a time with their line numbers, each checked
    (`{"sample": <string or sample object>, "item": {...}}`; a sample object becomes a
    `Sample`). The first bad line raises `DataFileError`; so does a file without rows."""
    from openrft.data.jsonl import iter_jsonl

    if not path.is_file():
        raise DataFileError("no such file", path=str(path))
    lines: list[int] = []
    rows: list[dict[str, Any]] = []
    seen = 0
    for line, row in iter_jsonl(path):
        rows.append(_row(row, str(path), line))
        lines.append(line)
        if len(rows) == ROWS_PER_CHUNK:
            seen += len(rows)
            yield lines, rows
            lines, rows = [], []
    if rows:
        yield lines, rows
    elif not seen:
        raise DataFileError("no rows to grade", path=str(path))


def _row(row: dict[str, Any], path: str, line: int) -> dict[str, Any]:
    if "sample" not in row or len(row) > 2 or (len(row) == 2 and "item" not in row):
        unknown = set(row) - {"sample", "item"}
        extra = f" (unexpected: {', '.join(sorted(unknown))})" if unknown else ""
        raise DataFileError(
            f'each row is {{"sample": ..., "item": {{...}}}}{extra}', path=path, line=line
        )
    if not isinstance(row.get("item", {}), dict):
        raise DataFileError('"item" must be an object', path=path, line=line)
    if not isinstance(row["sample"], str):
        try:
            row["sample"] = Sample.coerce(row["sample"])
        except TypeError as exc:
            raise DataFileError(f'"sample": {exc}', path=path, line=line) from None
    return row


def grade_command(
    grader: Annotated[Path, typer.Option("--grader", "-g", help="Grader JSON file.")],
    data: Annotated[Path, typer.Option("--data", "-d", help='JSONL of {"sample", "item"} rows.')],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write per-row results.")] = None,
    concurrency: Annotated[int, typer.Option(help="Rows graded at once (remote graders).")] = 32,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Grade every row of a JSONL file and print a summary."""
    spec = load_grader(grader)
    total = 0 if as_json else _count_lines(data)
    show_bar = not as_json and (total >= _PROGRESS_MIN_ROWS or not is_sync(spec))
    with progress_bar(total, f"grading {data.name}", enabled=show_bar) as update:
        report, passes, first = _grade_file(spec, data, out, concurrency, update)
    summary = report.summary()
    summary["pass_rate"] = passes / report.count if report.count else math.nan
    graded = summary["errored_rows"] < report.count
    if not graded:  # no score, rather than a score of 0
        summary["mean_reward"] = dict.fromkeys(summary["mean_reward"])
        summary["pass_rate"] = None
    if as_json:
        console.print_json(json.dumps(summary))
    else:
        _print_summary(spec, summary, out)
    if not graded:  # a check that failed: exit 1, with the cause
        err_console.print(
            f"openrft: error: no score: all {report.count} rows errored; first error: {first}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


def _grade_file(
    spec: AnyGrader, data: Path, out: Path | None, concurrency: int, update: Any
) -> tuple[RunningReport, int, str]:
    """Read, grade and write chunk by chunk: the running report, the rows that passed and
    the first failed row's line and details. `--out` is written beside and moved into place
    once every row is graded, so a bad line leaves no half-written results."""
    report, passes, bar = RunningReport(spec), 0, pass_bar(spec)
    waiting: deque[list[int]] = deque()  # line numbers of the chunks read, not yet graded

    def rows(chunks: Iterator[tuple[list[int], list[dict[str, Any]]]]) -> Iterator[Any]:
        for lines, chunk in chunks:
            waiting.append(lines)
            yield chunk

    first = ""
    with _results_file(out) as handle:
        writer = ResultWriter(spec) if handle is not None else None
        graded = grade_stream(spec, rows(iter_chunks(data)), concurrency=concurrency)
        for column, seconds in graded:
            lines = waiting.popleft()
            report.add(column, seconds)
            passes += count_passes(column, bar)
            if not first and column.failures:
                first = _failure_text(column, lines)
            if writer is not None and handle is not None:
                handle.write(writer.lines(column, lines))
            update(lines[-1])
    return report, passes, first


@contextmanager
def _results_file(out: Path | None) -> Iterator[TextIO | None]:
    if out is None:
        yield None
        return
    with atomic_file(out, prefix=f".{out.name}.partial") as handle:  # whole, or the old file
        yield handle


def _count_lines(path: Path) -> int:
    """Lines in the file (the progress bar's total), read in large blocks; 0 if unreadable."""
    try:
        with path.open("rb") as stream:
            return sum(block.count(b"\n") for block in iter(lambda: stream.read(1 << 20), b""))
    except OSError:
        return 0  # the reader names the problem


def pass_bar(spec: AnyGrader) -> float:
    """The reward at which a clean grade passes (`graders.passing.passed`, decision G3)."""
    if spec.pass_threshold is not None:
        return float(spec.pass_threshold)
    if isinstance(spec, ScoreModelGrader):
        return float(spec.bounds[1])
    return 1.0


def count_passes(column: GradeColumn, bar: float) -> int:
    """Rows that passed, read off the reward column (a failed row never passes)."""
    passing = sum(reward >= bar for reward in column.rewards)
    return passing - sum(column.rewards[row] >= bar for row in column.failures)


def _failure_text(column: GradeColumn, lines: list[int]) -> str:
    """The first failed row's line and details (or its flags when it has none)."""
    index = min(column.failures)
    result = column.failures[index]
    flags = ", ".join(flag for flag, on in (result.errors or {}).items() if on is True)
    return f"line {lines[index]}: {result.detail or flags}"


class ResultWriter:
    """`--out` lines: `{"line": n, ...the graders/run response...}` as `json.dumps` writes
    them. A clean row of the column path fills a template (the same text, a tenth of the
    time); a failed row, and every row graded one by one (remote graders), is dumped whole."""

    def __init__(self, spec: AnyGrader):
        self.name, self.type = display_name(spec), spec.type
        self.subs = list(spec.graders) if isinstance(spec, MultiGrader) else []
        marks = _Marks()
        clean = {"line": marks.line, **run_response(GradeResult(0.0), self.name, self.type)}
        clean["reward"] = marks.reward
        clean["metadata"]["execution_time"] = marks.time
        clean["metadata"]["scores"] = clean["sub_rewards"] = marks.subs
        text = json.dumps(clean, ensure_ascii=False)
        self.pieces = None if text.count("\\u0000") != 5 else marks.split(text)
        """The template's text between its places; None (every row dumped whole) where the
        grader's own name holds a mark."""
        self.keys = [(json.dumps(key, ensure_ascii=False) + ": ", key) for key in self.subs]

    def lines(self, column: GradeColumn, lines: list[int]) -> str:
        if self.pieces is None or not isinstance(column.execution_time, float):
            return "".join(
                self.whole(line, result) for line, result in zip(lines, column, strict=True)
            )
        start, reward, time, scores, then, end = self.pieces
        middle = f"{time}{_number(column.execution_time)}{scores}"  # one share for every row
        if not self.subs and _plain_floats(column.rewards):
            tail = f"{middle}{{}}{then}{{}}{end}\n"  # the usual chunk: one format per row
            out = [f"{start}{line}{reward}{r!r}{tail}" for line, r in
                   zip(lines, column.rewards, strict=True)]  # fmt: skip
            for row, result in column.failures.items():
                out[row] = self.whole(lines[row], result)
            return "".join(out)
        out = []
        for row, line in enumerate(lines):
            failed = column.failures.get(row)
            if failed is not None:
                out.append(self.whole(line, failed))
                continue
            subs = self._subs(column, row)
            number = _number(column.rewards[row])
            out.append(f"{start}{line}{reward}{number}{middle}{subs}{then}{subs}{end}\n")
        return "".join(out)

    def _subs(self, column: GradeColumn, row: int) -> str:
        """A multi's sub-rewards as `json.dumps` writes the dict."""
        pairs = (f"{key}{_number(column.subs[name][row])}" for key, name in self.keys)
        return "{" + ", ".join(pairs) + "}"

    def whole(self, line: int, result: GradeResult) -> str:
        record = {"line": line, **run_response(result, self.name, self.type)}
        if result.detail:
            record["detail"] = result.detail
        return json.dumps(record, ensure_ascii=False) + "\n"


class _Marks:
    """Placeholders a template is cut at: strings no grader name or type can hold as JSON."""

    line, reward, time, subs = "\x00line", "\x00reward", "\x00time", "\x00subs"

    def split(self, text: str) -> list[str]:
        cuts = [json.dumps(mark) for mark in (self.line, self.reward, self.time, self.subs)]
        pieces, rest = [], text
        for cut in [cuts[0], cuts[1], cuts[2], cuts[3], cuts[3]]:
            head, rest = rest.split(cut, 1)
            pieces.append(head)
        return [*pieces, rest]


def _plain_floats(values: list[float]) -> bool:
    """Every value a finite float (written by `repr`, as `json.dumps` writes it)."""
    return set(map(type, values)) <= {float} and all(map(math.isfinite, values))


def _number(value: float) -> str:
    """A number as `json.dumps` writes it."""
    return float.__repr__(value) if type(value) is float and math.isfinite(value) else (
        json.dumps(value))  # fmt: skip


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
