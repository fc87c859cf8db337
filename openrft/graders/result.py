"""What a grader returns: a reward plus OpenAI's error flags, never an exception.

`GradeResult` is the engine's internal value (cheap: most results carry no errors, no usage);
`run_response()` renders it as the exact `POST /fine_tuning/alpha/graders/run` body (decision G9).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The eleven boolean flags of `metadata.errors`, in OpenAI's order.
ERROR_FLAGS: tuple[str, ...] = (
    "formula_parse_error",
    "sample_parse_error",
    "truncated_observation_error",
    "unresponsive_reward_error",
    "invalid_variable_error",
    "other_error",
    "python_grader_server_error",
    "python_grader_runtime_error",
    "model_grader_server_error",
    "model_grader_refusal_error",
    "model_grader_parse_error",
)
#: The three string-or-null detail keys of `metadata.errors`.
ERROR_DETAILS: tuple[str, ...] = (
    "python_grader_server_error_type",
    "python_grader_runtime_error_details",
    "model_grader_server_error_details",
)
#: Detail keys of openrft's own grader types, shown in `metadata.errors` only when set.
EXTRA_DETAILS: tuple[str, ...] = ("endpoint_grader_error_details",)
#: The flags a training step's `metrics` event counts, one `*_count` each (OpenAI's event shape);
#: `openrft.train.metrics` writes them and `openrft.evals.measures` defines them.
EVENT_ERROR_FLAGS: tuple[str, ...] = (
    "other_error",
    "sample_parse_error",
    "invalid_variable_error",
    "python_grader_server_error",
    "python_grader_runtime_error",
    "model_grader_server_error",
    "unresponsive_reward_error",
)

Usage = dict[str, int]


@dataclass(slots=True)
class GradeResult:
    """One grade. `errors` holds only the flags (and details) that are set; None means clean."""

    reward: float
    errors: dict[str, Any] | None = None
    sub_rewards: dict[str, float] | None = None
    """Per sub-grader reward, keyed by the `multi.graders` map key (multi only)."""
    usage_per_model: dict[str, Usage] | None = None
    """Judge token usage keyed by the model name the judge reported."""
    sampled_model_name: str | None = None
    execution_time: float = 0.0
    """Seconds spent grading this sample."""
    label: str | None = None
    """The label a `label_model` judge chose (used by pass/fail in evals)."""
    detail: str | None = None
    """A human-readable reason for a failure that has no detail key of its own (logs, CLI)."""

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def token_usage(self) -> Usage | None:
        """Judge tokens summed over every model, or None when no model grader ran."""
        if not self.usage_per_model:
            return None
        return sum_usage(self.usage_per_model.values())


def failure(flag: str, detail_key: str | None = None, detail: str | None = None) -> GradeResult:
    """A reward of 0 with one flag set (and its detail, if the flag has one)."""
    errors: dict[str, Any] = {flag: True}
    if detail_key is not None:
        errors[detail_key] = detail
    return GradeResult(0.0, errors, detail=detail)


def merge_errors(into: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """Union of two flag sets; the first detail string seen for a key wins."""
    if not new:
        return into
    merged = dict(into or {})
    for key, value in new.items():
        merged.setdefault(key, value)
    return merged


def empty_usage() -> Usage:
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cached_tokens": 0}


def sum_usage(usages: Any) -> Usage:
    total = empty_usage()
    for usage in usages:
        for key in total:
            total[key] += int(usage.get(key) or 0)
    return total


def merge_usage(
    into: dict[str, Usage] | None, new: dict[str, Usage] | None
) -> dict[str, Usage] | None:
    if not new:
        return into
    merged = {model: dict(usage) for model, usage in (into or {}).items()}
    for model, usage in new.items():
        merged[model] = sum_usage([merged.get(model, empty_usage()), usage])
    return merged


def errors_block(errors: dict[str, Any] | None) -> dict[str, Any]:
    """All 14 keys of `metadata.errors`: the flags as booleans, the details as str or null;
    then an `EXTRA_DETAILS` key only when it is set (OpenAI's shape stays the 14 keys)."""
    errors = errors or {}
    block: dict[str, Any] = {flag: bool(errors.get(flag, False)) for flag in ERROR_FLAGS}
    for key in ERROR_DETAILS:
        block[key] = errors.get(key)
    block.update({key: errors[key] for key in EXTRA_DETAILS if errors.get(key) is not None})
    return block


def run_response(result: GradeResult, name: str, grader_type: str) -> dict[str, Any]:
    """The `graders/run` response body for one grade (decision G9)."""
    sub_rewards = dict(result.sub_rewards or {})
    return {
        "reward": result.reward,
        "metadata": {
            "name": name,
            "type": grader_type,
            "errors": errors_block(result.errors),
            "execution_time": result.execution_time,
            "scores": dict(sub_rewards),
            "token_usage": result.token_usage,
            "sampled_model_name": result.sampled_model_name,
        },
        "sub_rewards": sub_rewards,
        "model_grader_token_usage_per_model": dict(result.usage_per_model or {}),
    }
