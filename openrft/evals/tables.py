"""A console table that fits the terminal it is printed on, instead of cutting cells to "…".

`FitTable` picks its layout when rich renders it, from the width it is given:

    wide        one row per record                  when every column fits (prose wraps)
    transposed  one column per record (a measure    when the records' names and values fit
                per row), e.g. two models side by side
    stacked     one two-column block per record,    always: a name or value is never cut,
                under the record's full name         only wrapped past the width

Numbers and names are never wrapped or cut in the first two layouts; a `prose` column (a
gate check's detail) wraps at word boundaries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.table import Table
from rich.text import Text

_PROSE_MIN = 20
"""Columns of prose wrap down to this width before the table changes layout."""


def cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _width(widths: Iterable[int]) -> int:
    """A box table's width: each column's text plus one space either side and a border."""
    widths = list(widths)
    return sum(widths) + 3 * len(widths) + 1


class FitTable:
    """`rows` are dicts with the same keys; the first key names each record."""

    def __init__(self, title: str, rows: Sequence[dict[str, Any]], prose: Iterable[str] = ()):
        self.title = title
        self.columns = [str(key) for key in rows[0]] if rows else []
        self.cells = [[cell(value) for value in row.values()] for row in rows]
        self.prose = set(prose)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.layout(options.max_width)

    def layout(self, width: int) -> Table | Group:
        if not self.cells or _width(self._wide_widths()) <= width:
            return self.wide()
        if _width(self._transposed_widths()) <= width:
            return self.transposed()
        return self.stacked()

    def _natural(self, index: int) -> int:
        column = [self.columns[index], *(row[index] for row in self.cells)]
        return max(map(cell_len, column))

    def _wide_widths(self) -> Iterator[int]:
        for index, name in enumerate(self.columns):
            natural = self._natural(index)
            yield min(natural, _PROSE_MIN) if name in self.prose else natural

    def _transposed_widths(self) -> list[int]:
        measures = max(map(cell_len, self.columns))
        records = [max(map(cell_len, row)) for row in self.cells]
        return [measures, *records]

    def wide(self) -> Table:
        table = Table(title=self.title)
        for name in self.columns:
            table.add_column(name, no_wrap=name not in self.prose, overflow="fold")
        for row in self.cells:
            table.add_row(*row)
        return table

    def transposed(self) -> Table:
        table = Table(title=self.title)
        table.add_column(self.columns[0], no_wrap=True)
        for row in self.cells:
            table.add_column(row[0], no_wrap=True, justify="right")
        for index, name in enumerate(self.columns[1:], start=1):
            table.add_row(name, *(row[index] for row in self.cells))
        return table

    def stacked(self) -> Group:
        blocks: list[Any] = [Text(self.title, style="italic")]
        for row in self.cells:
            block = Table(show_header=False)
            block.add_column(no_wrap=True)
            block.add_column(overflow="fold")
            for name, value in zip(self.columns[1:], row[1:], strict=True):
                block.add_row(name, value)
            blocks += [Text(f"{self.columns[0]}: {row[0]}", style="bold", overflow="fold"), block]
        return Group(*blocks)
