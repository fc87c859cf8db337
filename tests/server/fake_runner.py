"""A scripted stand-in for `openrft.train.runner` (the same `run_job(JobSpec) -> JobOutcome`),
run in the job child via `OPENRFT_JOB_RUNNER=tests.server.fake_runner`. No torch: each step
sleeps `FAKE_STEP_SECONDS`, emits a metrics event and writes a checkpoint directory. Like the
trainer, it reports its outcome and leaves the final events to the child.

`FAKE_STEPS` (default 4) sets the steps; `FAKE_CRASH_AT` kills the process (exit 3, once per
job) before that step; `FAKE_RAISE_AT` raises there instead; `FAKE_DUCK=1` returns the
outcome as a plain dict (not the contract's `JobOutcome`). It writes the spec it was given to
`spec-seen.json` in the workdir (and its `CUDA_VISIBLE_DEVICES`, or `-`, to `gpus-seen.txt`); it resumes from the newest checkpoint directory in the workdir. Like the
trainer, it reports the kept checkpoints (the newest 3) to `on_checkpoint` before it emits
"Checkpoint created at step N"; `FAKE_RETAIN=1` also deletes the directories it no longer keeps.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from openrft.train.naming import checkpoint_id
from openrft.train.outcome import JobOutcome, KeptCheckpoint, Status
from openrft.train.spec import JobSpec


def _done_steps(workdir: Path) -> list[int]:
    return sorted(int(path.name[5:]) for path in workdir.glob("step-*") if (path / "ok").exists())


def _checkpoints(workdir: Path, name: str) -> list[KeptCheckpoint]:
    steps = _done_steps(workdir)[-3:]
    return [{"step": step, "path": str(workdir / f"step-{step}"), "model_name":
             checkpoint_id(name, step), "metrics": {"train_reward_mean": step / 10}}
            for step in steps]  # fmt: skip


def _outcome(status: Status, workdir: Path, name: str) -> JobOutcome:
    ckpts = _checkpoints(workdir, name)
    done = _done_steps(workdir)
    return JobOutcome(
        status=status,
        step=done[-1] if done else 0,
        resolved_hyperparameters={"batch_size": 2, "n_epochs": 1, "learning_rate_multiplier": 1.0},
        checkpoints=ckpts,
        fine_tuned_model_path=ckpts[-1]["path"] if ckpts else None,
        trained_tokens=123,
    )


def _answers(spec: JobSpec, step: int) -> list[tuple[dict[str, Any], Any, Any, int]]:
    """Each validation row answered with `step` as text, graded 1.0 when that is the row's
    `answer` (the trainer's `ValidationHook` shape)."""
    from openrft.graders import GradeResult, Sample

    rows = spec.validation_rows or spec.training_rows
    return [(row, Sample(str(step)), GradeResult(float(row.get("answer") == str(step))), 1)
            for row in rows]  # fmt: skip


def run_job(
    spec: JobSpec,
    *,
    workdir: Path,
    home: Path,
    events: Any,
    control: Any = None,
    on_validation: Any = None,
    on_checkpoint: Any = None,
) -> JobOutcome:
    total = int(os.environ.get("FAKE_STEPS", "4"))
    crash_at = int(os.environ.get("FAKE_CRASH_AT", "0"))
    pause = float(os.environ.get("FAKE_STEP_SECONDS", "0.05"))
    (workdir / "spec-seen.json").write_text(spec.model_dump_json(exclude_unset=True))
    if spec.settings.eval_grader is not None:  # a dumped spec shows its header values masked
        seen = spec.settings.eval_grader.model_dump_json(exclude_none=True)
        (workdir / "eval-grader-seen.json").write_text(seen)
    (workdir / "gpus-seen.txt").write_text(os.environ.get("CUDA_VISIBLE_DEVICES", "-"))
    done = _done_steps(workdir)
    for step in range((done[-1] if done else 0) + 1, total + 1):
        verdict = control.check() if control is not None else None
        if verdict is not None:
            stopped: Status = "paused" if verdict == "pause" else "cancelled"
            return _outcome(stopped, workdir, spec.model_name)
        marker = workdir / "crashed"
        if step == crash_at and not marker.exists():
            marker.write_text("1")
            os._exit(3)
        if step == int(os.environ.get("FAKE_RAISE_AT", "0")):
            raise RuntimeError(f"boom at step {step}")
        time.sleep(pause)
        data = {"step": step, "total_steps": total, "train_mean_reward": step / 10}
        events.emit("metrics", "info", f"Step {step}/{total}", data, step)
        if on_validation is not None:
            on_validation(step, _answers(spec, step))
        ckpt = workdir / f"step-{step}"
        ckpt.mkdir(exist_ok=True)
        (ckpt / "rows.json").write_text(json.dumps(len(spec.training_rows)))
        (ckpt / "settings.json").write_text(spec.settings.model_dump_json(exclude_unset=True))
        (ckpt / "model.txt").write_text(spec.model)
        (ckpt / "ok").write_text("1")
        _retain(workdir, spec.model_name, on_checkpoint)
        events.emit("message", "info", f"Checkpoint created at step {step}", None, step)
    outcome = _outcome("succeeded", workdir, spec.model_name)
    return outcome.model_dump() if os.environ.get("FAKE_DUCK") == "1" else outcome  # type: ignore[return-value]


def _retain(workdir: Path, name: str, on_checkpoint: Any) -> None:
    kept = _checkpoints(workdir, name)
    if os.environ.get("FAKE_RETAIN") == "1":
        for step in set(_done_steps(workdir)) - {ckpt["step"] for ckpt in kept}:
            shutil.rmtree(workdir / f"step-{step}")
    if on_checkpoint is not None:
        on_checkpoint(kept)
