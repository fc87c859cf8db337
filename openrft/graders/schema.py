"""Grader JSON, exactly in OpenAI's shapes (spec §3, decisions G1–G10).

Every inbound model forbids unknown fields, so a typo is a 400 that names its JSON path
instead of a silently ignored setting. `openrft.graders.validation.validate_grader()` is the one
entry point: it returns the typed grader or raises an error naming the path of the problem.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from openrft.graders.messages import Inbound, InputImage, InputMessage, InputText, SamplingParams

Operation = Literal["eq", "ne", "like", "ilike"]
Metric = Literal[
    "cosine", "fuzzy_match", "bleu", "gleu", "meteor",
    "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l",
]  # fmt: skip


class _GraderBase(Inbound):
    name: str | None = None
    """Optional (G10): defaults to the map key for a sub-grader, else the type."""
    pass_threshold: float | None = None
    """Accepted on every grader; only pass/fail in evals and gates reads it (G3)."""
    image_tag: str | None = None
    """Accepted and recorded on every grader (G10; Azure's samples send it on a score_model);
    only a python grader runs in an image."""


class StringCheckGrader(_GraderBase):
    type: Literal["string_check"]
    input: str
    """Template for the text under test, usually `{{sample.output_text}}`."""
    reference: str
    """Template for the expected text."""
    operation: Operation
    """`eq`, `ne` (alias `neq`), `like` (reference ⊂ input), `ilike` (same, casefolded)."""

    @field_validator("operation", mode="before")
    @classmethod
    def _neq_alias(cls, value: Any) -> Any:
        return "ne" if value == "neq" else value


class TextSimilarityGrader(_GraderBase):
    type: Literal["text_similarity"]
    input: str
    """Template for the text under test."""
    reference: str
    """Template for the reference text."""
    evaluation_metric: Metric
    """One of the eleven metrics of decision G2."""


class ScoreModelGrader(_GraderBase):
    type: Literal["score_model"]
    model: str
    """The judge model, served by the judge endpoint (G6)."""
    input: list[InputMessage]
    """Templated messages sent to the judge as they are (no extra system prompt)."""
    range: tuple[float, float] | None = None
    """Inclusive [min, max] the reward is clamped to; default [0, 1]."""
    sampling_params: SamplingParams | None = None

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError("range must be [min, max] with min < max")
        return value

    @property
    def bounds(self) -> tuple[float, float]:
        return self.range or (0.0, 1.0)


class LabelModelGrader(_GraderBase):
    type: Literal["label_model"]
    model: str
    input: list[InputMessage]
    labels: list[str] = Field(min_length=1)
    """The labels the judge must choose from."""
    passing_labels: list[str] = Field(min_length=1)
    """Labels that earn reward 1; a subset of `labels`."""
    sampling_params: SamplingParams | None = None

    @model_validator(mode="after")
    def _subset(self) -> LabelModelGrader:
        unknown = [label for label in self.passing_labels if label not in self.labels]
        if unknown:
            raise ValueError(f"passing_labels {unknown} are not in labels")
        return self


class PythonGrader(_GraderBase):
    type: Literal["python"]
    source: str
    """Python source defining `grade(sample, item) -> float`; runs only in the sandbox."""
    image_tag: str | None = None
    """The runtime image (`openrft.sandbox.runtimes`); none means the default, `2025-05-08`."""

    @field_validator("image_tag")
    @classmethod
    def _known_image(cls, value: str | None) -> str | None:
        from openrft.sandbox.runtimes import known_tags

        if value is not None and value not in known_tags():
            known = ", ".join(known_tags())
            raise ValueError(f"unknown python grader image_tag {value!r}; known tags: {known}")
        return value


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_VALUE = re.compile(r"[\t\x20-\x7e]*")
_FRAMING = {"host", "content-length", "transfer-encoding", "connection", "content-type"}


class EndpointGrader(_GraderBase):
    type: Literal["endpoint"]
    url: str
    """Where the grader POSTs `{"sample", "item", "trace_id"}`; must pass the outbound
    allow-list (`openrft.outbound`), checked at validation and before each request."""
    headers: dict[str, str] | None = None
    """Sent with every request; secrets: never echoed back (`***`), kept apart from the job's
    or eval's row (`openrft.jobs.secrets`, `openrft.evals.records`)."""
    rate_limit: float | None = Field(default=None, gt=0)
    """At most this many requests per second to `url`, over every concurrent call."""

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        # The messages name the header, never its value: values are secrets.
        for name, text in (value or {}).items():
            if not _TOKEN.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid HTTP header name")
            if name.lower() in _FRAMING:
                raise ValueError(f"header {name!r} is set by openrft and cannot be given")
            if not _VALUE.fullmatch(text):
                raise ValueError(
                    f"the value of header {name!r} holds a line break or a character that is "
                    "not printable ASCII"
                )
        return value

    @field_validator("rate_limit")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("rate_limit must be a finite number of requests per second")
        return value


SubGrader = Annotated[
    StringCheckGrader
    | TextSimilarityGrader
    | PythonGrader
    | ScoreModelGrader
    | LabelModelGrader
    | EndpointGrader,
    Field(discriminator="type"),
]


class MultiGrader(_GraderBase):
    type: Literal["multi"]
    graders: dict[str, SubGrader]
    """Sub-graders keyed by the variable name the formula uses (G8)."""
    calculate_output: str
    """Formula over the map keys: + - * / ^, min, max, abs, floor, ceil, exp, sqrt, log."""

    @field_validator("graders", mode="before")
    @classmethod
    def _must_be_map(cls, value: Any) -> Any:
        if isinstance(value, list):
            raise ValueError("expected an object mapping names to graders, but got an array")
        if isinstance(value, dict) and isinstance(value.get("type"), str):
            raise ValueError(
                "expected an object mapping names to graders, but got a single grader; "
                'write {"<name>": {...grader...}}'
            )
        if isinstance(value, dict) and not value:
            raise ValueError("needs at least one grader")
        return value


Grader = Annotated[
    StringCheckGrader
    | TextSimilarityGrader
    | PythonGrader
    | ScoreModelGrader
    | LabelModelGrader
    | EndpointGrader
    | MultiGrader,
    Field(discriminator="type"),
]
AnyGrader = (
    StringCheckGrader
    | TextSimilarityGrader
    | PythonGrader
    | ScoreModelGrader
    | LabelModelGrader
    | EndpointGrader
    | MultiGrader
)
GRADER_TYPES = (
    "string_check", "text_similarity", "python", "score_model", "label_model", "endpoint", "multi",
)  # fmt: skip


def display_name(grader: AnyGrader, key: str | None = None) -> str:
    """The grader's `name`, else the map key of a sub-grader, else its type (G10)."""
    return grader.name or key or grader.type


def iter_templates(grader: AnyGrader, path: str = "grader") -> Iterator[tuple[str, str]]:
    """Every templated string in a grader as (JSON path, template text), sub-graders included."""
    if isinstance(grader, StringCheckGrader | TextSimilarityGrader):
        yield f"{path}.input", grader.input
        yield f"{path}.reference", grader.reference
    elif isinstance(grader, ScoreModelGrader | LabelModelGrader):
        for index, message in enumerate(grader.input):
            yield from _message_templates(message, f"{path}.input[{index}]")
    elif isinstance(grader, MultiGrader):
        for key, sub in grader.graders.items():
            yield from iter_templates(sub, f"{path}.graders.{key}")


def _message_templates(message: InputMessage, path: str) -> Iterator[tuple[str, str]]:
    content = message.content
    items = content if isinstance(content, list) else [content]
    single = not isinstance(content, list)
    for index, part in enumerate(items):
        where = f"{path}.content" if single else f"{path}.content[{index}]"
        if isinstance(part, str):
            yield where, part
        elif isinstance(part, InputText):
            yield f"{where}.text", part.text
        elif isinstance(part, InputImage):
            yield f"{where}.image_url", part.image_url
        else:
            yield f"{where}.input_audio.data", part.input_audio.data
