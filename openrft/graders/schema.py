"""Grader JSON, exactly in OpenAI's shapes (spec §3, decisions G1–G10).

Every inbound model forbids unknown fields, so a typo is a 400 that names its JSON path
instead of a silently ignored setting. `validate_grader()` is the one entry point: it returns
the typed grader or raises `GraderValidationError` with `param` = the path of the problem.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from openrft.errors import GraderValidationError

Operation = Literal["eq", "ne", "like", "ilike"]
Metric = Literal[
    "cosine", "fuzzy_match", "bleu", "gleu", "meteor",
    "rouge_1", "rouge_2", "rouge_3", "rouge_4", "rouge_5", "rouge_l",
]  # fmt: skip
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
PYTHON_SOURCE_LIMIT = 256 * 1024


class Inbound(BaseModel):
    """Base of every model we accept: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _GraderBase(Inbound):
    name: str | None = None
    """Optional (G10): defaults to the map key for a sub-grader, else the type."""
    pass_threshold: float | None = None
    """Accepted on every grader; only pass/fail in evals and gates reads it (G3)."""


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
    """Accepted and recorded (G10); openrft has one runtime image."""


SubGrader = Annotated[
    StringCheckGrader | TextSimilarityGrader | PythonGrader | ScoreModelGrader | LabelModelGrader,
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
    | MultiGrader,
    Field(discriminator="type"),
]
AnyGrader = (
    StringCheckGrader
    | TextSimilarityGrader
    | PythonGrader
    | ScoreModelGrader
    | LabelModelGrader
    | MultiGrader
)
GRADER_TYPES = ("string_check", "text_similarity", "python", "score_model", "label_model", "multi")
TRAINING_TYPES = ("string_check", "text_similarity", "python", "score_model", "multi")


class _Envelope(Inbound):
    grader: Grader


def validate_grader(data: Any, *, for_training: bool = False, param: str = "grader") -> AnyGrader:
    """The typed grader, or `GraderValidationError` naming the JSON path of the first problem.

    `for_training` applies the RFT rules on top: no top-level `label_model`, no `cosine`.
    """
    try:
        grader = _Envelope.model_validate({"grader": data}).grader
    except ValidationError as exc:
        raise _to_grader_error(exc, param) from None
    _check_semantics(grader, param)
    if for_training:
        _check_training(grader, param)
    return grader


def _check_semantics(grader: AnyGrader, param: str) -> None:
    # Imported here: these modules import the schema themselves.
    from openrft.graders import formula
    from openrft.graders.python import check_source

    if isinstance(grader, PythonGrader):
        _prefixed(check_source, grader.source, param)
    elif isinstance(grader, MultiGrader):
        for key, sub in grader.graders.items():
            if not key.isidentifier():
                raise GraderValidationError(
                    f"Invalid key '{key}' in '{param}.graders': keys are formula variables "
                    "and must be identifiers (letters, digits, underscores)",
                    param=f"{param}.graders.{key}",
                )
            _check_semantics(sub, f"{param}.graders.{key}")
        try:
            formula.compile_formula(grader.calculate_output, set(grader.graders))
        except formula.FormulaError as exc:
            raise GraderValidationError(
                f"Invalid '{param}.calculate_output': {exc}", param=f"{param}.calculate_output"
            ) from None


def _prefixed(check: Any, value: Any, param: str) -> None:
    try:
        check(value)
    except GraderValidationError as exc:
        inner = exc.param or ""
        exc.param = f"{param}.{inner}" if inner else param
        exc.message = exc.message.replace(f"'{inner}'", f"'{exc.param}'") if inner else exc.message
        exc.args = (exc.message,)
        raise


def _check_training(grader: AnyGrader, param: str) -> None:
    if isinstance(grader, LabelModelGrader):
        raise GraderValidationError(
            "label_model is not allowed as the top-level grader of a fine-tuning job; "
            "use it inside a multi grader",
            param=f"{param}.type",
        )
    subs = grader.graders.items() if isinstance(grader, MultiGrader) else [("", grader)]
    for key, sub in subs:
        if isinstance(sub, TextSimilarityGrader) and sub.evaluation_metric == "cosine":
            path = f"{param}.graders.{key}" if key else param
            raise GraderValidationError(
                "the cosine metric is available for grader runs and evals, not for training",
                param=f"{path}.evaluation_metric",
            )


def _to_grader_error(exc: ValidationError, param: str) -> GraderValidationError:
    errors = exc.errors(include_url=False)
    # Unions report one error per alternative; the deepest one is the one that explains.
    first = max(errors, key=lambda error: len(error["loc"]))
    path = param + _json_path(first["loc"]).removeprefix("grader")  # the envelope's key
    kind = first["type"]
    if kind == "extra_forbidden":
        message = f"Unrecognized field '{path}'"
    elif kind == "missing":
        message = f"Missing required field '{path}'"
    elif kind == "union_tag_invalid" or kind == "union_tag_not_found":
        message = f"Invalid grader type at '{path}': expected one of {', '.join(GRADER_TYPES)}"
        path = f"{path}.type"
    else:
        message = f"Invalid value for '{path}': {first['msg'].removeprefix('Value error, ')}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return GraderValidationError(message, param=path)


def _json_path(loc: tuple[Any, ...]) -> str:
    """`('grader', 'multi', 'graders', 'a', 'string_check', 'op')` → `grader.graders.a.op`.

    Discriminated unions put the tag in the location; we drop the tag segments."""
    tags = set(GRADER_TYPES) | {"input_text", "output_text", "input_image", "input_audio"}
    tags |= {"str", "list[union[str,tagged-union[InputText,InputImage,InputAudio]]]"}
    parts: list[str] = []
    for segment in loc:
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
        elif segment in tags or segment.startswith(("tagged-union", "list[", "function-")):
            continue
        else:
            parts.append(("." if parts else "") + segment)
    return "".join(parts)


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
