"""Writing a finished attempt's `JobOutcome` into the store (the child calls this).

Checkpoints are recorded first (they are complete: the trainer reports only verified ones),
then the final status, as a compare-and-set from `running`: if the API paused or cancelled
the job meanwhile, that state stands and only the checkpoints are kept.
"""

from __future__ import annotations

import time
from pathlib import PurePath
from typing import Any

from openrft.jobs.events import EventStore
from openrft.jobs.models import org_for
from openrft.jobs.store import JobStore
from openrft.train.naming import model_id

__all__ = ["base_model_of", "fine_tuned_name", "record_checkpoints", "record_outcome"]


def fine_tuned_name(job: Any) -> str:
    """`ft:{base}:{org}:{suffix}:{8 chars}` (J4): the job's one model name, computed when an
    attempt starts and carried to the trainer, so its events, the checkpoints and the job row
    all say the same name. Never a path: the base is a model's name (`base_model_of`)."""
    return model_id(base_model_of(job["model"]), org_for(job["project"]), job["suffix"], job["id"])


def base_model_of(model: str) -> str:
    """The base model a job's model names: the model itself, or, for an `ft:` model or one of
    its checkpoints, the base in its id (OpenAI's ft names keep the original base model).
    A local directory (the CLI, an operator's model) is named by its last part, never its path."""
    if model.startswith("ft:"):
        return model.split(":")[1]
    return PurePath(model).name if model.startswith(("/", ".", "~")) else model


def _get(obj: Any, key: str, default: Any = None) -> Any:
    return obj.get(key, default) if isinstance(obj, dict) else getattr(obj, key, default)


def record_checkpoints(
    events: EventStore, job_id: str, ft_name: str, kept: list[Any] | None
) -> None:
    """Make the job's checkpoint rows the trainer's kept ones; None (a crash that could not
    say) leaves the rows as the last report left them."""
    if kept is None:
        return
    steps = set()
    for ckpt in kept:
        step = int(_get(ckpt, "step"))
        # Named from the job's own model id, so `{fine_tuned_model}:ckpt-step-{N}` (J3) holds
        # even when the trainer saw a resolved path as its base model.
        name = f"{ft_name}:ckpt-step-{step}"
        metrics = dict(_get(ckpt, "metrics") or {})
        events.record_checkpoint(job_id, step, str(_get(ckpt, "path")), name, metrics)
        steps.add(step)
    events.forget_checkpoints(job_id, steps)


def _error(outcome: Any) -> dict[str, Any]:
    error = _get(outcome, "error")
    if isinstance(error, dict):
        return {"code": "training_error", "param": None, **error}
    return {"code": "training_error", "message": str(error or "training failed"), "param": None}


def record_outcome(
    jobs: JobStore, events: EventStore, job_id: str, outcome: Any, ft_name: str
) -> None:
    """Record `outcome` under `ft_name`, the name the trainer was given (`fine_tuned_name`)."""
    record_checkpoints(events, job_id, ft_name, _get(outcome, "checkpoints"))
    resolved = _get(outcome, "resolved_hyperparameters")
    jobs.update(job_id, resolved=resolved, trained_tokens=_get(outcome, "trained_tokens"))
    status, now = _get(outcome, "status"), int(time.time())
    if status == "succeeded":
        path = str(_get(outcome, "fine_tuned_model_path"))
        # One transaction: whoever sees `succeeded` also sees the model and both events.
        with jobs.db.tx():
            won = jobs.move(
                job_id,
                {"running"},
                "succeeded",
                fine_tuned_model=ft_name,
                fine_tuned_model_path=path,
                finished_at=now,
            )
            if won:
                # Keyed by the final step: the trainer emits the same two messages, and the
                # events table keeps one of each (m004).
                last = max(
                    (int(_get(c, "step")) for c in _get(outcome, "checkpoints") or []), default=0
                )
                events.add(job_id, f"New fine-tuned model created: {ft_name}", step=last)
                events.add(job_id, "The job has successfully completed", step=last)
    elif status == "failed":
        # The trainer emitted its own "Job failed" event (and "Job paused"/"Job cancelled").
        jobs.move(job_id, {"running"}, "failed", error=_error(outcome), finished_at=now)
