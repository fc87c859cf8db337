"""Request bodies we accept, as pydantic models with `extra="forbid"` (a misspelt field is a
400 naming it, not a silently ignored knob). Responses are plain dicts built next to their
stores (`job_object`, `event_object`, …) because they mirror OpenAI's shapes field for field.

Graders arrive as raw dicts and go through `validate_grader`, which owns their error paths.
A job's hyperparameters are the job contract's own (`openrft.train.spec.Hyperparameters`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from openrft.strict import Strict
from openrft.train.spec import Hyperparameters
from openrft.train.tools import MAX_EPISODE_STEPS

MetadataKey = Annotated[str, StringConstraints(max_length=64)]
MetadataValue = Annotated[str, StringConstraints(max_length=512)]


class GraderValidateRequest(Strict):
    grader: dict[str, Any]


class GraderRunRequest(Strict):
    grader: dict[str, Any]
    model_sample: str
    item: dict[str, Any] | None = None


class Reinforcement(Strict):
    grader: dict[str, Any]
    response_format: dict[str, Any] | None = None
    """Not in OpenAI's spec types but documented and sent by clients (spec §5.2)."""
    hyperparameters: Hyperparameters | None = None
    tools: list[Any] | None = None
    """Azure's agentic RFT: `[{"name", "server_url", "headers"?}]`, checked by
    `openrft.train.tools.parse_tools` (a 400 naming `tools[i].<field>`)."""
    max_episode_steps: int | None = Field(None, ge=1, le=MAX_EPISODE_STEPS)
    """Model turns per episode (default 10)."""


class Method(Strict):
    type: Literal["supervised", "dpo", "reinforcement"]
    reinforcement: Reinforcement | None = None
    supervised: dict[str, Any] | None = None
    dpo: dict[str, Any] | None = None


class JobCreateRequest(Strict):
    model: str = Field(min_length=1)
    training_file: str
    validation_file: str | None = None
    method: Method | None = None
    hyperparameters: dict[str, Any] | None = None
    """Deprecated top-level (supervised) hyperparameters: accepted, ignored for RFT."""
    suffix: str | None = Field(None, min_length=1, max_length=64)
    seed: int | None = Field(None, ge=0, le=2147483647)
    integrations: list[dict[str, Any]] | None = Field(None, max_length=5)
    metadata: dict[MetadataKey, MetadataValue] | None = Field(None, max_length=16)
    settings: dict[str, Any] | None = None
    """openrft's extension: engine settings OpenAI has no word for (`lora_rank`, `device`,
    `judge_max_tokens`, ...; docs/training.md). The SDK sends it with `extra_body`."""


class StreamOptions(Strict):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None


ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class ChatCompletionRequest(Strict):
    """Every field of the SDK's `CompletionCreateParams`: honoured, or accepted and not acted
    on (docs/server.md lists which); `openrft.server.chat_checks` checks the values."""

    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    n: int = Field(1, ge=1, le=64)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    reasoning_effort: ReasoningEffort | None = None
    """Bounds a chat template's thinking section (`none` turns it off); else not acted on."""
    # Accepted for compatibility and not acted on (documented in docs/server.md).
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    metadata: dict[MetadataKey, MetadataValue] | None = Field(None, max_length=16)
    store: bool | None = None
    modalities: list[Literal["text", "audio"]] | None = None
    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    moderation: dict[str, Any] | None = None
    prompt_cache_key: str | None = None
    prompt_cache_options: dict[str, Any] | None = None
    prompt_cache_retention: Literal["in_memory", "24h"] | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority", "fast"] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    web_search_options: dict[str, Any] | None = None


class EmbeddingsRequest(Strict):
    model: str
    input: str | list[str] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None


Metadata = Annotated[dict[MetadataKey, MetadataValue] | None, Field(max_length=16)]


class EvalCreateRequest(Strict):
    name: str | None = None
    metadata: Metadata = None
    data_source_config: dict[str, Any]
    """`{"type": "custom", "item_schema": {...}, "include_sample_schema"?: bool}`."""
    testing_criteria: list[dict[str, Any]] = Field(min_length=1)
    """Graders, each run on every row of every run; pass/fail per decision G3."""


class EvalUpdateRequest(Strict):
    name: str | None = None
    metadata: Metadata = None


class EvalRunCreateRequest(Strict):
    name: str | None = None
    metadata: Metadata = None
    data_source: dict[str, Any]
    """`jsonl` or `completions` (openrft.evals.sources); checked whole at create."""
