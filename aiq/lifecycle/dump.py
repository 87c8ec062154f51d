"""aiq's logical dump: the whole database as gzip'd JSON lines, restorable into any empty database.

    {"aiq_dump": 1, "revision": "0004", "tables": [{"name": "org", "columns": [...]}, ...]}
    {"table": "org"}
    [1, "Glow Med Spa", ...]                 one JSON array per row, in primary-key order
    {"end_table": "org", "rows": 1}
    ...
    {"end": true, "rows": {"org": 1, ...}}

Values: timestamps and dates in ISO 8601, binary (sealed credentials) in base64, JSON as JSON.
The trailer makes a truncated file detectable: a dump without it is refused, and a restore runs in
one transaction, so nothing is left half-loaded. The format does not depend on the dialect: a dump
of Postgres restores into SQLite and the other way round, and into any Postgres schema.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import JSON, Boolean, Connection, Date, DateTime, LargeBinary, Table, select

from aiq import __version__
from aiq.errors import UsageError

DUMP_VERSION = 1
MAGIC = b"\x1f\x8b"  # gzip
BATCH_ROWS = 5000


def column_kind(col: Any) -> str:
    """How a column's values are written in a dump."""
    t = col.type
    if isinstance(t, DateTime):
        return "datetime"
    if isinstance(t, Date):
        return "date"
    if isinstance(t, LargeBinary):
        return "bytes"
    if isinstance(t, JSON):
        return "json"
    if isinstance(t, Boolean):
        return "bool"
    return "plain"


_ENCODE: dict[str, Callable[[Any], Any]] = {
    "datetime": lambda v: v.isoformat(),
    "date": lambda v: v.isoformat(),
    "bytes": lambda v: base64.b64encode(bytes(v)).decode("ascii"),
}
_DECODE: dict[str, Callable[[Any], Any]] = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "bytes": base64.b64decode,
    "bool": bool,
}


def _encoder(kinds: list[str]) -> Callable[[Any], list[Any]]:
    steps = [(i, _ENCODE[k]) for i, k in enumerate(kinds) if k in _ENCODE]

    def encode(row: Any) -> list[Any]:
        out = list(row)
        for i, fn in steps:
            if out[i] is not None:
                out[i] = fn(out[i])
        return out

    return encode


def decoder(kinds: list[str]) -> Callable[[list[Any]], list[Any]]:
    """The function turning a dumped row back into Python values."""
    steps = [(i, _DECODE[k]) for i, k in enumerate(kinds) if k in _DECODE]

    def decode(row: list[Any]) -> list[Any]:
        for i, fn in steps:
            if row[i] is not None:
                row[i] = fn(row[i])
        return row

    return decode


def write_dump(
    conn: Connection, tables: list[Table], revision: str, dialect: str, stream: IO[bytes]
) -> dict[str, int]:
    """Dump ``tables`` (in order) read through ``conn`` into ``stream``; returns rows per table."""
    counts: dict[str, int] = {}
    with gzip.GzipFile(fileobj=stream, mode="wb", compresslevel=5) as gz:

        def line(doc: Any) -> None:
            gz.write(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")

        line(
            {
                "aiq_dump": DUMP_VERSION,
                "aiq_version": __version__,
                "revision": revision,
                "source_dialect": dialect,
                "created_at": datetime.now().astimezone().isoformat(timespec="seconds"),
                "tables": [
                    {"name": t.name, "columns": [[c.name, column_kind(c)] for c in t.columns]}
                    for t in tables
                ],
            }
        )
        for table in tables:
            line({"table": table.name})
            encode = _encoder([column_kind(c) for c in table.columns])
            query = select(*table.columns).order_by(*table.primary_key.columns)
            result = conn.execution_options(stream_results=True, yield_per=BATCH_ROWS).execute(
                query
            )
            n = 0
            for batch in result.partitions(BATCH_ROWS):
                gz.write(
                    "".join(
                        json.dumps(encode(r), separators=(",", ":"), ensure_ascii=False) + "\n"
                        for r in batch
                    ).encode()
                )
                n += len(batch)
            line({"end_table": table.name, "rows": n})
            counts[table.name] = n
        line({"end": True, "rows": counts})
    return counts


@dataclass
class DumpTable:
    """A table in a dump: its name and columns (name, kind)."""

    name: str
    columns: list[tuple[str, str]]


class DumpReader:
    """Reads a logical dump: the header, then each table's rows in batches."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = gzip.open(path, "rt", encoding="utf-8")  # noqa: SIM115 - closed in close()
        try:
            header = json.loads(self._fh.readline())
        except (OSError, EOFError, ValueError):
            self.close()
            raise UsageError(f"{path} is not an aiq backup (unreadable header)") from None
        if not isinstance(header, dict) or header.get("aiq_dump") != DUMP_VERSION:
            self.close()
            raise UsageError(f"{path} is not an aiq logical backup of a version this aiq reads")
        self.header = header
        self.revision: str = str(header["revision"])
        self.tables = [
            DumpTable(t["name"], [(c[0], c[1]) for c in t["columns"]]) for t in header["tables"]
        ]

    def batches(self) -> Iterator[tuple[DumpTable, list[list[Any]]]]:
        """(table, rows) batches in dump order; raises if the dump is truncated or inconsistent."""
        by_name = {t.name: t for t in self.tables}
        current: DumpTable | None = None
        decode: Callable[[list[Any]], list[Any]] | None = None
        batch: list[list[Any]] = []
        counted = 0
        try:
            for raw in self._fh:
                value = json.loads(raw)
                if isinstance(value, list):
                    if current is None or decode is None:
                        raise ValueError("a row outside a table")
                    batch.append(decode(value))
                    if len(batch) >= BATCH_ROWS:
                        counted += len(batch)
                        yield current, batch
                        batch = []
                    continue
                if "table" in value:
                    current = by_name[value["table"]]
                    decode = decoder([k for _, k in current.columns])
                    counted = 0
                elif "end_table" in value:
                    if current is None or value["end_table"] != current.name:
                        raise ValueError("a table ends that did not start")
                    counted += len(batch)
                    if batch:
                        yield current, batch
                        batch = []
                    if counted != value["rows"]:
                        raise ValueError(
                            f"{current.name}: {counted} rows, expected {value['rows']}"
                        )
                    current = None
                elif value.get("end") is True:
                    return
            raise EOFError
        except (EOFError, OSError, ValueError, KeyError) as exc:
            raise UsageError(
                f"the backup {self.path} is truncated or damaged ({type(exc).__name__})",
                hint="restore another backup",
            ) from None

    def close(self) -> None:
        self._fh.close()
