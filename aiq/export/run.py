"""Export an org's data: one file per table and a manifest, streamed and written atomically.

Every table is read in one read-only transaction (a consistent snapshot: REPEATABLE READ on
Postgres, a read transaction on SQLite's WAL), with a server-side cursor, a batch at a time, and
written as it comes, so memory stays flat however large the data. Each file is written under a
hidden temporary name (``.invoice.csv.partial``) and renamed only when every table is done; the
manifest is written last. An interrupted export therefore leaves no file that looks complete, and
a directory with a ``manifest.json`` is a complete export whose files match their checksums.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, text

from aiq import __version__
from aiq.errors import UsageError
from aiq.export.tables import TablePlan, choose_tables, exportable_tables, plan_table
from aiq.export.writers import EXTENSIONS, FORMATS, make_writer, require_pyarrow
from aiq.store.db import Store
from aiq.store.orgs import OrgRef

MANIFEST = "manifest.json"
PARTIAL = ".partial"
BATCH_ROWS = 5000

Progress = Callable[[str, int], None]


@dataclass
class ExportOptions:
    """What to export and how."""

    fmt: str = "csv"
    tables: list[str] | None = None
    date_from: date | None = None
    date_to: date | None = None
    batch_rows: int = BATCH_ROWS

    def check(self) -> None:
        """Refuse options that cannot work, before anything is written."""
        if self.fmt not in FORMATS:
            raise UsageError(
                f"unknown export format {self.fmt!r}", hint=f"use one of {', '.join(FORMATS)}"
            )
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise UsageError(f"--from {self.date_from} is after --to {self.date_to}")
        choose_tables(self.tables)
        if self.fmt == "parquet":
            require_pyarrow()


@dataclass
class FileResult:
    """One exported table."""

    table: str
    file: str
    rows: int
    bytes: int
    sha256: str
    columns: list[dict[str, Any]]
    period_column: str | None
    totals: dict[str, int] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "file": self.file,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256,
            "period_column": self.period_column,
            "totals": self.totals,
            "columns": self.columns,
        }


@dataclass
class ExportResult:
    """What an export wrote."""

    out: Path | None
    fmt: str
    files: list[FileResult]
    manifest: dict[str, Any] | None = None

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


class _HashingStream:
    """A binary file that hashes and counts what goes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.sha.update(view)
        self.size += view.nbytes
        self.raw.write(view)
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.raw.flush()

    # io.TextIOWrapper and pyarrow ask these of the stream they are given.
    closed = False

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def close(self) -> None:  # the owner closes the real file
        self.flush()


@contextlib.contextmanager
def snapshot(store: Store) -> Iterator[Connection]:
    """A connection in one read-only transaction that sees a single consistent state."""
    with store.connect() as conn:
        if store.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                conn.execute(text("SET TRANSACTION READ ONLY"))
                yield conn
        else:
            with conn.begin():
                yield conn


def _stream_table(
    conn: Connection,
    plan: TablePlan,
    stream: IO[bytes],
    fmt: str,
    constants: dict[str, Any],
    batch_rows: int,
    progress: Progress | None,
) -> tuple[int, dict[str, int]]:
    """Write one table's rows to ``stream``; return the row count and the column totals."""
    writer = make_writer(fmt, stream, plan.columns, constants)
    totals = {name: 0 for name, _ in plan.totals}
    total_src = [(name, src) for name, src in plan.totals]
    rows = 0
    result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(plan.query)
    for batch in result.partitions(batch_rows):
        writer.write(batch)
        rows += len(batch)
        for name, src in total_src:
            totals[name] += sum(r[src] for r in batch if r[src] is not None)
        if progress is not None:
            progress(plan.name, rows)
    writer.close()
    return rows, totals


def export_to_stream(
    store: Store,
    org: OrgRef,
    stream: IO[bytes],
    options: ExportOptions,
) -> FileResult:
    """Write one table to an open binary stream (standard output, for pipes)."""
    options.check()
    tables = choose_tables(options.tables)
    if len(tables) != 1:
        raise UsageError(
            "writing to standard output (--out -) takes exactly one table",
            hint="name it with --tables TABLE",
        )
    if options.fmt == "parquet":
        raise UsageError("Parquet cannot be written to standard output", hint="use --out DIR")
    plan = plan_table(tables[0], org.id, options.date_from, options.date_to)
    hashing = _HashingStream(stream)
    with snapshot(store) as conn:
        rows, totals = _stream_table(
            conn,
            plan,
            hashing,  # type: ignore[arg-type]
            options.fmt,
            {"currency": org.currency},
            options.batch_rows,
            None,
        )
    stream.flush()
    _audit(store, org, "standard output", options, [plan.name], rows)
    return FileResult(
        plan.name,
        "-",
        rows,
        hashing.size,
        hashing.sha.hexdigest(),
        [c.manifest() for c in plan.columns],
        plan.period,
        totals,
    )


def _final_names() -> set[str]:
    return {f"{t}.{ext}" for t in exportable_tables() for ext in EXTENSIONS.values()}


def _prepare_dir(out: Path) -> None:
    """Make ``out`` ready: new or empty, or holding an earlier aiq export (replaced)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a directory", hint="give --out a directory")
    try:
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UsageError(f"cannot create {out}: {exc.strerror}") from None
    ours = _final_names() | {MANIFEST}
    foreign = [p.name for p in out.iterdir() if p.name not in ours and not p.name.endswith(PARTIAL)]
    if foreign:
        raise UsageError(
            f"{out} holds files that are not an aiq export ({', '.join(sorted(foreign)[:3])})",
            hint="choose an empty or new directory with --out",
        )
    # From here on the directory is not a complete export until the new manifest lands.
    with contextlib.suppress(FileNotFoundError):
        (out / MANIFEST).unlink()
    for p in out.iterdir():
        if p.name.endswith(PARTIAL):
            p.unlink()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _create_private(path: Path) -> IO[bytes]:
    """A new file readable by its owner only: exports hold the practice's business data."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}{PARTIAL}")
    with _create_private(tmp) as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def export_to_dir(
    store: Store,
    org: OrgRef,
    out: Path,
    options: ExportOptions,
    *,
    progress: Progress | None = None,
) -> ExportResult:
    """Export the chosen tables of ``org`` into ``out``: one file per table and a manifest."""
    options.check()
    tables = choose_tables(options.tables)
    _prepare_dir(out)
    ext = EXTENSIONS[options.fmt]
    constants = {"currency": org.currency}
    files: list[FileResult] = []
    temps: list[tuple[Path, Path]] = []
    try:
        with snapshot(store) as conn:
            for table in tables:
                plan = plan_table(table, org.id, options.date_from, options.date_to)
                final = out / f"{plan.name}.{ext}"
                tmp = out / f".{final.name}{PARTIAL}"
                temps.append((tmp, final))
                with _create_private(tmp) as fh:
                    hashing = _HashingStream(fh)
                    rows, totals = _stream_table(
                        conn,
                        plan,
                        hashing,  # type: ignore[arg-type]
                        options.fmt,
                        constants,
                        options.batch_rows,
                        progress,
                    )
                    fh.flush()
                    os.fsync(fh.fileno())
                files.append(
                    FileResult(
                        plan.name,
                        final.name,
                        rows,
                        hashing.size,
                        hashing.sha.hexdigest(),
                        [c.manifest() for c in plan.columns],
                        plan.period,
                        totals,
                    )
                )
    except BaseException:
        for tmp, _ in temps:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    for tmp, final in temps:
        os.replace(tmp, final)
    written = {f.file for f in files}
    for p in out.iterdir():  # table files of an earlier export that this one does not hold
        if p.name in _final_names() and p.name not in written:
            p.unlink()
    manifest = build_manifest(org, options, files)
    _write_atomic(out / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    _fsync_dir(out)
    _audit(store, org, str(out), options, [f.table for f in files], sum(f.rows for f in files))
    return ExportResult(out, options.fmt, files, manifest)


def _audit(
    store: Store, org: OrgRef, target: str, options: ExportOptions, tables: list[str], rows: int
) -> None:
    from aiq.audit import record

    record(
        store,
        "data.export",
        org_id=org.id,
        target=target,
        details={
            "format": options.fmt,
            "tables": tables,
            "rows": rows,
            "from": options.date_from.isoformat() if options.date_from else None,
            "to": options.date_to.isoformat() if options.date_to else None,
        },
    )


def build_manifest(org: OrgRef, options: ExportOptions, files: list[FileResult]) -> dict[str, Any]:
    """The manifest: what was exported, from where, and how to check it."""
    return {
        "manifest_version": 1,
        "aiq_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "format": options.fmt,
        "org": {
            "id": org.id,
            "name": org.name,
            "currency": org.currency,
            "status": org.status,
        },
        "period": {
            "from": options.date_from.isoformat() if options.date_from else None,
            "to": options.date_to.isoformat() if options.date_to else None,
            "basis": "clinic-local date, inclusive",
        },
        "conventions": {
            "money": "integer cents in *_cents and a decimal amount beside it, in `currency`",
            "timestamps": "ISO 8601 in UTC with offset (+00:00); local_date is the clinic's day",
            "checksum": "sha256 of the file's bytes",
        },
        "files": [f.manifest() for f in files],
    }


def verify_export(out: Path) -> list[str]:
    """Problems found checking an export directory against its manifest (empty: all good)."""
    path = out / MANIFEST
    if not path.exists():
        return [f"{path} is missing: the export is incomplete"]
    manifest = json.loads(path.read_text())
    problems = []
    for f in manifest["files"]:
        p = out / f["file"]
        if not p.exists():
            problems.append(f"{f['file']} is missing")
            continue
        sha = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                sha.update(chunk)
        if sha.hexdigest() != f["sha256"]:
            problems.append(f"{f['file']} does not match its checksum")
    return problems
