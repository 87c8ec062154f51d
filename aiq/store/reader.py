"""The read path of reports: plain SQL over the database driver, in one consistent snapshot.

Reports are what people run by hand and expect at once. Importing SQLAlchemy, SQLModel and the
model classes costs more than answering the question (0.3 s on a fast machine, 0.6-0.9 s on a
slow one, against a few milliseconds of queries over the rollups), so ``aiq report`` reads with
the standard library's ``sqlite3`` or with ``psycopg`` directly:

- ``open_reader(url)`` connects straight to the database when the URL plainly names an SQLite
  file that exists or a Postgres database, and the schema is at this aiq's migration. Anything
  else (a first run, a database to migrate or too new, a URL to reject, a server to diagnose)
  goes through the full store once, which migrates or fails with its usual message.
- ``Store.reader()`` gives the same ``Reader`` over one of the store's connections, for callers
  that hold a store already (the demo, the tests).

A ``Reader`` runs every query of a report in one read-only snapshot: a deferred transaction on
SQLite (WAL keeps it consistent while a sync writes), ``REPEATABLE READ READ ONLY`` on Postgres.
SQL is written once with ``:name`` parameters; the reader adapts them to the driver, and turns
the values SQLite keeps as text (dates, timestamps, JSON) back into Python objects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from aiq.errors import AiqError, PermissionDenied, StoreError

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long an SQLite connection waits for another's lock (the engine's too)."""

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_LITERAL = re.compile(r"[A-Za-z0-9_:.-]+")


def driver_error(exc: BaseException) -> AiqError:
    """An aiq error for a database driver's error, naming what the database said."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    if "permission denied" in first or "row-level security" in first:
        return PermissionDenied(
            f"the database refused: {first}",
            hint="your role does not allow this; see aiq orgs list and docs/teams.md",
        )
    return StoreError(f"database error: {first}")


def in_list(values: Sequence[str | int]) -> str:
    """``('paid', 'refunded')``: a list of code constants inlined into SQL.

    Only for aiq's own vocabularies (statuses, item types) and integer ids, never for input.
    """
    parts = []
    for v in values:
        if isinstance(v, int):
            parts.append(str(int(v)))
        elif _LITERAL.fullmatch(v):
            parts.append(f"'{v}'")
        else:
            raise ValueError(f"not a SQL constant: {v!r}")
    return "(" + ", ".join(parts) + ")" if parts else "(NULL)"


def as_date(value: Any) -> date:
    """A date column's value: SQLite keeps ``YYYY-MM-DD`` text, Postgres gives a date."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def as_datetime(value: Any) -> datetime | None:
    """A timestamp column's value (naive UTC): text on SQLite, a datetime on Postgres."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def as_list(value: Any) -> list[Any]:
    """A JSON list column's value: text on SQLite, already decoded on Postgres."""
    if value is None:
        return []
    if isinstance(value, str | bytes):
        decoded = json.loads(value)
        return list(decoded) if isinstance(decoded, list) else []
    return list(value)


class Reader:
    """Queries in one read-only snapshot over a DB-API connection (``sqlite3`` or ``psycopg``)."""

    def __init__(self, conn: Any, dialect: str) -> None:
        self._conn = conn
        self.dialect = dialect  # "sqlite" | "postgresql"

    def _sql(self, sql: str) -> str:
        return sql if self.dialect == "sqlite" else _PARAM.sub(r"%(\1)s", sql)

    def _params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if self.dialect != "sqlite":
            return dict(params)
        out: dict[str, Any] = {}
        for k, v in params.items():
            # The text SQLAlchemy stores on SQLite, so comparisons are between like strings.
            if isinstance(v, datetime):
                v = v.isoformat(" ", "microseconds")
            elif isinstance(v, date):
                v = v.isoformat()
            out[k] = v
        return out

    def rows(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Every row of ``sql`` as tuples."""
        try:
            cur = self._conn.cursor()
            try:
                cur.execute(self._sql(sql), self._params(params))
                return [tuple(r) for r in cur.fetchall()]
            finally:
                cur.close()
        except Exception as exc:
            if _is_driver_error(exc):
                raise driver_error(exc) from exc
            raise

    def dicts(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """Every row of ``sql`` as a dict keyed by column name."""
        try:
            cur = self._conn.cursor()
            try:
                cur.execute(self._sql(sql), self._params(params))
                names = [d[0] for d in cur.description]
                return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            finally:
                cur.close()
        except Exception as exc:
            if _is_driver_error(exc):
                raise driver_error(exc) from exc
            raise

    def one(self, sql: str, **params: Any) -> tuple[Any, ...]:
        """The single row of ``sql`` (an aggregate)."""
        rows = self.rows(sql, **params)
        if len(rows) != 1:
            raise StoreError(f"expected one row, got {len(rows)}")
        return rows[0]

    @contextmanager
    def snapshot(self) -> Iterator[Reader]:
        """Every query inside sees the database as of the first one."""
        if self.dialect == "sqlite":
            self._conn.execute("BEGIN")
            try:
                yield self
            finally:
                self._conn.execute("ROLLBACK")
            return
        self._conn.rollback()  # end whatever the connection's pool or driver began
        cur = self._conn.cursor()
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        # A report reads one period of a practice through the date indexes, mostly from cache.
        # With the default cost of a random page (4, for spinning disks), Postgres prefers to
        # hash-join every item of the practice's whole history to one month's invoices: 30-45 ms
        # a query on three years, growing with the history, against 11-13 ms by index lookups.
        # 1.1 is the usual setting for SSDs and cached data; it holds for this transaction only.
        cur.execute("SET LOCAL random_page_cost = 1.1")
        cur.close()
        try:
            yield self
        finally:
            self._conn.rollback()


def _is_driver_error(exc: BaseException) -> bool:
    module = type(exc).__module__
    return module.startswith(("sqlite3", "psycopg"))


def _direct_target(url: str) -> tuple[str, str] | None:
    """(dialect, path or conninfo) when ``url`` plainly names a database to connect to directly."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql", "postgresql://" + url[len(prefix) :]
    if url.startswith("sqlite:///") and "?" not in url:
        path = Path(url[len("sqlite:///") :]).expanduser()
        if str(path) and str(path) != ":memory:" and path.is_file():
            return "sqlite", str(path)
    return None


def _connect(dialect: str, target: str) -> Any:
    if dialect == "sqlite":
        import sqlite3

        conn = sqlite3.connect(target, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.execute("PRAGMA query_only=ON")
        return conn
    import psycopg

    return psycopg.connect(target, connect_timeout=5, application_name="aiq")


def _stored_revision(conn: Any, dialect: str) -> str | None:
    cur = conn.cursor()
    try:
        cur.execute("select version_num from alembic_version")
        row = cur.fetchone()
    except Exception as exc:
        if not _is_driver_error(exc):
            raise
        if dialect != "sqlite":
            conn.rollback()
        return None
    finally:
        cur.close()
    if dialect != "sqlite":
        conn.rollback()
    return None if row is None else str(row[0])


@contextmanager
def open_reader(url: str) -> Iterator[Reader]:
    """A reader on the database at ``url``, in one snapshot; see the module docstring."""
    from aiq.store.migrations import HEAD

    target = _direct_target(url)
    conn = None
    if target is not None:
        try:
            conn = _connect(*target)
        except Exception as exc:
            if not _is_driver_error(exc):
                raise
            if target[0] != "sqlite":
                # Postgres did not let us in (down, unreachable, refused the sign-in): say so
                # now. The store would only try again, and wait for the timeout a second time.
                from aiq.store.engine import translate_operational_error

                raise translate_operational_error(exc, url) from None
    if conn is not None:
        assert target is not None
        try:
            if _stored_revision(conn, target[0]) != HEAD:
                conn.close()
                conn = None
        except Exception as exc:
            if not _is_driver_error(exc):
                raise
            if conn is not None:
                conn.close()
            conn = None  # let the full store name the problem
    if conn is None:
        from aiq.store.db import open_store

        store = open_store(url)  # migrates, or raises the error a person should read
        try:
            with store.reader() as reader:
                yield reader
        finally:
            store.dispose()
        return
    assert target is not None
    try:
        reader = Reader(conn, target[0])
        with reader.snapshot():
            yield reader
    finally:
        conn.close()


class UrlSource:
    """Where reports read from when no store is open: the database URL, opened per report."""

    def __init__(self, url: str) -> None:
        self.url = url

    def reader(self) -> AbstractContextManager[Reader]:
        return open_reader(self.url)


class ReadSource(Protocol):
    """A ``Store`` or a ``UrlSource``: anything that opens a ``Reader``."""

    def reader(self) -> AbstractContextManager[Reader]: ...
