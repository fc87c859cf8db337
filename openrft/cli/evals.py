"""`openrft eval | gate | readiness | audit`: the evaluation discipline from the command line.

Each command prints a verdict and writes a self-contained HTML report with a JSON twin
(`--report PATH`, default `reports/<command>`). Answers come from `--base-url` (any
OpenAI-compatible server, e.g. `openrft serve`) or, without it, from models loaded in-process.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from openrft.cli.grade import load_grader
from openrft.cli.render import console, err_console, load_json_file
from openrft.data.validate import validate_file
from openrft.errors import InvalidRequestError
from openrft.evals import audit as audit_mod
from openrft.evals import gate as gate_mod
from openrft.evals import readiness as readiness_mod
from openrft.evals import views
from openrft.evals.compare import ModelEval, evaluate
from openrft.evals.sampling import EndpointSampler, LocalSampler, Sampler, SamplingParams
from openrft.graders import AnyGrader, display_name

T = TypeVar("T")

BaseUrl = Annotated[
    str | None, typer.Option(envvar="OPENRFT_BASE_URL", help="OpenAI-compatible /v1 URL.")
]
ApiKey = Annotated[str | None, typer.Option(envvar="OPENRFT_API_KEY", help="API key for it.")]
Samples = Annotated[int, typer.Option(help="Answers sampled per row.")]
Report = Annotated[Path | None, typer.Option(help="Report path (.html and .json written).")]
GraderOpt = Annotated[Path, typer.Option("--grader", "-g", help="Grader JSON file.")]
DataOpt = Annotated[Path, typer.Option("--data", "-d", help="RFT rows (JSONL).")]
Temperature = Annotated[float, typer.Option(help="Sampling temperature; 0 is greedy.")]
Seed = Annotated[int | None, typer.Option(help="Seed sent with every request (repeatable runs).")]


def sampler_for(base_url: str | None, api_key: str | None) -> Sampler:
    if base_url:
        return EndpointSampler(base_url, api_key=api_key)
    return LocalSampler(Path(os.environ.get("OPENRFT_HOME", ".openrft")))


def _answered(work: Coroutine[Any, Any, T], base_url: str | None) -> T:
    """Run `work`; a model server that cannot be reached, or refuses, is one line (exit 2)."""
    import openai

    try:
        return asyncio.run(work)
    except openai.APIConnectionError as exc:
        raise InvalidRequestError(f"cannot reach the model server at {base_url}: {exc}") from None
    except openai.APIStatusError as exc:
        where = base_url or "the local models"
        raise InvalidRequestError(
            f"the model server at {where} answered {exc.status_code}: {exc.message}"
        ) from None


def _params(
    samples: int, temperature: float, max_tokens: int | None, seed: int | None
) -> SamplingParams:
    return SamplingParams(n=samples, temperature=temperature, max_tokens=max_tokens, seed=seed)


async def _evaluate_all(
    models: list[str],
    rows: list[dict[str, Any]],
    grader: AnyGrader,
    sampler: Sampler,
    params: SamplingParams,
) -> list[ModelEval]:
    try:
        return [await evaluate(model, rows, grader, sampler, params) for model in models]
    finally:
        await sampler.aclose()


def eval_command(
    model: Annotated[list[str], typer.Option("--model", "-m", help="Model to evaluate (repeat).")],
    data: DataOpt,
    grader: GraderOpt,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    samples: Samples = 1,
    temperature: Temperature = 1.0,
    max_tokens: Annotated[int | None, typer.Option(help="Completion token cap.")] = None,
    seed: Seed = None,
    report: Report = None,
) -> None:
    """Quality, cost and latency of each model, overall and per slice (row `tags`)."""
    spec = load_grader(grader)
    rows = validate_file(data, split="valid")
    params = _params(samples, temperature, max_tokens, seed)
    sampler = sampler_for(base_url, api_key)
    results = _answered(_evaluate_all(model, rows, spec, sampler, params), base_url)
    console.print(views.eval_table(results, views.measured(len(rows), display_name(spec), params)))
    paths = views.write_eval(report or Path("reports/eval"), results)
    console.print(f"report: {paths[0]} (data: {paths[1]})")
    unscored = [r for r in results if not r.scored]
    for result in unscored:
        err_console.print(
            f"openrft: error: no score for {result.model}: {result.no_score()}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    if unscored:
        raise typer.Exit(1)


def gate_command(
    candidate: Annotated[str, typer.Option(help="Model that would be rolled out.")],
    baseline: Annotated[str, typer.Option(help="Model it would replace (or the base model).")],
    data: DataOpt,
    grader: GraderOpt,
    min_gain: Annotated[float, typer.Option(help="Least mean-reward gain required.")] = 0.0,
    slice_tolerance: Annotated[float, typer.Option(help="Largest drop allowed on a slice.")] = 0.05,
    max_latency_p95: Annotated[
        float | None, typer.Option(help="Slowest p95 answer latency allowed, in seconds.")
    ] = None,
    max_tokens_per_item: Annotated[
        float | None, typer.Option(help="Most prompt + completion tokens per item allowed.")
    ] = None,
    max_cost_ratio: Annotated[
        float | None, typer.Option(help="Most candidate / baseline tokens per item allowed.")
    ] = None,
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    samples: Samples = 1,
    temperature: Temperature = 1.0,
    seed: Seed = None,
    report: Report = None,
) -> None:
    """Exit 0 when the candidate may replace the baseline, 1 when it may not."""
    spec = load_grader(grader)
    rows = validate_file(data, split="valid")
    params = _params(samples, temperature, None, seed)
    sampler = sampler_for(base_url, api_key)
    evaluated = _evaluate_all([baseline, candidate], rows, spec, sampler, params)
    base, cand = _answered(evaluated, base_url)
    limits = gate_mod.Thresholds(
        min_gain, slice_tolerance, max_latency_p95, max_tokens_per_item, max_cost_ratio
    )
    verdict = gate_mod.gate(cand, base, limits)
    console.print(views.gate_table(verdict))
    paths = views.write_gate(report or Path("reports/gate"), verdict, [base, cand])
    console.print(f"report: {paths[0]}")
    raise typer.Exit(0 if verdict.passed else 1)


def readiness_command(
    data: DataOpt,
    valid: Annotated[Path, typer.Option(help="Validation rows (JSONL).")],
    grader: GraderOpt,
    model: Annotated[str, typer.Option("--model", "-m", help="The base model to fine-tune.")],
    base_url: BaseUrl = None,
    api_key: ApiKey = None,
    samples: Annotated[int, typer.Option(help="Samples per prompt (pass@k, signal).")] = 4,
    temperature: Temperature = 1.0,
    seed: Seed = None,
    report: Report = None,
) -> None:
    """The go / no-go checklist; exit 0 for go, 1 for no-go."""
    grader_data = load_json_file(grader)
    params = _params(samples, temperature, None, seed)
    sampler = sampler_for(base_url, api_key)

    async def run() -> readiness_mod.Readiness:
        try:
            return await readiness_mod.check(data, valid, grader_data, model, sampler, params)
        finally:
            await sampler.aclose()

    result = _answered(run(), base_url)
    console.print(views.readiness_table(result))
    paths = views.write_readiness(report or Path("reports/readiness"), result)
    console.print(f"report: {paths[0]}")
    raise typer.Exit(0 if result.decision == "go" else 1)


def audit_command(
    grader: GraderOpt,
    data: DataOpt,
    report: Report = None,
) -> None:
    """Red-team the grader with degenerate answers; exit 1 when one earns much reward."""
    spec = load_grader(grader)
    rows = validate_file(data)
    result = audit_mod.audit(spec, rows)
    table = Table(title=f"audit of {result.grader} on {result.rows} rows")
    for column in ("probe", "rows", "mean reward", "pass rate", "verdict"):
        table.add_column(column)
    for probe in result.probes:
        mark = f"[red]{probe.severity}[/red]" if probe.flagged else "[green]ok[/green]"
        table.add_row(
            probe.name, str(probe.rows), f"{probe.mean_reward:.3f}", f"{probe.pass_rate:.0%}", mark
        )
    console.print(table)
    for probe in result.flagged:
        console.print(f"[red]•[/red] {probe.name}: {probe.message}")
    paths = views.write_audit(report or Path("reports/audit"), result)
    console.print(f"report: {paths[0]}")
    raise typer.Exit(1 if any(p.severity == "error" for p in result.flagged) else 0)
