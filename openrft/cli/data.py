"""`openrft data split` and `openrft data lint`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from openrft.cli.render import console, load_json_file
from openrft.data.lint import LintReport, lint_files
from openrft.data.report import FieldBalance
from openrft.data.split import split_rows
from openrft.data.validate import MAX_TRAIN_ROWS, MAX_VALID_ROWS, validate_file
from openrft.errors import DataFileError, GraderValidationError
from openrft.graders import validate_grader
from openrft.store.atomic import atomic_file

app = typer.Typer(help="Check and split RFT datasets (JSONL).", no_args_is_help=True)

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise DataFileError("no such file", path=str(path))
    return path


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    with atomic_file(path, prefix=f".{path.name}.") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


@app.command("split")
def split_command(
    source: Annotated[Path, typer.Argument(help="The JSONL file to split.")],
    train: Annotated[Path, typer.Option("--train", help="Where the training rows go.")],
    valid: Annotated[Path, typer.Option("--valid", help="Where the validation rows go.")],
    valid_fraction: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Share of rows [default: 0.1].")
    ] = None,
    valid_size: Annotated[int | None, typer.Option(min=0, help="Rows, instead of a share.")] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same split.")] = 42,
    stratify: Annotated[
        str | None, typer.Option(help="Keep this top-level field's values in proportion.")
    ] = None,
    max_valid: Annotated[
        int, typer.Option(min=0, help="At most this many validation rows.")
    ] = MAX_VALID_ROWS,
) -> None:
    """Split deterministically; rows with the same prompt stay on one side."""
    if valid_fraction is not None and valid_size is not None:
        raise typer.BadParameter("give --valid-fraction or --valid-size, not both")
    rows = validate_file(_existing(source), max_rows=sys.maxsize)
    train_rows, valid_rows = split_rows(
        rows,
        valid_fraction=0.1 if valid_fraction is None else valid_fraction,
        valid_size=valid_size,
        max_valid=max_valid,
        seed=seed,
        stratify=stratify,
        exact=True,
    )
    _write_jsonl(train, train_rows)
    _write_jsonl(valid, valid_rows)
    console.print(
        f"{len(train_rows)} training rows → {train}\n"
        f"{len(valid_rows)} validation rows → {valid} (seed {seed})"
    )


def _grader(path: Path) -> Any:
    data = load_json_file(path)
    if isinstance(data, dict) and "grader" in data and "type" not in data:
        data = data["grader"]  # a `graders/run` request body works too
    try:
        return validate_grader(data)
    except GraderValidationError as exc:  # named by its file, as `openrft grade` does
        raise DataFileError(exc.message, path=str(path)) from None


@app.command("lint")
def lint_command(
    train: Annotated[Path, typer.Argument(help="The training JSONL file.")],
    valid: Annotated[Path | None, typer.Option("--valid", help="The validation JSONL.")] = None,
    grader: Annotated[Path | None, typer.Option("--grader", "-g", help="Grader JSON.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    max_train: Annotated[
        int, typer.Option(min=1, help="Row limit a training file is checked against.")
    ] = MAX_TRAIN_ROWS,
    max_valid: Annotated[
        int, typer.Option(min=1, help="Row limit a validation file is checked against.")
    ] = MAX_VALID_ROWS,
) -> None:
    """Report duplicates, leakage, class balance, lengths, edge cases and grader references.
    Exits 1 when there is an error-severity finding."""
    spec = _grader(grader) if grader is not None else None
    report = lint_files(
        _existing(train),
        _existing(valid) if valid is not None else None,
        spec,
        max_train=max_train,
        max_valid=max_valid,
    )
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
    else:
        _render(report)
    if report.has_errors:
        raise typer.Exit(1)


def _render(report: LintReport) -> None:
    console.print(_splits_table(report))
    for balance in report.balance:
        console.print(_balance_table(balance))
    if report.findings:
        findings = Table("severity", "code", "finding")
        for finding in report.sorted_findings():
            severity = f"[{_STYLE[finding.severity]}]{finding.severity}[/]"
            findings.add_row(severity, finding.code, escape(finding.message))
        console.print(findings)
    verdict = "[bold red]errors found[/]" if report.has_errors else "[green]no errors[/]"
    console.print(
        f"{verdict}: {report.count('error')} errors, {report.count('warning')} warnings, "
        f"{report.count('info')} notes"
    )


def _splits_table(report: LintReport) -> Table:
    table = Table("split", "rows", "bad rows", "limit", "prompt chars min/p50/p95/max")
    table.add_column("edge")
    table.add_column("refusal")
    for stats in report.splits:
        chars = "/".join(str(stats.prompt_chars.get(k, "-")) for k in ("min", "p50", "p95", "max"))
        shares = [f"{stats.tag_shares.get(tag, 0):.1%}" for tag in ("edge", "refusal")]
        counts = [str(stats.rows), str(stats.bad_rows), str(stats.limit)]
        table.add_row(stats.split, *counts, chars, *shares)
    return table


def _balance_table(balance: FieldBalance) -> Table:
    table = Table(escape(balance.path), *balance.counts, title="reference values")
    values = sorted({value for counts in balance.counts.values() for value in counts})
    for value in values:
        counts = [str(counts.get(value, 0)) for counts in balance.counts.values()]
        table.add_row(escape(value), *counts)
    return table
