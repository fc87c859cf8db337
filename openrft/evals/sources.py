"""An eval run's data source (spec §9): where its rows come from and, for `completions`, how
each row becomes a chat request.

    jsonl        rows `{"item": ..., "sample"?: ...}` graded as they are
    completions  rows `{"item": ...}`; `model` answers `input_messages` rendered per item

Rows come inline (`file_content`) or from an uploaded JSONL file (`file_id`), and every item
must match the eval's `item_schema`: both are checked when the run is created, so a run never
fails halfway on its own input. Errors are `InvalidRequestError`s whose `param` is the path in
the create body (`data_source.source.content[3].item`).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from openrft.data.jsonl import iter_jsonl
from openrft.errors import DataFileError, InvalidRequestError
from openrft.graders import parse_ref, paused_gc, render
from openrft.strict import Strict

__all__ = [
    "DataSource",
    "Row",
    "Rows",
    "check_items",
    "messages_for",
    "parse_data_source",
    "sampling",
]

Row = dict[str, Any]


class ContentRow(Strict):
    item: dict[str, Any]
    sample: dict[str, Any] | None = None
    """A pre-made answer to grade (jsonl runs): `{"output_text": ..., "output_json"?: ...}`."""


class FileContent(Strict):
    type: Literal["file_content"]
    content: list[ContentRow]


class FileId(Strict):
    type: Literal["file_id"]
    id: str


Source = Annotated[FileContent | FileId, Field(discriminator="type")]


class TemplateMessages(Strict):
    type: Literal["template"]
    template: list[dict[str, Any]] = Field(min_length=1)
    """Chat messages whose text may hold `{{item.*}}` references."""


class ItemReference(Strict):
    type: Literal["item_reference"]
    item_reference: str
    """Where each item keeps its own messages, e.g. `item.messages`."""


class SamplingParams(Strict):
    max_completion_tokens: int | None = Field(None, ge=1)
    """`max_completions_tokens` (the spelling two of OpenAI's cookbook notebooks send) is an
    alias; giving both, with different values, is a 400."""
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    reasoning_effort: str | None = None
    """Accepted and not passed on: eval runs sample without a thinking budget."""

    @model_validator(mode="before")
    @classmethod
    def _completions_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "max_completions_tokens" in data:
            data = dict(data)
            alias = data.pop("max_completions_tokens")
            if data.setdefault("max_completion_tokens", alias) != alias:
                raise ValueError(
                    "max_completion_tokens and its alias max_completions_tokens differ"
                )
        return data


class JsonlSource(Strict):
    type: Literal["jsonl"]
    source: Source


class CompletionsSource(Strict):
    type: Literal["completions"]
    source: Source
    model: str = Field(min_length=1)
    input_messages: Annotated[TemplateMessages | ItemReference, Field(discriminator="type")]
    sampling_params: SamplingParams | None = None


DataSource = JsonlSource | CompletionsSource
_KINDS: dict[str, type[JsonlSource] | type[CompletionsSource]] = {
    "jsonl": JsonlSource,
    "completions": CompletionsSource,
}


def parse_data_source(data: dict[str, Any]) -> DataSource:
    """The run's data source, or a 400 naming the first bad field under `data_source`."""
    kind = data.get("type")
    model = _KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        hint = (
            " (openrft serves no Responses API: use `completions`)" if kind == "responses" else ""
        )
        raise InvalidRequestError(
            f"Invalid 'data_source.type': {kind!r}; expected 'jsonl' or 'completions'{hint}",
            param="data_source.type",
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from None


def _invalid(exc: ValidationError) -> InvalidRequestError:
    first = exc.errors(include_url=False)[0]
    path = "data_source"
    for part in first["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in ("file_content", "file_id", "template", "item_reference"):
            path += f".{part}"  # discriminator tags are not part of the body's path
    problem = {"extra_forbidden": "unknown field", "missing": "missing"}.get(
        first["type"], first["msg"].removeprefix("Value error, ")
    )
    return InvalidRequestError(f"Invalid '{path}': {problem}", param=path)


class Rows(list[Row]):
    """A data source's rows; `lines` holds each row's line as its file holds it (None for
    inline content), so a run stores the row without encoding it again."""

    lines: list[bytes] | None = None


def load_rows(source: FileContent | FileId, files: Any, project: str) -> Rows:
    """The run's rows; a file's lines are read strictly and must each hold an `item`."""
    if isinstance(source, FileContent):
        return Rows(row.model_dump(exclude_none=True) for row in source.content)
    files.get(project, source.id)  # 404 for an unknown or another project's file
    rows = Rows()
    try:
        with files.open_content(project, source.id) as stream:
            data = stream.read()
        with paused_gc():
            for number, raw in iter_jsonl(io.BytesIO(data), path_label=source.id):
                rows.append(_content_row(raw, source.id, number))
    except DataFileError as exc:
        raise InvalidRequestError(exc.message, param="data_source.source.id") from None
    lines = _lines(data)
    rows.lines = lines if len(lines) == len(rows) else None
    return rows


def _lines(data: bytes) -> list[bytes]:
    """The file's lines as the strict reader splits them: on `\\n`, without a UTF-8 BOM, the
    `\\r` of CRLF endings and blank lines (one per row it read)."""
    lines = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    return [line for line in (raw.removesuffix(b"\r") for raw in lines) if line.strip()]


def _content_row(raw: dict[str, Any], path: str, number: int) -> Row:
    """A file's row as `ContentRow` checks and dumps it; the usual shape without the model."""
    if raw.keys() <= {"item", "sample"} and isinstance(raw.get("item"), dict):
        sample = raw.get("sample")
        if sample is None:
            return {"item": raw["item"]}
        if isinstance(sample, dict):
            return raw
    try:
        return ContentRow.model_validate(raw).model_dump(exclude_none=True)
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise DataFileError(f"'{where}': {problem['msg']}", path=path, line=number) from None


def check_items(
    schema: dict[str, Any] | None, rows: list[Row], source: FileContent | FileId
) -> None:
    """Every item against the eval's `item_schema`; the first misfit is a 400."""
    if not schema:
        return
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema)
    fast = _fast_validator(schema)
    for index, row in enumerate(rows):
        if fast is not None and fast(row["item"]):
            continue
        problem = next(iter(validator.iter_errors(row["item"])), None)
        if problem is None:
            continue
        if isinstance(source, FileContent):
            param = f"data_source.source.content[{index}].item"
            where = param
        else:
            param, where = "data_source.source.id", f"{source.id}, row {index + 1}"
        raise InvalidRequestError(
            f"{where} does not match the eval's item_schema: {problem.message}", param=param
        )


_SLOW_KEYWORDS = frozenset({"$ref", "$dynamicRef", "$recursiveRef", "pattern", "patternProperties",
                            "format", "$schema"})  # fmt: skip


def _fast_validator(schema: dict[str, Any]) -> Callable[[Any], bool] | None:
    """`jsonschema_rs`'s check (twenty times faster) for a schema whose meaning the two
    libraries share: no references to resolve, no regular expressions (Rust's and Python's
    dialects differ), no formats. A row it rejects is checked again by `jsonschema`, whose
    message the 400 carries; None where only `jsonschema` decides."""
    if _keywords(schema) & _SLOW_KEYWORDS:
        return None
    try:
        import jsonschema_rs

        return jsonschema_rs.Draft202012Validator(schema, validate_formats=False).is_valid
    except Exception:  # a schema it reads differently: `jsonschema` alone decides
        return None


def _keywords(value: Any) -> set[str]:
    """Every key in a JSON value, at any depth (property names included: too many is safe)."""
    if isinstance(value, dict):
        return set(value).union(*map(_keywords, value.values()))
    if isinstance(value, list):
        return set().union(*map(_keywords, value))
    return set()


def messages_for(source: CompletionsSource, item: Any) -> list[dict[str, Any]]:
    """The chat messages for one item: the template rendered, or the item's own messages."""
    given = source.input_messages
    if isinstance(given, ItemReference):
        ref = parse_ref(given.item_reference.removeprefix("{{").removesuffix("}}").strip())
        messages = ref.resolve(None, item)
        if not isinstance(messages, list):
            raise ValueError(f"{given.item_reference} is not a list of messages")
        return [dict(message) for message in messages]
    return [_render_message(message, item) for message in given.template]


def _render_message(message: dict[str, Any], item: Any) -> dict[str, Any]:
    content = message.get("content", "")
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list):  # content parts: their text, templated, in order
        content = "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return {"role": message.get("role", "user"), "content": render(str(content), None, item)}


def sampling(source: CompletionsSource) -> dict[str, Any]:
    """The chat parameters each row is answered with (OpenAI's defaults where unset)."""
    params = source.sampling_params or SamplingParams.model_validate({})
    return {
        "n": 1,
        "max_tokens": params.max_completion_tokens,
        "temperature": 1.0 if params.temperature is None else params.temperature,
        "top_p": 1.0 if params.top_p is None else params.top_p,
        "seed": 42 if params.seed is None else params.seed,
        "response_format": params.response_format,
        "tools": params.tools,
        "stop": None,
    }
