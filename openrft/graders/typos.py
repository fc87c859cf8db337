"""Misspelt grader keys: name the unknown key, the one it was probably meant to be, and both.

Pydantic reports `"refrence": ...` as two errors, an unknown `refrence` and a missing
`reference`; shown alone, the missing one hides the typo. `validate_grader` reports the pair
as one message with a "did you mean", and an unknown key on its own with the closest field
name any grader has.
"""

from __future__ import annotations

import difflib
import functools
from typing import Any, get_args

from pydantic import BaseModel

from openrft.graders.schema import AnyGrader

_CLOSE = 0.75
"""How alike two names must be (difflib's ratio) to suggest one for the other."""


def misspelt(errors: list[Any]) -> tuple[Any, Any] | None:
    """The (unknown key, missing key) errors in one object whose names are closest, if any."""
    pairs = [
        (extra, missing)
        for extra in errors
        if extra["type"] == "extra_forbidden"
        for missing in errors
        if missing["type"] == "missing" and missing["loc"][:-1] == extra["loc"][:-1]
    ]
    if not pairs:
        return None
    return max(pairs, key=lambda pair: _likeness(pair[0]["loc"][-1], pair[1]["loc"][-1]))


def misspelt_message(extra_path: str, missing_path: str, extra: Any, missing: Any) -> str:
    name = str(missing["loc"][-1])
    close = _likeness(extra["loc"][-1], name) >= _CLOSE
    hint = f" (did you mean '{name}'?)" if close else ""
    return f"Unrecognized field '{extra_path}'{hint}; missing required field '{missing_path}'"


def did_you_mean(key: Any) -> str:
    """` (did you mean 'pass_threshold'?)` for `pass_treshold`, or nothing."""
    close = difflib.get_close_matches(str(key), sorted(_known_fields()), n=1, cutoff=_CLOSE)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _likeness(a: Any, b: Any) -> float:
    return difflib.SequenceMatcher(None, str(a).casefold(), str(b).casefold()).ratio()


@functools.cache
def _known_fields() -> frozenset[str]:
    """Every field name (and alias) of every model a grader is made of."""
    names: set[str] = set()
    pending: list[Any] = list(get_args(AnyGrader))
    seen: set[type] = set()
    while pending:
        model = pending.pop()
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            pending.extend(get_args(model))  # unions, lists, dicts, Annotated
            continue
        if model not in seen:
            seen.add(model)
            for name, field in model.model_fields.items():
                names.add(field.alias or name)
                pending.append(field.annotation)
    return frozenset(names)
