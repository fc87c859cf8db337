"""`validate_grader()`: grader JSON in, a typed grader or one clear error out.

The error is a `GraderValidationError` whose `param` is the JSON path of the first problem
(`grader.graders.a.operation`), checked in three layers: the wire shapes (`schema`), the
semantics pydantic cannot see (formula names, python source, template keys that may never
resolve), and the rules of training.
"""

from __future__ import annotations

import difflib
import functools
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from openrft.errors import GraderValidationError
from openrft.graders.messages import Inbound
from openrft.graders.schema import (
    GRADER_TYPES,
    AnyGrader,
    Grader,
    LabelModelGrader,
    MultiGrader,
    PythonGrader,
    TextSimilarityGrader,
    iter_templates,
)


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
    typo = _misspelt(errors)
    if typo is not None:  # a misspelt key is two errors, an unknown key and a missing one
        path, message = _misspelt_message(*typo, param)
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
        message = f"Unrecognized field '{path}'{_did_you_mean(error['loc'][-1], _known_fields())}"
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


def _misspelt(errors: list[Any]) -> tuple[Any, Any] | None:
    """The (unknown key, missing key) pair in one object whose names are closest, if any."""
    pairs = [
        (extra, missing)
        for extra in errors
        if extra["type"] == "extra_forbidden"
        for missing in errors
        if missing["type"] == "missing" and missing["loc"][:-1] == extra["loc"][:-1]
    ]
    if not pairs:
        return None
    return max(pairs, key=lambda pair: _likeness(str(pair[0]["loc"][-1]), str(pair[1]["loc"][-1])))


def _misspelt_message(extra: Any, missing: Any, param: str) -> tuple[str, str]:
    path, name = _path(extra, param), str(missing["loc"][-1])
    hint = f" (did you mean '{name}'?)" if _likeness(str(extra["loc"][-1]), name) >= _CLOSE else ""
    return (
        path,
        f"Unrecognized field '{path}'{hint}; missing required field '{_path(missing, param)}'",
    )


_CLOSE = 0.75


def _likeness(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a.casefold(), b.casefold()).ratio()


def _did_you_mean(key: Any, known: frozenset[str]) -> str:
    close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=_CLOSE)
    return f" (did you mean '{close[0]}'?)" if close else ""


@functools.cache
def _known_fields() -> frozenset[str]:
    """Every field name (and alias) of every model a grader is made of: the did-you-mean words."""
    names: set[str] = set()
    pending: list[Any] = list(get_args(AnyGrader))
    seen: set[type] = set()
    while pending:
        model = pending.pop()
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            pending.extend(get_args(model))
            continue
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            names.add(field.alias or name)
            pending.append(field.annotation)
    return frozenset(names)


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
