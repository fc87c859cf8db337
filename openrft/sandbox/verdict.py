"""A grading call's outcome, and the strict reader for what a sandbox sends back."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

RUNTIME_REASONS = frozenset(
    {"grader_exception", "invalid_return", "load_error", "timeout", "cpu_limit", "killed"}
    | {"crashed", "ambiguous_result", "output_too_large", "oom", "invalid_input"}
)
SERVER_REASONS = frozenset(
    {"sandbox_unavailable", "runtime_unavailable", "sandbox_start_failed", "sandbox_error"}
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A score, or why there is none (`reason` in RUNTIME_REASONS or SERVER_REASONS)."""

    score: float | None
    reason: str | None = None
    detail: str = ""

    @property
    def server_error(self) -> bool:
        return self.reason in SERVER_REASONS


def parse_verdict(line: bytes) -> Verdict | None:
    try:
        record = json.loads(line, parse_constant=_reject)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict):
        return None
    value = record.get("score")
    if set(record) == {"score"} and type(value) is float and math.isfinite(value):
        return Verdict(value)
    reason, detail = record.get("reason"), record.get("detail")
    if set(record) == {"reason", "detail"} and reason in RUNTIME_REASONS and type(detail) is str:
        return Verdict(None, reason, detail[:4000])
    return None


def _reject(constant: str) -> Any:
    raise ValueError(f"non-finite number {constant}")
