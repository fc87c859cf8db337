"""What the serving engine reads from the server's settings, as a protocol.

`openrft.server.config.Settings` satisfies it; the engine depends on this shape, not on the
server package above it, so `serve/` imports nothing from `server/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

__all__ = ["ServeSettings"]


class ServeSettings(Protocol):
    home: Path
    """`OPENRFT_HOME`: where the default backend finds models and the store."""
    base_models: dict[str, str]
    """The base models requests may name (see `openrft.jobs.models.ModelCatalog`)."""
    batch_window_ms: float
    """How long the engine gathers concurrent chat requests into one batch."""
    max_batch: int
    """The most requests in one batch."""
    max_batch_tokens: int
    """The most estimated tokens (prompt and completion budget) in one batch."""
    max_queued_tokens: int
    """The most estimated tokens waiting for a batch; 0: no cap."""
    generation: str
    """"process" (generation in a child process) or "thread" (in this process)."""
