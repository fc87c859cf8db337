"""`openrft train JOB.json`: run one RFT job here, without the server, on the worker's code path.

JOB.json is OpenAI's create body with file paths (relative to JOB.json) for `training_file`
and `validation_file`, plus optional `settings` (LoRA rank, device, ...). The job's workdir
is `HOME/jobs/<id>`, the id is fixed by the file's path (or its `id`), so running the same
command again after a crash or Ctrl-C resumes from the last checkpoint; an edited file is
refused instead (`job_file.check_same_job`). Ctrl-C says what was kept and how to resume.

Under torchrun (`torchrun --nproc-per-node N -m openrft.cli train JOB.json`) every rank runs
the job on its share of each step (`openrft.train.distributed`); rank 0 alone draws the
progress, writes the events and checkpoints and prints the report.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from openrft.cli.job_file import check_same_job, default_home, load_job
from openrft.cli.render import Interrupted, console, err_console

if TYPE_CHECKING:
    from openrft.train.outcome import JobOutcome

__all__ = ["load_job", "train_command"]


class ProgressSink:
    """Draws step, train reward, latest validation reward and ETA from the metrics events."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.task = progress.add_task("training", total=None, reward="-", valid="-")

    def emit(self, type: str, level: str, message: str, data: Any = None, step: Any = None) -> None:
        if level == "error" and message.startswith("Job failed: "):
            return  # `_report` prints the job's error once, as the last line
        if type != "metrics" or not data:
            style = "dim" if level == "info" else "bold red"
            self.progress.console.print(f"[{style}]{message}[/{style}]", highlight=False)
            return
        update: dict[str, Any] = {"completed": data["step"], "total": data["total_steps"]}
        update["reward"] = f"{data['train_mean_reward']:.3f}"
        if data.get("full_valid_mean_reward") is not None:
            update["valid"] = f"{data['full_valid_mean_reward']:.3f}"
        self.progress.update(self.task, **update)


def train_command(
    job: Annotated[Path, typer.Argument(help="Job JSON: OpenAI's create body with file paths.")],
    home: Annotated[
        Path | None,
        typer.Option("--home", help="State root (default $OPENRFT_HOME or ./.openrft)."),
    ] = None,
) -> None:
    """Run an RFT job locally (resumes if it was interrupted)."""
    root = default_home(home)
    spec = load_job(job, root)
    workdir = root / "jobs" / spec.id
    if os.environ.get("RANK", "0") != "0":  # a torchrun rank besides 0: train, say nothing
        _follow(spec, workdir, root)
        return
    check_same_job(job, spec, workdir)
    from transformers.utils import logging as hf_logging

    from openrft.jobs.local import record_local_job
    from openrft.train.events import Journal
    from openrft.train.outcome import announce
    from openrft.train.runner import run_job

    hf_logging.disable_progress_bar()
    columns = (
        TextColumn("step"),
        MofNCompleteColumn(),
        BarColumn(),
        TextColumn("reward {task.fields[reward]}  valid {task.fields[valid]}"),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, console=err_console) as progress:
            sink = ProgressSink(progress)
            outcome = run_job(spec, workdir=workdir, home=root, events=sink)
            # The final events, once, into the job's journal (`record_local_job` copies it).
            announce(outcome, spec.model_name, Journal(workdir / "events.jsonl", sink))
    except KeyboardInterrupt:
        _interrupted(job, home, workdir)
    _report(outcome, record_local_job(root, spec, outcome))


def _follow(spec: Any, workdir: Path, root: Path) -> None:
    """Rank > 0's share of the job: rank 0 checks the file, reports and records the job."""
    from openrft.train.distributed import Silent
    from openrft.train.runner import run_job

    try:
        run_job(spec, workdir=workdir, home=root, events=Silent())
    except KeyboardInterrupt:
        raise Interrupted() from None


def _interrupted(job: Path, home: Path | None, workdir: Path) -> NoReturn:
    """Ctrl-C: say what was kept and the command that resumes from it; exit 130."""
    steps = sorted(
        (int(p.name[5:]), p)
        for p in (workdir / "checkpoints").glob("step-*")
        if p.name[5:].isdigit() and (p / "manifest.json").exists()
    )
    if steps:
        kept = f"kept: checkpoint step {steps[-1][0]} at {steps[-1][1]}"
    else:
        kept = "kept: nothing yet (no checkpoint was written); a re-run starts from step 0"
    again = f"openrft train {job}" + (f" --home {home}" if home is not None else "")
    _line(f"openrft: interrupted; {kept}", stderr=True)
    _line(f"resume with: {again}", stderr=True)
    raise Interrupted()


def _line(text: str, *, stderr: bool = False) -> None:
    """One line never wrapped or cut by rich (paths and names must stay copyable)."""
    out = err_console if stderr else console
    out.print(text, soft_wrap=True, highlight=False, markup=False)


def _report(outcome: JobOutcome, name: str) -> None:
    """The summary: short labelled lines; each path and name whole, on its own line."""
    _line(f"status: {outcome.status}")
    if outcome.status == "succeeded":
        _line("model:")
        _line(f"  {name}")
        _line("weights:")
        _line(f"  {outcome.fine_tuned_model_path}")
    for checkpoint in outcome.checkpoints or []:
        reward = checkpoint["metrics"].get("valid_reward_mean")
        shown = "-" if reward is None else f"{reward:.3f}"
        _line(f"checkpoint step {checkpoint['step']} (valid reward {shown}):")
        _line(f"  {checkpoint['path']}")
    if outcome.error:
        _line(f"openrft: error: {outcome.error['code']}: {outcome.error['message']}", stderr=True)
        raise typer.Exit(1)
