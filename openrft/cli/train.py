"""`openrft train JOB.json`: run one RFT job here, without the server, on the worker's code path.

JOB.json is OpenAI's create body with file paths (relative to JOB.json) for `training_file`
and `validation_file`, plus optional `settings` (LoRA rank, device, ...). The job's workdir
is `HOME/jobs/<id>`, the id is fixed by the file's path (or its `id`), so running the same
command again after a crash or Ctrl-C resumes from the last checkpoint.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from openrft.cli.render import console, err_console, load_json_file
from openrft.errors import DataFileError, InvalidRequestError

_CREATE_KEYS = {"model", "training_file", "validation_file", "method", "seed", "suffix", "id"}
_CREATE_KEYS |= {"settings", "metadata", "integrations", "hyperparameters"}


def load_job(path: Path) -> Any:
    """The `JobSpec` for a job file: rows read and checked, ids and defaults filled in."""
    from openrft.data.validate import validate_file
    from openrft.train.spec import JobSpec, TrainSettings

    body = load_json_file(path)
    if not isinstance(body, dict) or "training_file" not in body:
        raise DataFileError("a job file is an object with `training_file`", path=str(path))
    unknown = set(body) - _CREATE_KEYS
    if unknown:
        raise InvalidRequestError(f"{path}: unknown field(s) {sorted(unknown)}", param=min(unknown))
    base = path.parent
    valid = body.get("validation_file")
    job_id = (
        body.get("id") or "ftjob-" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    )
    return JobSpec(
        id=job_id,
        model=body.get("model", "openrft-tiny"),
        training_rows=list(validate_file(base / body["training_file"], split="train")),
        validation_rows=list(validate_file(base / valid, split="valid")) if valid else None,
        method=body["method"],
        seed=body.get("seed") or 0,
        suffix=body.get("suffix"),
        settings=TrainSettings.model_validate(body.get("settings") or {}),
    )


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
    root = home or Path(os.environ.get("OPENRFT_HOME", ".openrft"))
    spec = load_job(job)
    from transformers.utils import logging as hf_logging

    from openrft.train.naming import model_id
    from openrft.train.runner import run_job

    hf_logging.disable_progress_bar()
    columns = (
        TextColumn("step"),
        MofNCompleteColumn(),
        BarColumn(),
        TextColumn("reward {task.fields[reward]}  valid {task.fields[valid]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console) as progress:
        outcome = run_job(
            spec, workdir=root / "jobs" / spec.id, home=root, events=ProgressSink(progress)
        )
    _report(outcome, model_id(spec.model, spec.org, spec.suffix, spec.id))


def _report(outcome: Any, name: str) -> None:
    table = Table(show_header=False, box=None)
    table.add_row("status", outcome.status)
    if outcome.status == "succeeded":
        table.add_row("model", name)
        table.add_row("weights", str(outcome.fine_tuned_model_path))
    for checkpoint in outcome.checkpoints:
        reward = checkpoint["metrics"].get("valid_reward_mean")
        table.add_row(
            f"checkpoint {checkpoint['step']}", f"valid reward {reward}  {checkpoint['path']}"
        )
    console.print(table)
    if outcome.error:
        err_console.print(f"openrft: error: {outcome.error['code']}: {outcome.error['message']}")
        raise typer.Exit(1)
