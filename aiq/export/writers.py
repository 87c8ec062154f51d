"""One writer per export format: CSV, NDJSON and Parquet, each fed batches of database rows.

A writer turns the raw rows of a ``TablePlan`` query into its format as they come, so memory holds
one batch at a time. Values are shaped by column kind (see ``aiq.export.tables``): decimals from
integer cents or thousandths, timestamps with their UTC offset, dates in ISO 8601.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from aiq.errors import UsageError
from aiq.export.tables import Column

FORMATS = ("csv", "ndjson", "parquet")
EXTENSIONS = {"csv": "csv", "ndjson": "ndjson", "parquet": "parquet"}

Convert = Callable[[Any], Any]


def decimal_text(value: int, scale: int) -> str:
    """An integer of hundredths (or thousandths) as exact decimal text: 12345 -> "123.45"."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**scale)
    return f"{sign}{whole}.{frac:0{scale}d}"


def _money2(value: int) -> str:
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 100)
    return f"{sign}{whole}.{frac:02d}"


def _timestamp(value: datetime) -> str:
    # Stored naive UTC; written with its offset so no reader guesses a zone.
    return value.isoformat() + "+00:00"


def _date(value: date) -> str:
    return value.isoformat()


def _bool_text(value: bool) -> str:
    return "true" if value else "false"


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _decimal_converter(scale: int, as_text: bool) -> Convert:
    if as_text:
        return _money2 if scale == 2 else lambda v: decimal_text(v, scale)
    return lambda v: Decimal(v).scaleb(-scale)


def _converter(col: Column, fmt: str) -> Convert | None:
    """How one column's database value becomes the format's value (None: as it is)."""
    kind = col.kind
    if kind == "decimal":
        return _decimal_converter(col.scale, as_text=fmt != "parquet")
    if fmt == "parquet":
        # Arrow takes ints, strings, bools, dates and naive UTC datetimes as they are.
        return _json_text if kind == "json" else None
    if kind == "timestamp":
        return _timestamp
    if kind == "date":
        return _date
    if kind == "boolean" and fmt == "csv":
        return _bool_text
    if kind == "json" and fmt == "csv":
        return _json_text
    return None


class RowShaper:
    """Turns a database row into the list of exported values for one format."""

    def __init__(self, columns: Sequence[Column], fmt: str, constants: dict[str, Any]) -> None:
        self.steps: list[tuple[int | None, Convert | None, Any]] = []
        for col in columns:
            const = constants.get(col.name) if col.source is None else None
            self.steps.append((col.source, _converter(col, fmt), const))

    def __call__(self, row: Sequence[Any]) -> list[Any]:
        out = []
        for src, conv, const in self.steps:
            if src is None:
                out.append(const)
                continue
            v = row[src]
            out.append(v if conv is None or v is None else conv(v))
        return out


class Writer:
    """The interface every format implements."""

    def __init__(self, stream: IO[bytes], columns: Sequence[Column], constants: dict[str, Any]):
        self.stream = stream
        self.columns = list(columns)
        self.names = [c.name for c in columns]
        self.shape = RowShaper(columns, self.fmt, constants)

    fmt = ""

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        """Write one batch of database rows."""
        raise NotImplementedError

    def close(self) -> None:
        """Finish the file (flush, footer); the stream itself stays open."""


class CSVWriter(Writer):
    """RFC 4180 CSV, UTF-8, a header line; NULL is an empty field."""

    fmt = "csv"

    def __init__(self, stream: IO[bytes], columns: Sequence[Column], constants: dict[str, Any]):
        super().__init__(stream, columns, constants)
        self.text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=False)
        self.csv = csv.writer(self.text, lineterminator="\n")
        self.csv.writerow(self.names)

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        shape = self.shape
        self.csv.writerows(shape(r) for r in rows)

    def close(self) -> None:
        self.text.flush()
        self.text.detach()


class NDJSONWriter(Writer):
    """One JSON object per line, keys in column order; NULL is null, decimals are strings."""

    fmt = "ndjson"

    def __init__(self, stream: IO[bytes], columns: Sequence[Column], constants: dict[str, Any]):
        super().__init__(stream, columns, constants)
        self.encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        names, shape, encode = self.names, self.shape, self.encoder.encode
        text = "".join(encode(dict(zip(names, shape(r), strict=True))) + "\n" for r in rows)
        self.stream.write(text.encode("utf-8"))


def require_pyarrow() -> Any:
    """The pyarrow module, or a usage error saying how to install it."""
    # The system allocator: pyarrow's default (mimalloc) reserves arenas of its own that add
    # ~20 MB to an export's peak memory for no gain here. Read when pyarrow is first imported.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise UsageError(
            "Parquet export needs pyarrow, which is not installed",
            hint="pip install 'aiq[parquet]' (or pip install pyarrow)",
        ) from None
    return pyarrow


def arrow_type(pa: Any, col: Column) -> Any:
    """The Arrow type of an exported column."""
    return {
        "integer": pa.int64(),
        "string": pa.string(),
        "boolean": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "json": pa.string(),
    }.get(col.kind) or pa.decimal128(18, col.scale)


class ParquetWriter(Writer):
    """Parquet (zstd); types follow the manifest.

    Each batch becomes Arrow arrays at once (compact, unlike Python objects); batches are written
    as one row group once ``ROW_GROUP_ROWS`` have gathered, which bounds memory.
    """

    fmt = "parquet"
    ROW_GROUP_ROWS = 16_384

    def __init__(self, stream: IO[bytes], columns: Sequence[Column], constants: dict[str, Any]):
        super().__init__(stream, columns, constants)
        pa = require_pyarrow()
        import pyarrow.parquet as pq

        self.pa = pa
        self.schema = pa.schema(
            [pa.field(c.name, arrow_type(pa, c), nullable=c.nullable) for c in columns]
        )
        self.writer = pq.ParquetWriter(stream, self.schema, compression="zstd")
        self.pending: list[Any] = []
        self.pending_rows = 0

    def write(self, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        pa = self.pa
        arrays = []
        # Column by column, straight from the database rows: no row-shaped copy of the batch.
        for (src, conv, const), f in zip(self.shape.steps, self.schema, strict=True):
            if src is None:
                values: list[Any] = [const] * len(rows)
            elif conv is None:
                values = [r[src] for r in rows]
            else:
                values = [None if r[src] is None else conv(r[src]) for r in rows]
            arrays.append(pa.array(values, type=f.type))
            del values
        self.pending.append(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        self.pending_rows += len(rows)
        if self.pending_rows >= self.ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            table = self.pa.Table.from_batches(self.pending, schema=self.schema)
            self.writer.write_table(table, row_group_size=max(1, self.pending_rows))
        self.pending, self.pending_rows = [], 0

    def close(self) -> None:
        self._flush()
        self.writer.close()


WRITERS: dict[str, type[Writer]] = {
    "csv": CSVWriter,
    "ndjson": NDJSONWriter,
    "parquet": ParquetWriter,
}


def make_writer(
    fmt: str, stream: IO[bytes], columns: Sequence[Column], constants: dict[str, Any]
) -> Writer:
    """The writer for ``fmt`` on ``stream``."""
    if fmt not in WRITERS:
        raise UsageError(f"unknown export format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")
    return WRITERS[fmt](stream, columns, constants)
