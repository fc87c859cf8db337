"""The judge messages a model grader sends (spec §3.4), exactly in OpenAI's shapes.

`Inbound` is the base of every grader model: strict (`openrft.strict`: unknown fields are
errors, so a typo is a 400 that names its JSON path) and frozen: a validated grader is never
changed afterwards.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from openrft.strict import Strict

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class Inbound(Strict):
    """Base of every grader model: unknown fields are errors, and it cannot change."""

    model_config = ConfigDict(frozen=True)


class InputText(Inbound):
    type: Literal["input_text", "output_text"]
    text: str
    """Templated text."""


class InputImage(Inbound):
    type: Literal["input_image"]
    image_url: str
    """Templated image URL (or data URL), passed through to the judge."""
    detail: Literal["high", "low", "auto"] | None = None
    file_id: str | None = None


class AudioData(Inbound):
    data: str
    """Templated base64 audio."""
    format: Literal["mp3", "wav"]


class InputAudio(Inbound):
    type: Literal["input_audio"]
    input_audio: AudioData


ContentItem = Annotated[InputText | InputImage | InputAudio, Field(discriminator="type")]


class InputMessage(Inbound):
    role: Literal["user", "assistant", "system", "developer"]
    content: str | ContentItem | list[str | ContentItem]
    """A string, one content item or a list of them; every text part is templated."""
    type: Literal["message"] | None = None


class SamplingParams(Inbound):
    seed: int | None = None
    top_p: float | None = None
    temperature: float | None = None
    max_completions_tokens: int | None = Field(default=None, ge=1)
    """Sent to the judge as `max_completion_tokens` (G4); `max_tokens` is an alias (G10)."""
    reasoning_effort: ReasoningEffort | None = None

    @model_validator(mode="before")
    @classmethod
    def _max_tokens_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "max_tokens" in data:
            data = dict(data)
            alias = data.pop("max_tokens")
            data.setdefault("max_completions_tokens", alias)
        return data
