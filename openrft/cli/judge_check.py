"""`openrft judge-check`: grade human-labelled samples with a grader and report agreement.

Rows are JSONL `{"item": {...}, "sample": ..., "human": <score or label>}` (docs/evals.md).
The judge is reached as `openrft grade` reaches it (`OPENRFT_JUDGE_BASE_URL`,
`OPENRFT_JUDGE_API_KEY`). Exit 1 when the agreement is below the rule (the readiness no-go).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from openrft.cli.grade import load_grader
from openrft.cli.render import console, progress_bar
from openrft.errors import DataFileError
from openrft.evals import report as html
from openrft.evals.judge_check import (
    JudgeCheck,
    JudgeRule,
    LabelledRow,
    Rate,
    check_judge,
    judge_status,
    parse_row,
)
from openrft.evals.tables import FitTable
from openrft.graders import AnyGrader, is_sync


def load_labelled(path: Path, grader: AnyGrader) -> list[LabelledRow]:
    from openrft.data.jsonl import iter_jsonl

    if not path.is_file():
        raise DataFileError("no such file", path=str(path))
    rows = [parse_row(grader, row, str(path), line) for line, row in iter_jsonl(path)]
    if not rows:
        raise DataFileError("no labelled rows", path=str(path))
    return rows


def judge_check_command(
    grader: Annotated[Path, typer.Option("--grader", "-g", help="Grader JSON file.")],
    data: Annotated[
        Path, typer.Option("--data", "-d", help='JSONL of {"item", "sample", "human"} rows.')
    ],
    min_rho: Annotated[float, typer.Option(help="Least Spearman ρ for a go.")] = 0.8,
    min_samples: Annotated[int, typer.Option(help="Least labelled rows for ρ to count.")] = 50,
    concurrency: Annotated[int, typer.Option(help="Rows graded at once (remote graders).")] = 32,
    report: Annotated[Path | None, typer.Option(help="Report path (.html and .json).")] = None,
) -> None:
    """Agreement of a grader with people; exit 1 when it is below the rule."""
    spec = load_grader(grader)
    rows = load_labelled(data, spec)
    with progress_bar(len(rows), f"judging {data.name}", enabled=not is_sync(spec)):
        result = check_judge(rows, spec, concurrency=concurrency)
    status, detail = judge_status(result.to_dict(), JudgeRule(min_rho, min_samples))
    console.print(FitTable(f"judge check of {result.grader}: {status.upper()}", _rows(result)))
    if result.confusion:
        console.print(FitTable("confusion (rows: human label, columns: judge label)",
                               _confusion(result.confusion)))  # fmt: skip
    console.print(f"{status}: {detail}", highlight=False, markup=False, soft_wrap=True)
    paths = _write(report or Path("reports/judge-check"), result, status, detail)
    console.print(f"report: {paths[0]} (data: {paths[1]})")
    raise typer.Exit(1 if status == "no-go" else 0)


def _rate(rate: Rate | None) -> str:
    if rate is None or rate.rate is None:
        return "n/a"
    ci = f" [{rate.ci[0]:.3f}, {rate.ci[1]:.3f}]" if rate.ci else ""
    return f"{rate.rate:.3f}{ci} ({rate.agree}/{rate.total})"


def _rows(result: JudgeCheck) -> list[dict[str, Any]]:
    rho = "n/a (a constant side)" if result.spearman is None else f"{result.spearman:.3f}"
    ci = result.spearman_ci
    rows = [
        {"measure": "labelled rows", "value": str(result.rows)},
        {"measure": "rows the grader failed on", "value": str(result.errored)},
        {"measure": "Spearman ρ [95% CI]",
         "value": rho + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")},
        {"measure": "exact agreement [95% CI]", "value": _rate(result.exact)},
    ]  # fmt: skip
    if result.within_one is not None:
        rows.append({"measure": "within 1 [95% CI]", "value": _rate(result.within_one)})
    if result.kappa is not None:
        rows.append({"measure": "Cohen's κ", "value": f"{result.kappa:.3f}"})
    return rows


def _confusion(table: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    return [{"human": human, **{k: str(v) for k, v in row.items()}} for human, row in table.items()]


def _write(path: Path, result: JudgeCheck, status: str, detail: str) -> tuple[Path, Path]:
    tone: Literal["good", "bad"] = "good" if status == "go" else "bad"
    headline = html.Headline(f"{status.upper()} — judge {result.grader} vs people", tone, [detail])
    sections = [("Agreement", html.table(_rows(result)))]
    if result.confusion:
        sections.append(("Confusion", html.table(_confusion(result.confusion))))
    data = {**result.to_dict(), "status": status, "detail": detail}
    return html.write_report(path, "openrft judge-check", sections, data, headline=headline)
