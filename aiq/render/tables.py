"""Tables that fit the terminal: numbers right-aligned, the least important columns dropped first.

Rich shrinks a table that is too wide by wrapping cells, which breaks numbers over lines. Here each
column has a ``drop`` rank instead: while the table is wider than the console, the column with the
highest rank goes (0 never goes). Cells are plain strings or Rich ``Text``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text


@dataclass(frozen=True)
class Col:
    """A column: the row key it shows, its header, alignment and when to drop it."""

    key: str
    header: str
    numeric: bool = False
    drop: int = 0


def _len(cell: Any) -> int:
    if isinstance(cell, Text):
        return cell.cell_len
    return len(str(cell)) if cell is not None else 0


def fit(cols: Sequence[Col], rows: Sequence[Mapping[str, Any]], width: int) -> list[Col]:
    """The columns that fit ``width``, dropping the highest ``drop`` rank first."""
    kept = list(cols)

    def needed(cs: Sequence[Col]) -> int:
        # Rich's default box: one border per column plus one, and a space either side of a cell.
        return 1 + sum(max([len(c.header)] + [_len(r.get(c.key)) for r in rows]) + 3 for c in cs)

    while needed(kept) > width:
        droppable = [c for c in kept if c.drop > 0]
        if not droppable:
            break
        worst = max(droppable, key=lambda c: (c.drop, kept.index(c)))
        kept.remove(worst)
    return kept


def fitted_table(
    console: Console,
    cols: Sequence[Col],
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
    caption: str | None = None,
    styles: Sequence[str | None] | None = None,
    footer: Mapping[str, Any] | None = None,
) -> None:
    """Print ``rows`` as a table that fits ``console``; ``footer`` is a bold last row (a total)."""
    all_rows = [*rows, footer] if footer is not None else list(rows)
    kept = fit(cols, all_rows, console.width)
    if title:
        # Printed on its own line: a table title would be wrapped to the table's width.
        console.print(Text(title, style="bold"), soft_wrap=True)
    table = Table(
        caption=caption,
        caption_justify="left",
        header_style="bold",
    )
    for c in kept:
        table.add_column(
            c.header,
            justify="right" if c.numeric else "left",
            no_wrap=c.numeric,
            overflow="fold" if not c.numeric else "ellipsis",
        )
    for i, row in enumerate(rows):
        style = styles[i] if styles is not None and i < len(styles) else None
        table.add_row(*(_cell(row.get(c.key)) for c in kept), style=style)
    if footer is not None:
        table.add_row(*(_cell(footer.get(c.key)) for c in kept), style="bold", end_section=True)
    console.print(table)


def _cell(value: Any) -> Text | str:
    if value is None:
        return ""
    if isinstance(value, Text):
        return value
    return Text(str(value))


def change_text(text: str, value: float | int | None, *, good_when_up: bool = True) -> Text:
    """A change, green when it is good news and red when it is bad."""
    if value is None or value == 0:
        return Text(text, style="dim" if value is None else "")
    up = value > 0
    return Text(text, style="green" if up == good_when_up else "red")
