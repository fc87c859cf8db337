"""Fine-tuned model ids (decision J4): `ft:{base}:{org}:{suffix}:{8 chars}`."""

from __future__ import annotations

import hashlib


def model_id(base: str, org: str | None, suffix: str | None, job_id: str) -> str:
    """The id a finished job's model is served under; the same job always gets the same id.

    Colons in the base name (a hub id never has one, a path might) become dashes so the id
    still splits into its five parts."""
    tag = hashlib.sha256(job_id.encode()).hexdigest()[:8]
    parts = [base.replace(":", "-"), org or "openrft", (suffix or "").replace(":", "-"), tag]
    return "ft:" + ":".join(parts)


def checkpoint_id(model: str, step: int) -> str:
    """A kept checkpoint's servable id (J3)."""
    return f"{model}:ckpt-step-{step}"
