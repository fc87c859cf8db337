"""An eval run's samples: what a row is graded on, and the output item's `sample` record.

A `jsonl` row carries its own sample; its record is a pure function of that sample (`given`),
so a run can store the row as it came and build the record when the item is read.
"""

from __future__ import annotations

from typing import Any

from openrft.graders import Sample

__all__ = ["given", "given_text", "record"]


def record(model: str, params: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    """An output item's `sample` record before its answer."""
    asked = [{"role": m.get("role", "user"), "content": m.get("content") or ""} for m in messages]
    tokens = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cached_tokens": 0}
    return {
        "input": asked, "output": [], "finish_reason": "", "model": model, "usage": tokens,
        "error": None, "temperature": params.get("temperature", 1.0),
        "max_completion_tokens": params.get("max_tokens"), "top_p": params.get("top_p", 1.0),
        "seed": params.get("seed"),
    }  # fmt: skip


def given(row: dict[str, Any]) -> tuple[Sample, dict[str, Any]]:
    """A jsonl row's own sample, graded as it is: a sample object, or a Chat Completion whose
    first choice is the answer (what OpenAI's cookbook uploads)."""
    sample = dict(row.get("sample") or {})
    choices = sample.get("choices")
    if "output_text" in sample or not choices:
        sample["output_text"] = str(sample.get("output_text") or "")
    graded = Sample.coerce(sample)
    made = record(str(sample.get("model") or ""), {}, [])
    message: dict[str, Any] = {"role": "assistant", "content": graded.output_text}
    if graded.output_tools:
        message["tool_calls"] = graded.output_tools
    first = choices[0] if isinstance(choices, list) and choices else None
    finish = first.get("finish_reason") if isinstance(first, dict) else None
    made.update(output=[message], finish_reason=finish if isinstance(finish, str) else "stop")
    return graded, made


def given_text(row: dict[str, Any]) -> Sample | str:
    """What a jsonl row is graded on: its text alone when its sample is nothing but text (the
    grader's column path reads a string as it reads `Sample(text)`, without building one)."""
    sample = row.get("sample")
    if type(sample) is dict and len(sample) == 1 and type(sample.get("output_text")) is str:
        text: str = sample["output_text"]
        return text
    return given(row)[0]
