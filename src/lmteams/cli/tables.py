"""Tables that fit the terminal: optional columns are dropped, whole, instead of truncated."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    cells: Sequence[str]
    #: Lower is kept longer; 0 is never dropped.
    priority: int = 0
    justify: str = "right"


def fitted_table(columns: Sequence[Column], width: int) -> tuple[Table, list[str]]:
    """A table of ``columns`` whose rows fit ``width``, and the headers of the columns left out.

    The least important columns go first; cells are never cut mid-value.
    """
    widths = {id(c): max([len(c.header), *(len(cell) for cell in c.cells)]) for c in columns}
    kept = list(columns)

    def total() -> int:
        return sum(widths[id(c)] for c in kept) + (len(kept) - 1)  # one space between columns

    for column in sorted(columns, key=lambda c: -c.priority):
        if total() <= width or column.priority == 0:
            break
        kept.remove(column)
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 0, 0, 1))
    for column in kept:
        table.add_column(column.header, justify=column.justify, no_wrap=True)  # type: ignore[arg-type]
    for row in zip(*(c.cells for c in kept), strict=True):
        table.add_row(*row)
    return table, [c.header for c in columns if c not in kept]
