"""`validate_grader()`: grader JSON in, a typed grader or one clear error out.

The error is a `GraderValidationError` whose `param` is the JSON path of the first problem
(`grader.graders.a.operation`), checked in three layers: the wire shapes (`schema`), the
semantics pydantic cannot see (formula names, python source, template keys that may never
resolve), and the rules of training.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from openrft.errors import GraderValidationError, InvalidRequestError
from openrft.graders.messages import Inbound
from openrft.graders.schema import (
    GRADER_TYPES,
    AnyGrader,
    EndpointGrader,
    Grader,
    LabelModelGrader,
    MultiGrader,
    PythonGrader,
    TextSimilarityGrader,
    iter_templates,
)
from openrft.graders.typos import did_you_mean, misspelt, misspelt_message


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
    _check_templates(grader, param)
    if for_training:
        _check_training(grader, param)
    return grader


def _check_semantics(grader: AnyGrader, param: str) -> None:
    # Imported here: these modules import the schema themselves.
    from openrft.graders import formula
    from openrft.graders.python import check_source

    if isinstance(grader, PythonGrader):
        _prefixed(check_source, grader.source, param)
    elif isinstance(grader, EndpointGrader):
        _check_endpoint(grader, param)
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


def _check_endpoint(grader: EndpointGrader, param: str) -> None:
    """The URL is one the operator allows; no header value is the mask of an echo."""
    from openrft.outbound import check_url, reject_redacted

    try:
        check_url(grader.url, param=f"{param}.url")
        reject_redacted(grader.headers, param=f"{param}.headers")
    except InvalidRequestError as exc:
        raise GraderValidationError(exc.message, param=exc.param, code=exc.code) from None


def _check_templates(grader: AnyGrader, param: str) -> None:
    """A reference that can never resolve (a `__` key) is a 400 here, not a flag on every row."""
    from openrft.graders.template import compile_template

    for path, text in iter_templates(grader):
        for ref in compile_template(text).refs:
            if ref.problem is not None:
                where = param + path.removeprefix("grader")
                raise GraderValidationError(
                    f"Invalid template in '{where}': {{{{ {ref.text} }}}}: {ref.problem}",
                    param=where,
                )


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
    typo = misspelt(errors)
    if typo is not None:  # a misspelt key is two errors, an unknown key and a missing one
        extra, missing = typo
        path = _path(extra, param)
        message = misspelt_message(path, _path(missing, param), extra, missing)
        shown = 2
    else:
        # Unions report one error per alternative; the deepest one is the one that explains.
        path, message = _describe(max(errors, key=lambda error: len(error["loc"])), param)
        shown = 1
    if len(errors) > shown:
        more = len(errors) - shown
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return GraderValidationError(message, param=path)


def _describe(error: Any, param: str) -> tuple[str, str]:
    path = _path(error, param)
    kind = error["type"]
    if kind == "extra_forbidden":
        message = f"Unrecognized field '{path}'{did_you_mean(error['loc'][-1])}"
    elif kind == "missing":
        message = f"Missing required field '{path}'"
    elif kind == "union_tag_invalid" or kind == "union_tag_not_found":
        message = f"Invalid grader type at '{path}': expected one of {', '.join(GRADER_TYPES)}"
        path = f"{path}.type"
    else:
        message = f"Invalid value for '{path}': {error['msg'].removeprefix('Value error, ')}"
    return path, message


def _path(error: Any, param: str) -> str:
    return param + _json_path(error["loc"]).removeprefix("grader")  # the envelope's key


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
