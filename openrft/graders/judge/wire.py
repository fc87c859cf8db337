"""Chat Completions shapes the judge client sends and reads: the strict `response_format`,
the fallback request for judges without structured outputs (G6) and the parsed reply."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from openrft.graders.result import Usage, empty_usage

_OPEN_BRACE = re.compile(r"\{")
FALLBACK_INSTRUCTION = (
    "Reply with one JSON object and nothing else. It must match this JSON Schema:\n"
)


@dataclass(frozen=True, slots=True)
class JudgeReply:
    """What the judge said, reduced to what grading needs."""

    content: str | None
    refusal: str | None
    finish_reason: str | None
    model: str
    """The model the judge reports (`sampled_model_name`), else the one we asked for."""
    usage: Usage | None
    """Tokens this reply cost now: None for a cache hit."""
    cached: bool = False
    cache_key: str | None = None

    @property
    def total_tokens(self) -> int:
        usage = self.usage or {}
        total = usage.get("total_tokens") or 0
        return total or (usage.get("prompt_tokens") or 0) + (usage.get("completion_tokens") or 0)

    def usage_per_model(self) -> dict[str, Usage]:
        return {self.model: dict(self.usage) if self.usage else empty_usage()}

    def stored(self) -> dict[str, Any]:
        """The answer as the disk cache keeps it."""
        keep = ("content", "refusal", "finish_reason", "model")
        return {name: getattr(self, name) for name in keep}

    @classmethod
    def from_stored(cls, stored: dict[str, Any], key: str) -> JudgeReply:
        return cls(
            content=_string(stored.get("content")),
            refusal=_string(stored.get("refusal")),
            finish_reason=_string(stored.get("finish_reason")),
            model=str(stored.get("model")),
            usage=None,
            cache_key=key,
        )


def response_format(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": schema}}


def fallback_body(body: dict[str, Any]) -> dict[str, Any]:
    """The same request without `response_format`, the schema stated in a final user message."""
    fallback = {key: value for key, value in body.items() if key != "response_format"}
    schema = body["response_format"]["json_schema"]["schema"]
    instruction = FALLBACK_INSTRUCTION + json.dumps(schema, ensure_ascii=False)
    fallback["messages"] = [*body["messages"], {"role": "user", "content": instruction}]
    return fallback


def to_reply(completion: dict[str, Any], requested_model: str) -> JudgeReply:
    """The fields grading needs from a Chat Completions response body (read leniently: a judge
    that leaves a field out gets a parse error later, not a crash here)."""
    choices = completion.get("choices")
    choice = _mapping(choices[0] if isinstance(choices, list) and choices else None)
    message = _mapping(choice.get("message"))
    model = completion.get("model")
    return JudgeReply(
        content=_string(message.get("content")),
        refusal=_string(message.get("refusal")),
        finish_reason=_string(choice.get("finish_reason")),
        model=model if isinstance(model, str) and model else requested_model,
        usage=_usage(_mapping(completion.get("usage"))),
    )


def _usage(usage: dict[str, Any]) -> Usage:
    out = empty_usage()
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        out[key] = _count(usage.get(key))
    out["cached_tokens"] = _count(_mapping(usage.get("prompt_tokens_details")).get("cached_tokens"))
    return out


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def first_json_object(text: str) -> dict[str, Any] | None:
    """The reply as a JSON object, else the first JSON object inside it (judges in fallback
    mode like to wrap their answer in prose or a code fence)."""
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return value
    decoder = json.JSONDecoder()
    for match in _OPEN_BRACE.finditer(text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None
