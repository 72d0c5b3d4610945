"""What commands print: a rich table on a terminal, aligned columns when piped, JSON on demand.

``--json`` output is the directory's own JSON (stable keys, nothing else on stdout); the
table and the aligned text show the same columns, so ``grep`` and ``awk`` work on either.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer

AsJson = Annotated[
    bool, typer.Option("--json", help="Print JSON (stable keys, nothing else) instead of text.")
]


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], empty: str) -> None:
    """``rows`` under ``columns`` (keys of the rows); ``empty`` when there is none."""
    if not rows:
        typer.echo(empty)
        return
    from rich.console import Console

    console = Console(highlight=False)
    if console.is_terminal:
        console.print(rich_table(rows, columns))
    else:
        typer.echo(text_table(rows, columns))


def rich_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, header_style="bold")
    for column, right in zip(columns, _numeric(rows, columns), strict=True):
        table.add_column(column, justify="right" if right else "left")
    for row in rows:
        # Text, not str: a value such as "[bold]" is data, never rich markup
        table.add_row(*(Text(_cell(row.get(column))) for column in columns))
    return table


def text_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as aligned text columns; numbers right-aligned, a missing value as ``-``.

    >>> print(text_table([{"name": "a", "calls": 12}], ("name", "calls")))
    name  calls
    a        12
    """
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
    numeric = _numeric(rows, columns)

    def fmt(values: Sequence[str]) -> str:
        padded = (
            v.rjust(w) if right else v.ljust(w)
            for v, w, right in zip(values, widths, numeric, strict=True)
        )
        return "  ".join(padded).rstrip()

    return "\n".join([fmt(list(columns)), *(fmt(line) for line in cells)])


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def _numeric(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[bool]:
    def number(value: Any) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    return [all(number(row.get(c)) for row in rows) for c in columns]
