"""Writing a finished attempt's `JobOutcome` into the store (the child calls this).

Checkpoints are recorded first (they are complete: the trainer reports only verified ones),
then the final status, as a compare-and-set from `running`: if the API paused or cancelled
the job meanwhile, that state stands and only the checkpoints are kept.
"""

from __future__ import annotations

import time
from typing import Any

from openrft.jobs.events import EventStore
from openrft.jobs.models import org_for
from openrft.jobs.store import JobStore

__all__ = ["fine_tuned_name", "record_checkpoints", "record_outcome"]


def fine_tuned_name(job: Any) -> str:
    """`ft:{base}:{org}:{suffix}:{8 chars}` (J4), by the trainer's naming function when it
    is installed (the two must agree: the trainer names checkpoint models the same way)."""
    args = (job["model"], org_for(job["project"]), job["suffix"], job["id"])
    try:
        from openrft.train.naming import model_id
    except ImportError:  # a runner without openrft.train (tests' scripted runner)
        base = job["model"].rstrip("/").rsplit("/", 1)[-1]
        return f"ft:{base}:{args[1]}:{args[2] or ''}:{job['id'][-8:]}"
    name: str = model_id(*args)
    return name


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


def record_outcome(jobs: JobStore, events: EventStore, job_id: str, outcome: Any) -> None:
    job = jobs.row(job_id)
    ft_name = fine_tuned_name(job)
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
