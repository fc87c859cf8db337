"""Templates rendered a column at a time, for the column path (`grade.grade_columns`).

The common shapes skip the general renderer: `{{ sample.output_text }}` over plain-string
samples is the samples themselves, and `{{ item.key }}` holding strings is one C-speed pass.
A row that fails to render holds its exception, which becomes that row's flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any, cast

from openrft.graders.sample import Sample
from openrft.graders.template import Ref, compile_template

Cell = str | Exception
_OUTPUT_TEXT = ("output_text",)


def render_column(
    template: str, samples: Sequence[Sample | str], items: Sequence[Any], *, plain: bool = False
) -> tuple[Sequence[Cell], bool]:
    """One rendered string per row, or the exception that rendering that row raised; and
    whether every row rendered. `plain` says every sample is a string."""
    compiled = compile_template(template)
    single = compiled.single
    if not compiled.refs:
        return [template] * len(samples), True
    if single is not None and single.namespace == "sample" and single.steps == _OUTPUT_TEXT:
        if plain:
            return cast(Sequence[Cell], samples), True  # read only, never changed
        return [s if isinstance(s, str) else s.output_text for s in samples], True
    if single is not None and single.namespace == "item" and single.steps:
        fast = _item_key_column(single, items)
        if fast is not None:
            return fast, True
        cells = [_item_cell(single, compiled.render, item) for item in items]
    else:
        cells = [
            _render_cell(compiled.render, s, item) for s, item in zip(samples, items, strict=True)
        ]
    return cells, not any(isinstance(cell, Exception) for cell in cells)


def _item_key_column(ref: Ref, items: Sequence[Any]) -> list[Cell] | None:
    """`{{ item.key }}` when every row has that key as a string: one comprehension, no calls."""
    if len(ref.steps or ()) != 1 or not isinstance(key := (ref.steps or ("",))[0], str):
        return None
    try:
        column = list(map(itemgetter(key), items))
    except (KeyError, TypeError, IndexError):
        return None
    return column if set(map(type, column)) <= {str} else None


def _item_cell(ref: Ref, render: Any, item: Any) -> Cell:
    """The common `{{ item.key }}` holding a string, without the general renderer."""
    value = item
    for step in ref.steps or ():
        # Only the steps the general renderer takes by plain lookup (no index into a string,
        # no JSON string to parse): anything else goes through it.
        if isinstance(value, dict) and isinstance(step, str) and step in value:
            value = value[step]
        elif isinstance(value, list) and isinstance(step, int) and step < len(value):
            value = value[step]
        else:
            return _render_cell(render, None, item)
    return value if isinstance(value, str) else _render_cell(render, None, item)


def _render_cell(render: Any, sample: Sample | str | None, item: Any) -> Cell:
    try:
        return str(render(Sample(sample) if isinstance(sample, str) else sample, item))
    except Exception as exc:
        return exc
