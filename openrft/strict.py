"""The base of every pydantic model openrft accepts from outside: request bodies, job specs,
grader JSON, eval data sources.

Unknown fields are errors, so a misspelt field is a 400 (or a CLI message) that names it
instead of a silently ignored setting. This module imports nothing of openrft's: any layer may
build on it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Strict"]


class Strict(BaseModel):
    """A model that rejects fields it does not declare (`extra="forbid"`)."""

    model_config = ConfigDict(extra="forbid")
