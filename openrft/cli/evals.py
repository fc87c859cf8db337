"""`openrft eval | gate | readiness | audit`: the evaluation discipline from the command line.

Each command prints a verdict and writes a self-contained HTML report with a JSON twin
(`--report PATH`, default `reports/<command>`). Answers come from `--base-url` (any
OpenAI-compatible server, e.g. `openrft serve`) or, without it, from models loaded in-process.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from openrft.cli.grade import load_grader
from openrft.cli.render import console, err_console, load_json_file
from openrft.cli.review import Reviews, reviews_at
from openrft.data.validate import validate_file
from openrft.errors import InvalidRequestError
from openrft.evals import audit as audit_mod
from openrft.evals import gate as gate_mod
from openrft.evals import readiness as readiness_mod
from openrft.evals import review as review_mod
from openrft.evals import views
from openrft.evals.compare import ModelEval, evaluate
from openrft.evals.review import ReviewCounts
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
    how = views.measured(len(rows), display_name(spec), params)
    console.print(views.eval_table(results, how))
    paths = views.write_eval(report or Path("reports/eval"), results, how)
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
    require_review: Annotated[
        int | None,
        typer.Option(help="Outputs a person must approve (none rejected) before a pass.", min=1),
    ] = None,
    review: Annotated[
        str | None, typer.Option(help="The review to count (default: the pair's latest).")
    ] = None,
    review_samples: Annotated[
        int, typer.Option(help="Outputs per slice put up for review when one is created.", min=1)
    ] = 3,
    review_url: Annotated[
        str | None,
        typer.Option(
            envvar="OPENRFT_REVIEW_URL",
            help="openrft server keeping reviews (default --base-url; `home`: local).",
        ),
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
    limits = gate_mod.Thresholds(
        min_gain, slice_tolerance, max_latency_p95, max_tokens_per_item, max_cost_ratio,
        require_review,
    )  # fmt: skip
    wanted = _Wanted(candidate, baseline, review, review_samples, review_url or base_url)
    run = _gate_run(wanted, limits, rows, spec, sampler, params, api_key)
    base, cand, found, created = _answered(run, base_url)
    counts = ReviewCounts.of(found) if found else None
    verdict = gate_mod.gate(cand, base, limits, counts)
    console.print(views.gate_table(verdict))
    how = views.measured(len(rows), display_name(spec), params)
    paths = views.write_gate(report or Path("reports/gate"), verdict, [base, cand], how)
    console.print(f"report: {paths[0]}")
    if found and (created or not verdict.passed) and counts and counts.pending:
        console.print(
            f"review {found['id']}: {counts.pending} outputs await a person: "
            f"`openrft review list {found['id']}`, `openrft review show ITEM`, "
            "`openrft review approve ITEM` or `openrft review reject ITEM --note WHY`",
            highlight=False, markup=False, soft_wrap=True,
        )  # fmt: skip
    raise typer.Exit(0 if verdict.passed else 1)


@dataclass
class _Wanted:
    """What the gate's human review is about and where it is kept."""

    candidate: str
    baseline: str
    review: str | None
    per_slice: int
    url: str | None


async def _gate_run(
    wanted: _Wanted,
    limits: gate_mod.Thresholds,
    rows: list[dict[str, Any]],
    spec: AnyGrader,
    sampler: Sampler,
    params: SamplingParams,
    api_key: str | None,
) -> tuple[ModelEval, ModelEval, dict[str, Any] | None, bool]:
    """Both models evaluated; with a review required, the pair's review (created, with fresh
    outputs per slice, when there is none yet)."""
    try:
        base = await evaluate(wanted.baseline, rows, spec, sampler, params)
        cand = await evaluate(wanted.candidate, rows, spec, sampler, params)
        if limits.require_review is None:
            return base, cand, None, False
        store = reviews_at(wanted.url, api_key)
        found = _pair_review(store, wanted)
        if found is not None:
            return base, cand, found, False
        slices = {name for row in rows for name in review_mod.slices_of(row)}
        per_slice = max(wanted.per_slice, -(-limits.require_review // max(1, len(slices))))
        picks = review_mod.pick(rows, per_slice, params.seed or 0)
        body = await review_mod.sample_pairs(
            wanted.candidate, wanted.baseline, rows, picks, spec, sampler, params
        )
        return base, cand, store.create(body), True
    finally:
        await sampler.aclose()


def _pair_review(store: Reviews, wanted: _Wanted) -> dict[str, Any] | None:
    """The named review (it must be of this pair), else the pair's latest, else None."""
    if wanted.review is None:
        found = store.reviews(wanted.candidate, wanted.baseline)
        return found[0] if found else None
    named = store.review(wanted.review)
    if (named["candidate"], named["baseline"]) != (wanted.candidate, wanted.baseline):
        raise InvalidRequestError(
            f"review {wanted.review} is of {named['candidate']} vs {named['baseline']}, "
            f"not {wanted.candidate} vs {wanted.baseline}"
        )
    return named


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
    judge_check: Annotated[
        Path | None, typer.Option(help="A `judge-check` report (.json) for the grader's judge.")
    ] = None,
    min_judge_rho: Annotated[float, typer.Option(help="Least judge–people Spearman ρ.")] = 0.8,
    min_judge_samples: Annotated[
        int, typer.Option(help="Least labelled samples for the judge's ρ to count.")
    ] = 50,
) -> None:
    """The go / no-go checklist; exit 0 for go, 1 for no-go."""
    grader_data = load_json_file(grader)
    agreement = load_json_file(judge_check) if judge_check is not None else None
    rule = readiness_mod.JudgeRule(min_judge_rho, min_judge_samples)
    params = _params(samples, temperature, None, seed)
    sampler = sampler_for(base_url, api_key)

    async def run() -> readiness_mod.Readiness:
        try:
            return await readiness_mod.check(
                data, valid, grader_data, model, sampler, params,
                judge_check=agreement, judge_rule=rule,
            )  # fmt: skip
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
