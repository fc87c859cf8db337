"""`openrft demo --agent`: the agent's loop, live, then what it measured and one episode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from openrft.cli.render import console, say_progress


def agent_demo(home: Path, n_epochs: int | None) -> None:
    from openrft.demo.agent import AgentSettings, run_agent_demo

    console.print(
        "[bold]openrft demo --agent[/bold]: what is the code of an item? Only the tool "
        "`lookup()` knows. The warm-started model asks it some of the time and answers "
        "what it got some of that; an endpoint grader scores the episodes."
    )
    settings = AgentSettings(home=home)
    if n_epochs:
        settings.n_epochs = n_epochs
    result = run_agent_demo(settings, say_progress)
    console.print(summary(result, settings))
    for loop in result.loops.get("fine-tuned", [])[:2]:
        console.print(f"  fine-tuned, item {loop['key']}: " + " → ".join(
            [*loop["calls"], f"answer {loop['answer']!r}"]), highlight=False)  # fmt: skip


def summary(result: Any, settings: Any) -> Table:
    """Every number beside what it measures."""
    table = Table(title=f"openrft demo --agent: {result.job.get('fine_tuned_model')}", min_width=60)
    table.add_column("")
    table.add_column("measured on")
    table.add_column("value", justify="right")
    before, after = result.valid_before, result.valid_after
    valid = f"{settings.valid_rows} valid rows × 1 episode, T=1"
    table.add_row("validation reward, before → after", valid, f"{_num(before)} → {_num(after)}")
    steps = str(result.curve[-1]["step"]) if result.curve else "?"
    table.add_row("training steps", f"{settings.batch_size} prompts each", steps)
    rows = len(result.loops.get("base", []))
    for which in ("base", "fine-tuned"):
        table.add_row(f"SDK tool loop, {which}: right answers", f"{rows} valid rows, greedy",
                      f"{result.right(which)}/{rows}")  # fmt: skip
    table.add_row("tool calls answered", "the demo's tool server", str(result.tool_calls))
    table.add_row("wall time", "the whole demo", f"{result.seconds:.0f} s")
    return table


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:.3f}"
