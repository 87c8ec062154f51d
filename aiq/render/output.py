"""Write rows as a table for people, or as JSON, NDJSON or CSV for scripts."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import IO, Any

from rich.console import Console
from rich.table import Table


def as_utc(value: datetime) -> datetime:
    """``value`` as naive UTC (aiq stores naive UTC; an aware value is converted)."""
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def utc_iso(value: datetime) -> str:
    """The one timestamp style for scripts: ISO 8601 in UTC, marked ``Z``."""
    return as_utc(value).isoformat() + "Z"


def utc_minutes(value: datetime) -> str:
    """A timestamp for people, to the minute; its column or line says UTC."""
    return f"{as_utc(value):%Y-%m-%d %H:%M}"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
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
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
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
    no_wrap: Sequence[str] = (),
) -> None:
    """A Rich table; numeric columns are right-aligned, ``no_wrap`` ones never wrapped.

    Timestamps are shown in UTC to the minute, with "(UTC)" in their column's header."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        header = (headers or {}).get(col, col)
        if any(isinstance(row.get(col), datetime) for row in rows):
            header += " (UTC)"
        table.add_column(
            header,
            justify="right" if col in numeric else "left",
            no_wrap=col in no_wrap,
            overflow="fold",  # a long path or name wraps; nothing is cut off with "…"
        )
    for row in rows:
        table.add_row(*(_table_cell(row.get(c)) for c in columns))
    console.print(table)


def _table_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return utc_minutes(value)
    return str(value)


def emit(
    fmt: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    console: Console,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    numeric: Sequence[str] = (),
    no_wrap: Sequence[str] = (),
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
        write_table(
            console, rows, columns, title=title, headers=headers, numeric=numeric, no_wrap=no_wrap
        )
