"""Fine-tuned model ids (decision J4): `ft:{base}:{org}:{suffix}:{8 chars}`."""

from __future__ import annotations

import hashlib
from pathlib import PurePath


def model_id(base: str, org: str | None, suffix: str | None, job_id: str) -> str:
    """The id a finished job's model is served under; the same job always gets the same id.

    Colons in the base name (a hub id never has one, a path might) become dashes so the id
    still splits into its five parts."""
    tag = hashlib.sha256(job_id.encode()).hexdigest()[:8]
    parts = [base.replace(":", "-"), org or "openrft", (suffix or "").replace(":", "-"), tag]
    return "ft:" + ":".join(parts)


def fine_tuned_name(model: str, org: str | None, suffix: str | None, job_id: str) -> str:
    """A job's one model name, from the model it names (`base_model_of`), never from the
    weights that name resolved to: the server's jobs and `openrft train`'s agree."""
    return model_id(base_model_of(model), org, suffix, job_id)


def base_model_of(model: str) -> str:
    """The base model a job's model names: the model itself, or, for an `ft:` model or one of
    its checkpoints, the base in its id (OpenAI's ft names keep the original base model).
    A local directory (the CLI, an operator's model) is named by its last part, never its path."""
    if model.startswith("ft:"):
        return model.split(":")[1]
    return PurePath(model).name if model.startswith(("/", ".", "~")) else model


def checkpoint_id(model: str, step: int) -> str:
    """A kept checkpoint's servable id (J3)."""
    return f"{model}:ckpt-step-{step}"
