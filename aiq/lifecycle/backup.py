"""Backups of the whole database, their restore, and their pruning.

Three kinds of backup file, told apart by their first bytes:

    sqlite    a SQLite database file, taken with SQLite's online backup API (a consistent
              snapshot while aiq keeps running); the default on SQLite
    logical   aiq's own dump (``aiq.lifecycle.dump``): gzip'd JSON lines read in one snapshot
              transaction; the default on Postgres, as it restores into any empty database or
              schema, Postgres or SQLite, with no client tools
    pg_dump   ``pg_dump --format=custom`` (``--method pg_dump``); restored with ``pg_restore``
              into a schema of the same name only (pg_restore cannot rename a schema)

``restore_backup`` loads a sqlite or logical backup into an empty database in one transaction:
the schema is created at the backup's migration, the rows are bulk-loaded, and the schema is then
brought to this aiq's newest migration. A database that holds data is refused unless ``force``.

Backup files are private (0600) and written under a temporary name renamed at the end. Their
names carry the UTC time they were taken (``aiq-backup-20261126T030000Z.sqlite``), which is what
``prune_backups`` goes by.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from sqlalchemy import Connection, MetaData, Table, create_engine, func, inspect, select, text
from sqlalchemy.pool import NullPool

from aiq.audit import record
from aiq.clock import utcnow
from aiq.errors import DatabaseTooNew, StoreError, UsageError
from aiq.lifecycle.dump import MAGIC, DumpReader, DumpTable, write_dump
from aiq.store import bulk
from aiq.store.db import MIGRATIONS_DIR, Store, head_revision, known_revisions
from aiq.store.models import metadata

if TYPE_CHECKING:
    from aiq.config import Settings

PREFIX = "aiq-backup-"
STAMP = "%Y%m%dT%H%M%SZ"
SUFFIXES = {"sqlite": ".sqlite", "logical": ".aiqdump.gz", "pg_dump": ".pgdump"}
METHODS = ("auto", "sqlite", "logical", "pg_dump")
_NAME = re.compile(r"^aiq-backup-(\d{8}T\d{6}Z)(\.sqlite|\.aiqdump\.gz|\.pgdump)$")
SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


@dataclass
class BackupResult:
    """A backup taken: the file, how, its size and the rows it holds (when counted)."""

    path: Path
    method: str
    bytes: int
    seconds: float
    rows: dict[str, int] = field(default_factory=dict)


@dataclass
class RestoreResult:
    """A restore: from which file and method, at which migration, and the rows loaded."""

    path: Path
    method: str
    revision: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


# --- where backups go ---------------------------------------------------------------------------


def backup_dir(settings: Settings) -> Path:
    """The backup directory: ``[data] backup_dir``, or ``backups`` in the data directory."""
    if settings.data.backup_dir:
        return Path(settings.data.backup_dir).expanduser()
    return settings.data_dir / "backups"


def backup_name(method: str, when: datetime | None = None) -> str:
    """The file name of a backup taken at ``when`` (UTC) with ``method``."""
    stamp = (when or datetime.now(UTC)).strftime(STAMP)
    return f"{PREFIX}{stamp}{SUFFIXES[method]}"


def backup_time(path: Path) -> datetime | None:
    """When a backup was taken (naive UTC), from its name; None for a file that is not one."""
    m = _NAME.match(path.name)
    return datetime.strptime(m.group(1), STAMP) if m else None


def list_backups(settings: Settings) -> list[Path]:
    """The backups in the backup directory, oldest first."""
    folder = backup_dir(settings)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if backup_time(p) is not None]
    return sorted(found, key=lambda p: backup_time(p) or datetime.min)


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


def _resolve_method(store: Store, method: str) -> str:
    if method not in METHODS:
        raise UsageError(f"unknown backup method {method!r}", hint=f"use one of {METHODS}")
    if method == "auto":
        return "sqlite" if store.dialect == "sqlite" else "logical"
    if method == "sqlite" and store.dialect != "sqlite":
        raise UsageError("--method sqlite backs up a SQLite database only", hint="use logical")
    if method == "pg_dump" and store.dialect != "postgresql":
        raise UsageError("--method pg_dump backs up a Postgres database only", hint="use sqlite")
    return method


def _target(settings: Settings, out: Path | None, method: str, *, into_dir: bool) -> Path:
    if out is None:
        folder = backup_dir(settings)
        _private_dir(folder)
        return folder / backup_name(method)
    if into_dir or out.is_dir():
        _private_dir(out)
        return out / backup_name(method)
    _private_dir(out.parent)
    return out


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


STALE_PARTIAL_SECONDS = 3600.0
"""A backup in progress writes its .partial file continuously; one left untouched this long is
what a killed backup left behind (sealed credentials and business data in it)."""


def remove_stale_partials(folder: Path, *, now: float | None = None) -> list[Path]:
    """Delete the half-written backups a killed ``aiq backup`` left in ``folder``."""
    if not folder.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - STALE_PARTIAL_SECONDS
    removed = []
    for path in folder.iterdir():
        name = path.name
        if not (name.startswith(".") and name.endswith(".partial")):
            continue
        if not _NAME.match(name[1 : -len(".partial")]):
            continue
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed.append(path)
    return removed


# --- taking a backup ----------------------------------------------------------------------------


def take_backup(
    store: Store,
    settings: Settings,
    out: Path | None = None,
    *,
    method: str = "auto",
    into_dir: bool = False,
) -> BackupResult:
    """Take a consistent backup of the whole database; returns where it went.

    ``out`` is a file, or a directory to put a dated file in (default: the backup directory);
    with ``into_dir`` (``--out DIR/``, a trailing slash) it is a directory, created if need be.
    """
    chosen = _resolve_method(store, method)
    path = _target(settings, out, chosen, into_dir=into_dir)
    remove_stale_partials(path.parent)
    tmp = _partial(path)
    started = time.perf_counter()
    rows: dict[str, int] = {}
    try:
        if chosen == "sqlite":
            _sqlite_backup(store, tmp)
        elif chosen == "logical":
            rows = _logical_backup(store, tmp)
        else:
            _pg_dump(store, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    size = path.stat().st_size
    record(
        store,
        "data.backup",
        target=str(path),
        details={"method": chosen, "bytes": size},
    )
    return BackupResult(path, chosen, size, time.perf_counter() - started, rows)


def _open_private(path: Path) -> Any:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


def _sqlite_backup(store: Store, tmp: Path) -> None:
    # Create the file private before SQLite opens it.
    _open_private(tmp).close()
    raw = store.engine.raw_connection()
    try:
        src = raw.driver_connection
        assert isinstance(src, sqlite3.Connection)
        dst = sqlite3.connect(tmp)
        try:
            # One step (pages=-1): the copy is one consistent snapshot of the source.
            src.backup(dst)
            # The copy is a self-contained file, not a WAL database needing side files.
            dst.execute("PRAGMA journal_mode=DELETE")
            ok = dst.execute("PRAGMA quick_check").fetchone()
            if not ok or ok[0] != "ok":
                raise StoreError(f"the backup copy failed its integrity check: {ok}")
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise StoreError(f"SQLite backup failed: {exc}") from exc
    finally:
        raw.close()


@contextlib.contextmanager
def _snapshot(store: Store) -> Iterator[Connection]:
    from aiq.export.run import snapshot

    with snapshot(store) as conn:
        yield conn


def _logical_backup(store: Store, tmp: Path) -> dict[str, int]:
    revision = store.check_revision() or head_revision()
    with _open_private(tmp) as fh, _snapshot(store) as conn:
        counts = write_dump(conn, list(metadata.sorted_tables), revision, store.dialect, fh)
        fh.flush()
        os.fsync(fh.fileno())
    return counts


# --- pg_dump / pg_restore -----------------------------------------------------------------------


@dataclass
class _PgTarget:
    conninfo: str
    env: dict[str, str]
    schema: str | None


def _pg_target(store: Store) -> _PgTarget:
    url = store.engine.url
    options = url.query.get("options")
    opts = " ".join(options) if isinstance(options, tuple) else (options or "")
    m = re.search(r"search_path\s*=\s*([^\s,]+)", unquote(opts))
    schema = m.group(1).strip('"') if m else None
    plain = url.set(drivername="postgresql", password=None, query={})
    env = dict(os.environ)
    if url.password:
        # A password goes through the environment, never on a command line (ps shows those).
        env["PGPASSWORD"] = str(url.password)
    if opts:
        env["PGOPTIONS"] = opts
    return _PgTarget(plain.render_as_string(hide_password=False), env, schema)


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise UsageError(
            f"{name} is not installed",
            hint="install the PostgreSQL client tools, or use --method logical",
        )
    return path


def _run(cmd: list[str], env: dict[str, str], what: str) -> str:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = [x for x in proc.stderr.strip().splitlines() if x.strip()]
        raise StoreError(
            f"{what} failed: {lines[0] if lines else f'exit {proc.returncode}'}",
            hint="a server newer than the client tools needs matching ones; "
            "--method logical needs none",
        )
    return proc.stdout


def _pg_dump(store: Store, tmp: Path) -> None:
    target = _pg_target(store)
    _open_private(tmp).close()
    cmd = [_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges"]
    if target.schema:
        cmd.append(f"--schema={target.schema}")
    cmd += [f"--file={tmp}", f"--dbname={target.conninfo}"]
    _run(cmd, target.env, "pg_dump")


_LISTED_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (?!DATA )(\S+) ")


def _pg_restore_list(store: Store, path: Path) -> list[str]:
    """The entries of a pg_dump file to restore here; refuses a dump of another schema."""
    target = _pg_target(store)
    listing = _run([_pg_tool("pg_restore"), "--list", str(path)], target.env, "pg_restore --list")
    schemas = {m.group(1) for m in map(_LISTED_TABLE.match, listing.splitlines()) if m}
    want = target.schema or "public"
    if schemas and schemas != {want}:
        raise UsageError(
            f"this pg_dump backup holds schema {', '.join(sorted(schemas))}; "
            f"the database uses {want}",
            hint="pg_restore cannot rename a schema: restore a logical backup instead",
        )
    # Leave out the CREATE SCHEMA entry: the schema already exists.
    return [x for x in listing.splitlines() if " SCHEMA - " not in x]


def _pg_restore(store: Store, path: Path, entries: list[str]) -> None:
    target = _pg_target(store)
    list_file = path.with_name(f".{path.name}.{os.getpid()}.list")
    list_file.write_text("\n".join(entries) + "\n")
    try:
        _run(
            [
                _pg_tool("pg_restore"),
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                f"--use-list={list_file}",
                f"--dbname={target.conninfo}",
                str(path),
            ],
            target.env,
            "pg_restore",
        )
    finally:
        list_file.unlink(missing_ok=True)


# --- restoring ----------------------------------------------------------------------------------


def backup_method_of(path: Path) -> str:
    """Which kind of backup a file is, from its first bytes."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except FileNotFoundError:
        raise UsageError(f"no backup file at {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "pg_dump"
    if head.startswith(MAGIC):
        return "logical"
    raise UsageError(f"{path} is not an aiq backup", hint="give a file aiq backup wrote")


class _SQLiteSource:
    """A SQLite backup file read as a dump: its revision, its tables, their rows in batches."""

    def __init__(self, path: Path) -> None:
        self.path = path
        uri = f"file:{path}?mode=ro"
        self.engine = create_engine(
            "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True), poolclass=NullPool
        )
        try:
            with self.engine.connect() as conn:
                self.revision = str(
                    conn.execute(text("select version_num from alembic_version")).scalar_one()
                )
                self.meta = MetaData()
                self.meta.reflect(conn)
        except Exception as exc:
            self.engine.dispose()
            raise UsageError(f"{path} is not a readable aiq SQLite backup: {exc}") from None
        self.table_objs = [t for t in self.meta.sorted_tables if t.name != "alembic_version"]
        self.tables = [
            DumpTable(t.name, [(c.name, "") for c in t.columns]) for t in self.table_objs
        ]

    def batches(self) -> Iterator[tuple[DumpTable, list[list[Any]]]]:
        with self.engine.connect() as conn:
            for table, spec in zip(self.table_objs, self.tables, strict=True):
                query = select(*table.columns).order_by(*table.primary_key.columns)
                for part in conn.execute(query).partitions(5000):
                    yield spec, [list(r) for r in part]

    def close(self) -> None:
        self.engine.dispose()


def _alembic_upgrade(conn: Connection, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def _aiq_tables_present(conn: Connection) -> list[str]:
    names = set(inspect(conn).get_table_names())
    return sorted(names & (set(metadata.tables) | {"alembic_version"}))


def database_rows(store: Store) -> int:
    """How many rows aiq's tables hold (0 for a database aiq never touched)."""
    with store.connect() as conn:
        present = [n for n in _aiq_tables_present(conn) if n != "alembic_version"]
        total = 0
        for name in present:
            total += int(
                conn.execute(select(func.count()).select_from(metadata.tables[name])).scalar_one()
            )
    return total


def _drop_aiq_tables(conn: Connection) -> None:
    present = _aiq_tables_present(conn)
    if not present:
        return
    meta = MetaData()
    meta.reflect(conn, only=present)
    meta.drop_all(conn)
    from aiq.store.security import drop_security_functions

    drop_security_functions(conn)


def _reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """Move Postgres serial sequences past the restored ids."""
    for table in tables:
        if "id" not in table.c:
            continue
        seq = conn.execute(
            text("select pg_get_serial_sequence(:t, 'id')"), {"t": table.name}
        ).scalar()
        if seq:
            conn.execute(
                text(
                    f"select setval(:s, coalesce(max(id), 1), max(id) is not null) "
                    f"from {table.name}"
                ),
                {"s": seq},
            )


def _load(conn: Connection, source: DumpReader | _SQLiteSource) -> dict[str, int]:
    meta = MetaData()
    meta.reflect(conn)
    counts = {t.name: 0 for t in source.tables}
    for spec, rows in source.batches():
        if spec.name not in meta.tables:
            raise UsageError(f"the backup holds table {spec.name!r}, unknown at its migration")
        names = [c for c, _ in spec.columns]
        bulk.insert(conn, meta.tables[spec.name], [dict(zip(names, r, strict=True)) for r in rows])
        counts[spec.name] += len(rows)
    if conn.dialect.name == "postgresql":
        _reset_sequences(conn, list(meta.tables.values()))
    return counts


def restore_backup(store: Store, path: Path, *, force: bool = False) -> RestoreResult:
    """Restore ``path`` into ``store``: an empty database, or any with ``force`` (replaced)."""
    started = time.perf_counter()
    method = backup_method_of(path)
    store.check_revision()
    rows_before = database_rows(store)
    if rows_before and not force:
        raise UsageError(
            f"the database {store.display_url} is not empty ({rows_before:,} rows); "
            "restore refuses to overwrite it",
            hint="restore into an empty database, or pass --force to replace its contents",
        )
    if method == "pg_dump":
        return _restore_pg_dump(store, path, started)
    source: DumpReader | _SQLiteSource = (
        DumpReader(path) if method == "logical" else _SQLiteSource(path)
    )
    try:
        if source.revision not in known_revisions():
            raise DatabaseTooNew(
                f"the backup is at migration {source.revision}, newer than this aiq knows",
                hint="upgrade aiq (pip install -U aiq) to restore it",
            )
        with store.begin() as conn:
            _drop_aiq_tables(conn)
            _alembic_upgrade(conn, source.revision)
            counts = _load(conn, source)
            _alembic_upgrade(conn, "head")
            record(
                conn,
                "data.restore",
                target=str(path),
                details={
                    "method": method,
                    "revision": source.revision,
                    "rows": sum(counts.values()),
                    "replaced_rows": rows_before,
                },
            )
    finally:
        source.close()
    return RestoreResult(path, method, source.revision, counts, time.perf_counter() - started)


def _restore_pg_dump(store: Store, path: Path, started: float) -> RestoreResult:
    if store.dialect != "postgresql":
        raise UsageError("a pg_dump backup restores into Postgres only")
    entries = _pg_restore_list(store, path)
    with store.begin() as conn:
        _drop_aiq_tables(conn)
    _pg_restore(store, path, entries)
    store.ensure_schema()
    revision = store.check_revision() or ""
    record(store, "data.restore", target=str(path), details={"method": "pg_dump"})
    counts = {c.table: c.rows for c in store.table_counts()}
    return RestoreResult(path, "pg_dump", revision, counts, time.perf_counter() - started)


# --- pruning ------------------------------------------------------------------------------------


def prune_backups(
    settings: Settings,
    keep_days: int | None = None,
    *,
    now: datetime | None = None,
    store: Store | None = None,
) -> list[Path]:
    """Delete backups older than ``keep_days`` (default ``[data] backup_keep_days``), and what
    killed backups left half-written.

    Only files named as aiq names its backups are touched. Returns the files removed; with a
    store, the pruning is recorded in its audit log.
    """
    days = settings.data.backup_keep_days if keep_days is None else keep_days
    if days < 0:
        raise UsageError("backup_keep_days must be 0 or more")
    cutoff = (now or utcnow()) - timedelta(days=days)
    removed = remove_stale_partials(backup_dir(settings))
    for path in list_backups(settings):
        taken = backup_time(path)
        if taken is not None and taken < cutoff:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            removed.append(path)
    if removed and store is not None:
        record(
            store,
            "backup.prune",
            target=str(backup_dir(settings)),
            details={"keep_days": days, "removed": [p.name for p in removed]},
        )
    return removed
