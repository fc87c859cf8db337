"""`openrft demo`: the main job on the embedded default — the whole loop, live, then a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from openrft.cli.agent_demo import agent_demo
from openrft.cli.render import console, say_progress
from openrft.demo.run import DemoResult, DemoSettings, run_demo
from openrft.demo.tasks import TASKS
from openrft.errors import InvalidRequestError
from openrft.evals import charts, views
from openrft.evals import report as html
from openrft.evals.measures import label


def demo_command(
    home: Annotated[Path, typer.Option(help="Fresh OPENRFT_HOME for the demo's server.")] = Path(
        ".openrft/demo"
    ),
    report: Annotated[Path, typer.Option(help="Report path (.html and .json).")] = Path(
        "reports/demo"
    ),
    n_epochs: Annotated[
        int | None, typer.Option(help="Passes over the training rows (default: the task's).")
    ] = None,
    model: Annotated[
        str, typer.Option(help="Base model: openrft-tiny or smollm2-135m-instruct.")
    ] = "openrft-tiny",
    agent: Annotated[
        bool,
        typer.Option(
            "--agent",
            help="The loop for an agent: a task that needs a tool, with a tool server and an "
            "endpoint grader on loopback; trains openrft-tiny-agent.",
        ),
    ] = False,
) -> None:
    """Run the whole RFT loop on a base model through a local server and the openai SDK."""
    if agent:
        return agent_demo(home.resolve(), n_epochs)
    if model not in TASKS:
        raise InvalidRequestError(
            f"the demo has a task for {', '.join(TASKS)}, not {model!r}", param="model"
        )
    console.print(f"[bold]openrft demo[/bold]: {TASKS[model].headline}")
    settings = DemoSettings.for_task(TASKS[model], home.resolve(), n_epochs)
    result = run_demo(settings, say_progress)
    console.print(_summary(result, settings))
    paths = write_demo_report(report, result)
    console.print(f"report: {paths[0]} (data: {paths[1]})")


def _summary(result: DemoResult, settings: DemoSettings) -> Table:
    """Every number beside what it measures: which rows, how many answers, sampled how. The
    labels of the numbers are the registry's (`openrft.evals.measures`)."""
    assert result.baseline and result.tuned and result.verdict
    base, tuned = result.baseline.overall.mean_reward, result.tuned.overall.mean_reward
    valid, k = settings.valid_rows, settings.eval_samples
    compared = f"{valid} valid rows × {k}, T=1, seed {settings.seed}"
    title = f"openrft demo: {result.job['fine_tuned_model']}"
    demo = settings.task
    table = Table(
        title=title, min_width=60, caption=_CAPTION.format(demo.grader["name"], demo.reward)
    )
    table.add_column("")
    table.add_column("measured on")
    table.add_column("value", justify="right")
    steps = str(result.curve[-1]["step"] if result.curve else "?")
    table.add_row("training steps", f"{settings.batch_size} prompts each", steps)
    table.add_row("checkpoints kept", "", str(len(result.checkpoints)))
    if len(runs := result.validation_runs) >= 2:
        first, last = runs[0], runs[-1]
        table.add_row(
            f"{label('validation_runs[].passed')}, step {first['step']} → {last['step']}",
            f"{valid} valid rows × 1, T=1",
            f"{first['passed']}/{first['total']} → {last['passed']}/{last['total']}",
        )
    table.add_row(f"{label('mean_reward')}, base model", compared, f"{base:.3f}")
    table.add_row(f"{label('mean_reward')}, fine-tuned", compared, f"{tuned:.3f}")
    table.add_row(label("gain"), "fine-tuned − base", f"{tuned - base:+.3f}")
    pass_k = f"{result.baseline.pass_at_k:.3f} → {result.tuned.pass_at_k:.3f}"
    pass_at = label("pass_at_k").removesuffix("k") + str(k)
    table.add_row(f"{pass_at}, base → fine-tuned", "rows with an exact answer", pass_k)
    gate = "PASS" if result.verdict.passed else "FAIL"
    table.add_row("rollout gate", "gain ≥ 0.1, slices ≥ −0.05", gate)
    table.add_row(f"chat: {result.chat['prompt']}", "fine-tuned, greedy", result.chat["answer"])
    table.add_row("wall time", "the whole demo", f"{result.seconds:.0f} s")
    return table


_CAPTION = "reward: grader {} ({}); T=1: answers sampled at temperature 1; greedy: temperature 0"


def reward_curves(result: DemoResult) -> str:
    """Train and validation reward per step; validation starts at the step-0 baseline."""
    train = [(p["step"], p["train"]) for p in result.curve if p["train"] is not None]
    valid = [(p["step"], p["valid"]) for p in result.curve if p["valid"] is not None]
    if result.baseline_valid is not None and not (valid and valid[0][0] == 0):
        valid.insert(0, (0, result.baseline_valid))
    return charts.lines("mean reward per step", {"train": train, "validation": valid})


def write_demo_report(path: Path, result: DemoResult) -> tuple[Path, Path]:
    sections = [("Reward curves", reward_curves(result))]
    if result.verdict:
        sections.append(("Gate", views.gate_checks(result.verdict)))
    evaluated = [m for m in (result.baseline, result.tuned) if m is not None]
    sections += views.eval_sections(evaluated, result.measured)
    sections.append(("Checkpoints", html.table([
        {"step": c["step_number"], "model": c["fine_tuned_model_checkpoint"],
         "valid reward": (c.get("metrics") or {}).get("full_valid_mean_reward")}
        for c in result.checkpoints])))  # fmt: skip
    sections.append(("Validation runs (the job's eval)", html.table(result.validation_runs)))
    sections.append(("Chat", html.table([result.chat])))
    data = {
        "measured": result.measured, "job": result.job, "curve": result.curve,
        "baseline_valid": result.baseline_valid,
        "checkpoints": result.checkpoints,
        "validation_runs": result.validation_runs, "models": [m.to_dict() for m in evaluated],
        "gate": result.verdict.to_dict() if result.verdict else None,
        "chat": result.chat, "grader_try": result.grader_try, "seconds": result.seconds,
    }  # fmt: skip
    headline = views.gate_headline(result.verdict) if result.verdict else None
    return html.write_report(path, "openrft demo", sections, data, headline=headline)
