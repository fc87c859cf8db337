"""Every request model answers a wrong value with a validation error (a 400 naming the field),
never a `TypeError` from a constraint applied to the wrong type (a 500 the SDK retries)."""

from __future__ import annotations

import contextlib
import inspect
from types import ModuleType

import pytest
from pydantic import BaseModel, ValidationError

from openrft.graders import messages
from openrft.server import wire
from openrft.train import spec

ODD_VALUES = ["auto", "x", "", -1, 0, 10**12, 1.5, True, None, [], {}, [1], {"a": 1}]


def models(module: ModuleType) -> list[type[BaseModel]]:
    return [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, BaseModel)
        and value.__module__ == module.__name__
    ]


CASES = [
    (model, field)
    for module in (wire, spec, messages)
    for model in models(module)
    for field in model.model_fields
]


@pytest.mark.parametrize(("model", "field"), CASES, ids=lambda v: getattr(v, "__name__", v))
def test_a_wrong_value_is_a_validation_error(model: type[BaseModel], field: str) -> None:
    for value in ODD_VALUES:
        with contextlib.suppress(ValidationError):  # anything else fails the test
            model.model_validate({field: value})
