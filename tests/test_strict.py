"""One strict base: every pydantic model openrft accepts derives from `openrft.strict.Strict`.

The source is read with `ast`, so a new model that subclasses `BaseModel` itself, or a module
that writes its own `extra="forbid"`, fails here instead of drifting from the base.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from openrft.evals.sources import ContentRow
from openrft.graders import StringCheckGrader
from openrft.server.wire import GraderRunRequest
from openrft.strict import Strict
from openrft.train.spec import TrainSettings

PACKAGE = Path(__file__).resolve().parents[1] / "openrft"
BASE = PACKAGE / "strict.py"


def modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if path != BASE)


def own_bases(path: Path) -> list[str]:
    """`file:line class` for each class that names pydantic's `BaseModel` as a base."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ClassDef):
            names = [ast.unparse(base) for base in node.bases]
            if any(name.split(".")[-1] == "BaseModel" for name in names):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    return found


def own_extra(path: Path) -> list[str]:
    """`file:line` for each `ConfigDict(extra=...)` or `model_config = {"extra": ...}`."""
    found = []
    keys: list[object]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("ConfigDict"):
            keys = [keyword.arg for keyword in node.keywords]
        elif isinstance(node, ast.Dict):
            keys = [key.value for key in node.keys if isinstance(key, ast.Constant)]
        else:
            continue
        if "extra" in keys:
            found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    return found


def test_no_model_subclasses_basemodel_but_the_strict_base() -> None:
    assert [hit for path in modules() for hit in own_bases(path)] == []


def test_no_module_sets_extra_itself() -> None:
    assert [hit for path in modules() for hit in own_extra(path)] == []


def test_the_base_forbids_unknown_fields() -> None:
    class Probe(Strict):
        name: str

    with pytest.raises(ValidationError, match="extra_forbidden"):
        Probe.model_validate({"name": "a", "nmae": "b"})


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (GraderRunRequest, {"grader": {}, "model_sample": "a"}),
        (TrainSettings, {}),
        (ContentRow, {"item": {}}),
        (
            StringCheckGrader,
            {"type": "string_check", "input": "a", "reference": "a", "operation": "eq"},
        ),
    ],
)
def test_each_layers_models_are_strict(model: type[BaseModel], body: dict[str, object]) -> None:
    assert issubclass(model, Strict)
    model.model_validate(body)
    with pytest.raises(ValidationError, match="extra_forbidden"):
        model.model_validate({**body, "unknown_field": 1})
