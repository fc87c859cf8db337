"""The grader-vs-data check (decision D3): every `{{ item.… }}` a grader reads must resolve in
every row (T3: the row is the whole `item`, `messages` and `tools` included).

Python graders get the raw row and have no templates, so nothing here can check them.
`sample.…` references are not checked: no sample exists before the model answers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openrft.graders import (
    AnyGrader,
    Ref,
    VariableError,
    compile_template,
    iter_templates,
    validate_grader,
)

__all__ = ["ItemRef", "RefFailure", "check_refs", "item_refs"]


@dataclass(frozen=True)
class ItemRef:
    """One `item.…` reference and the grader field (JSON path) it appears in."""

    field: str
    ref: Ref

    @property
    def text(self) -> str:
        return self.ref.text


@dataclass
class RefFailure:
    """A reference that some rows cannot resolve: which rows (line numbers), and why."""

    field: str
    ref: str
    lines: list[int] = dataclasses.field(default_factory=list)
    reason: str = ""

    def message(self, path: str | None = None, shown: int = 10) -> str:
        rows = ", ".join(str(line) for line in self.lines[:shown])
        more = f" and {len(self.lines) - shown} more" if len(self.lines) > shown else ""
        plural = "s" if len(self.lines) > 1 else ""
        where = f"{path} line{plural}" if path else f"line{plural}"
        return f"{self.field}: {self.reason}, in {where} {rows}{more}"


def _grader(grader: AnyGrader | dict[str, Any]) -> AnyGrader:
    return validate_grader(grader) if isinstance(grader, dict) else grader


def item_refs(grader: AnyGrader | dict[str, Any]) -> list[ItemRef]:
    """Every distinct `item.…` reference in the grader's templates, sub-graders included."""
    seen: set[tuple[str, str]] = set()
    refs: list[ItemRef] = []
    for path, text in iter_templates(_grader(grader)):
        for ref in compile_template(text).refs:
            if ref.namespace == "item" and (path, ref.text) not in seen:
                seen.add((path, ref.text))
                refs.append(ItemRef(path, ref))
    return refs


def check_refs(
    grader: AnyGrader | dict[str, Any], rows: Sequence[tuple[int, dict[str, Any]]]
) -> list[RefFailure]:
    """For each item reference, the rows it does not resolve in (empty list: all good)."""
    failures: list[RefFailure] = []
    for item_ref in item_refs(grader):
        failure = RefFailure(item_ref.field, item_ref.text)
        for number, row in rows:
            try:
                item_ref.ref.resolve(None, row)
            except VariableError as exc:
                failure.lines.append(number)
                failure.reason = failure.reason or str(exc)
        if failure.lines:
            failures.append(failure)
    return failures
