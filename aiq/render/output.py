"""Write rows as a table for people, or as JSON, NDJSON or CSV for scripts."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import IO, Any

from rich.console import Console
from rich.table import Table


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def to_json(value: Any) -> str:
    """JSON text for ``value``, with dates in ISO 8601."""
    return json.dumps(value, default=_json_default, indent=2, sort_keys=False)


def write_json(value: Any, stream: IO[str] | None = None) -> None:
    """Write one JSON document."""
    out = stream or sys.stdout
    out.write(to_json(value) + "\n")


def write_ndjson(rows: Sequence[Mapping[str, Any]], stream: IO[str] | None = None) -> None:
    """Write one JSON object per line."""
    out = stream or sys.stdout
    for row in rows:
        out.write(json.dumps(row, default=_json_default) + "\n")


def write_csv(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], stream: IO[str] | None = None
) -> None:
    """Write CSV with a header line."""
    out = stream or sys.stdout
    writer = csv.DictWriter(
        out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(row.get(k)) for k in columns})


def _csv_cell(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def write_table(
    console: Console,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    numeric: Sequence[str] = (),
) -> None:
    """A Rich table; numeric columns are right-aligned."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        table.add_column(
            (headers or {}).get(col, col), justify="right" if col in numeric else "left"
        )
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)


def emit(
    fmt: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    console: Console,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    numeric: Sequence[str] = (),
    document: Any = None,
) -> None:
    """Write ``rows`` in ``fmt``; ``document`` (when given) is what JSON output shows instead."""
    if fmt == "json":
        write_json(document if document is not None else list(rows))
    elif fmt == "ndjson":
        write_ndjson(rows)
    elif fmt == "csv":
        write_csv(rows, columns)
    else:
        write_table(console, rows, columns, title=title, headers=headers, numeric=numeric)
