"""What `run_job` returns, and how the kept checkpoints are described to the job store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openrft.train.checkpoints import Checkpoint, CheckpointStore
from openrft.train.naming import checkpoint_id


@dataclass
class JobOutcome:
    status: str
    """"succeeded" | "failed" | "cancelled" | "paused"."""
    error: dict[str, Any] | None = None
    """`{code, message, param}` for a failed job."""
    resolved_hyperparameters: dict[str, Any] | None = None
    """OpenAI's seven keys with every "auto" resolved (J2)."""
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    """Kept checkpoints, oldest first: `{step, path, metrics, model_name}` (J3)."""
    fine_tuned_model_path: str | None = None
    """The final checkpoint (a succeeded job only); `load_model` serves it."""
    trained_tokens: int | None = None
    """Prompt and completion tokens that went through training forward passes."""


def build_outcome(
    status: str,
    store: CheckpointStore,
    *,
    model_name: str,
    error: dict[str, Any] | None = None,
    hyperparameters: dict[str, Any] | None = None,
    trained_tokens: int | None = None,
) -> JobOutcome:
    kept = store.verified()
    final = kept[-1] if kept and status == "succeeded" else None
    return JobOutcome(
        status=status,
        error=error,
        resolved_hyperparameters=hyperparameters,
        checkpoints=describe(kept, model_name),
        fine_tuned_model_path=str(final.path) if final else None,
        trained_tokens=trained_tokens,
    )


def describe(kept: list[Checkpoint], model_name: str) -> list[dict[str, Any]]:
    """Kept checkpoints as the job store records them (`JobOutcome.checkpoints`)."""
    return [
        {
            "step": c.step,
            "path": str(c.path),
            "metrics": c.metrics,
            "model_name": checkpoint_id(model_name, c.step),
        }
        for c in kept
    ]
