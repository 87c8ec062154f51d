"""The engine factory: SQLite (the default) or Postgres, configured for aiq's workload.

Only ``aiq/store`` knows SQL dialects and database drivers; errors from them are translated here
into ``aiq.errors`` classes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from aiq.errors import DatabaseUnreachable, StoreError, UsageError
from aiq.store.reader import SQLITE_BUSY_TIMEOUT_MS


def parse_database_url(url: str) -> URL:
    """Check a database URL and return it with aiq's driver (psycopg 3 for Postgres)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UsageError(
            f"malformed database URL {redact_url(url)!r}",
            hint="use sqlite:///PATH or postgresql://USER@HOST:PORT/DBNAME",
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise UsageError(
                "an in-memory SQLite database keeps nothing", hint="use sqlite:///PATH to a file"
            )
        return parsed
    if backend in ("postgresql", "postgres"):
        if parsed.drivername not in ("postgresql", "postgres", "postgresql+psycopg"):
            raise UsageError(
                f"unsupported Postgres driver {parsed.drivername!r}",
                hint="use postgresql://... (aiq uses psycopg 3)",
            )
        if not parsed.database:
            raise UsageError(
                f"database URL {redact_url(url)!r} names no database",
                hint="add the database name: postgresql://USER@HOST:PORT/DBNAME",
            )
        return parsed.set(drivername="postgresql+psycopg")
    raise UsageError(
        f"unsupported database {backend!r} in {redact_url(url)!r}",
        hint="aiq works with sqlite:///PATH or postgresql://...",
    )


def redact_url(url: str | URL) -> str:
    """A database URL fit to show: the password replaced by ***."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", str(url))
    if parsed.drivername == "postgresql+psycopg":
        parsed = parsed.set(drivername="postgresql")
    return parsed.render_as_string(hide_password=True)


def _prepare_sqlite_file(path: Path) -> None:
    """Create the database file 0600 before SQLite opens it.

    Its directory must exist: a mistyped path would otherwise leave new directories and an empty
    database behind. Only aiq's own data directory is created (0700) when missing.
    """
    from aiq.config import default_data_dir

    if not path.parent.is_dir():
        if path.parent.resolve() != default_data_dir().resolve():
            raise UsageError(
                f"the directory of the SQLite database {path} does not exist",
                hint="check the path, or create the directory first",
            )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The stdlib driver opens transactions implicitly; aiq wants SQLAlchemy to drive them, so
    # BEGIN is emitted by the "begin" event below.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``: SQLite with WAL, foreign keys and a busy timeout, or Postgres."""
    parsed = parse_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database is not None
        path = Path(parsed.database).expanduser()
        try:
            _prepare_sqlite_file(path)
        except OSError as exc:
            raise StoreError(
                f"cannot create the database file {path}: {exc.strerror}",
                hint="check the directory exists and is writable, or pass --db",
            ) from None
        engine = create_engine(
            parsed.set(database=str(path)), echo=echo, poolclass=NullPool, future=True
        )
        event.listen(engine, "connect", _sqlite_pragmas)

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # A write transaction takes the write lock up front (IMMEDIATE): a deferred one that
            # reads first cannot wait for it later, and fails with "database is locked" when
            # another process (a second sync, a daemon's parallel run) wrote in between.
            immediate = conn.get_execution_options().get("aiq_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(
        parsed,
        echo=echo,
        pool_pre_ping=True,
        pool_size=4,
        max_overflow=8,
        connect_args={"connect_timeout": 5, "application_name": "aiq"},
    )


def translate_operational_error(exc: BaseException, url: str | URL) -> StoreError:
    """Turn a driver's connection failure into an aiq error naming the database and the fix."""
    text = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else ""
    where = redact_url(url)
    if "does not exist" in text and "database" in text:
        return StoreError(f"database in {where} does not exist", hint="create it or fix --db")
    if "password authentication failed" in text or "no password supplied" in text:
        return StoreError(
            f"Postgres refused the sign-in for {where}", hint="check the user and password"
        )
    if "unable to open database" in text or "readonly" in text:
        return StoreError(
            f"cannot open the SQLite database {where}: {text}",
            hint="check the path and its permissions",
        )
    if "SSL" in text or "certificate" in text:
        # libpq's reason, without its "connection to server at ... failed:" preamble.
        reason = text.rsplit("failed:", 1)[-1].strip()
        return DatabaseUnreachable(
            f"cannot connect to the database {where} over TLS: {reason}",
            hint="check sslmode and sslrootcert in the URL; docs/database.md, hosted Postgres",
        )
    return DatabaseUnreachable(
        f"cannot connect to the database {where}",
        hint="check it is running and the URL in --db / AIQ_DATABASE_URL is right",
    )
