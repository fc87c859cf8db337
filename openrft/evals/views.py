"""How eval, gate, readiness and audit results look: rich tables and HTML reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openrft.evals import charts, measures
from openrft.evals import report as html
from openrft.evals.audit import AuditReport
from openrft.evals.compare import ModelEval
from openrft.evals.gate import Verdict
from openrft.evals.readiness import Readiness
from openrft.evals.sampling import SamplingParams
from openrft.evals.tables import FitTable


def _ci(interval: tuple[float, float] | None) -> str:
    return f"[{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "n/a"


_EVAL_KEYS = ("rows", "mean_reward", "reward_ci", "pass_rate", "pass_at_k",
              "prompt_tokens_per_item", "completion_tokens_per_item", "judge_tokens",
              "latency_p50_s", "latency_p95_s")  # fmt: skip
"""The eval table's columns, in order, each a measure in `openrft.evals.measures`."""


def _eval_values(r: ModelEval) -> dict[str, Any]:
    return {
        "rows": r.overall.rows,
        "mean_reward": r.overall.mean_reward if r.scored else "no score",
        "reward_ci": _ci(r.overall.reward_ci), "pass_rate": r.overall.pass_rate,
        "pass_at_k": r.pass_at_k, "prompt_tokens_per_item": r.prompt_tokens_per_item,
        "completion_tokens_per_item": r.completion_tokens_per_item,
        "judge_tokens": r.judge_tokens,
        "latency_p50_s": r.latency_p50_s, "latency_p95_s": r.latency_p95_s,
    }  # fmt: skip


def _column(key: str, r: ModelEval) -> str:
    return f"pass@{r.samples_per_row}" if key == "pass_at_k" else measures.label(key)


def eval_rows(results: list[ModelEval]) -> list[dict[str, Any]]:
    """One row per model; every column is labelled by the registry of measures."""
    rows = []
    for r in results:
        values = _eval_values(r)
        rows.append({"model": r.model, **{_column(k, r): values[k] for k in _EVAL_KEYS}})
    return rows


def _rich(title: str, rows: list[dict[str, Any]]) -> FitTable:
    """A console table laid out for the terminal's width (no cell cut to "…" at 80 columns)."""
    return FitTable(title, rows, prose=("detail",))


def eval_table(results: list[ModelEval], how: str = "") -> FitTable:
    """`how` says what was measured (rows, grader, how answers were drawn), as the title."""
    return _rich(f"evaluation: {how}" if how else "evaluation", eval_rows(results))


def measured(rows: int, grader: str, params: SamplingParams) -> str:
    """What an eval's numbers are over: `rows` rows × `n` answers, drawn how, graded by what."""
    drawn = "greedy" if params.temperature <= 0 else f"sampled at T={params.temperature:g}"
    seed = f", seed {params.seed} on every request" if params.seed is not None else ""
    answers = "answer" if params.n == 1 else "answers"
    return f"{rows} rows × {params.n} {answers} {drawn}{seed}, grader {grader}"


def slice_rows(results: list[ModelEval]) -> list[dict[str, Any]]:
    return [
        {"model": r.model, "slice": name, measures.label("rows"): s.rows,
         measures.label("mean_reward"): s.mean_reward,
         measures.label("reward_ci"): _ci(s.reward_ci), measures.label("pass_rate"): s.pass_rate}
        for r in results
        for name, s in r.slices.items()
    ]  # fmt: skip


def measures_section(how: str = "") -> tuple[str, str]:
    """What each column of the eval table measures (from the registry), under `how`."""
    over = f"<p>{html.esc(how)}</p>" if how else ""
    return ("What the numbers measure", over + html.table(measures.definitions(list(_EVAL_KEYS))))


def eval_sections(results: list[ModelEval], how: str = "") -> list[tuple[str, str]]:
    """Tables, then charts on one 0..1 reward scale, so bars compare across models and slices;
    last, what each number measures."""
    means = {r.model: r.overall.mean_reward for r in results}
    sections = [
        ("Overall", html.table(eval_rows(results)) + charts.bars("mean reward per model", means)),
        ("Slices (row tags)", html.table(slice_rows(results))),
    ]
    for r in results:
        if r.slices:
            by_slice = {name: s.mean_reward for name, s in r.slices.items()}
            chart = charts.bars("mean reward per slice", by_slice)
            sections.append((f"{r.model}: per slice", chart))
        rewards = [x for row in r.row_rewards for x in row]
        sections.append((f"{r.model}: score distribution", charts.histogram("rewards", rewards)))
    return [*sections, measures_section(how)]


def write_eval(path: Path, results: list[ModelEval], how: str = "") -> tuple[Path, Path]:
    """The report and its JSON; `how` (what the numbers are over) heads the measures section
    and is kept in the JSON as `measured`."""
    data = {"measured": how, "models": [r.to_dict() for r in results]}
    return html.write_report(path, "openrft eval", eval_sections(results, how), data)


def gate_table(verdict: Verdict) -> FitTable:
    rows = [{"check": c.name, "result": "pass" if c.passed else "FAIL", "detail": c.detail}
            for c in verdict.checks]  # fmt: skip
    word = "PASS" if verdict.passed else "FAIL"
    return _rich(f"gate: {verdict.candidate} vs {verdict.baseline} → {word}", rows)


def gate_rows(verdict: Verdict) -> list[dict[str, Any]]:
    return [{"check": c.name, "result": "pass" if c.passed else "FAIL", "detail": c.detail}
            for c in verdict.checks]  # fmt: skip


def gate_headline(verdict: Verdict) -> html.Headline:
    """The verdict as a headline (PASS — candidate X vs baseline Y) over the failed checks, or
    over the quality check when it passed."""
    word = "PASS" if verdict.passed else "FAIL"
    text = f"{word} — candidate {verdict.candidate} vs baseline {verdict.baseline}"
    quality = [c.detail for c in verdict.checks if c.name == "quality"]
    reasons = verdict.reasons if not verdict.passed else quality
    return html.Headline(text, "good" if verdict.passed else "bad", reasons)


def gate_checks(verdict: Verdict) -> str:
    return html.table(gate_rows(verdict), marks={"FAIL": "bad", "pass": "good"})


def write_gate(
    path: Path, verdict: Verdict, results: list[ModelEval], how: str = ""
) -> tuple[Path, Path]:
    sections = [("Checks", gate_checks(verdict)), *eval_sections(results, how)]
    data = {**verdict.to_dict(), "measured": how, "models": [r.to_dict() for r in results]}
    headline = gate_headline(verdict)
    return html.write_report(path, "openrft gate", sections, data, headline=headline)


def readiness_table(result: Readiness) -> FitTable:
    rows = [{"check": i.name, "status": i.status, "detail": i.detail} for i in result.items]
    return _rich(f"readiness: {result.decision.upper()}", rows)


def readiness_headline(result: Readiness) -> html.Headline:
    """ "GO — RFT is worth trying on MODEL" or "NO-GO — …", with the blocking checks below."""
    model = result.baseline.model if result.baseline else "this model"
    if result.decision == "go":
        return html.Headline(
            f"GO — RFT is worth trying on {model} with this data and grader", "good"
        )
    blocking = [f"{i.name}: {i.detail}" for i in result.items if i.status == "no-go"]
    text = f"NO-GO — fix {len(blocking)} blocking check(s) before RFT on {model}"
    return html.Headline(text, "bad", blocking)


def write_readiness(path: Path, result: Readiness) -> tuple[Path, Path]:
    rows = [{"check": i.name, "status": i.status, "detail": i.detail} for i in result.items]
    checks = html.table(rows, marks={"no-go": "bad", "go": "good", "warn": "warn"})
    sections = [("Checklist", checks)]
    if result.baseline:
        sections += eval_sections([result.baseline])
    headline = readiness_headline(result)
    return html.write_report(
        path, "openrft readiness", sections, result.to_dict(), headline=headline
    )


def write_audit(path: Path, result: AuditReport) -> tuple[Path, Path]:
    rows = [{"probe": p.name, "what": p.description, "rows": p.rows, "mean reward": p.mean_reward,
             "pass rate": p.pass_rate, "verdict": p.severity} for p in result.probes]  # fmt: skip
    means = {p.name: p.mean_reward for p in result.probes}
    sections = [
        ("Probes", html.table(rows, marks={"error": "bad", "warning": "bad", "ok": "good"})),
        (
            "Mean reward per probe",
            charts.bars("mean reward", means, scale=(0.0, result.top_reward)),
        ),
    ]
    return html.write_report(path, f"openrft audit: {result.grader}", sections, result.to_dict())
