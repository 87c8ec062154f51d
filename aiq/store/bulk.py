"""Bulk writes, per dialect: the fast paths are the normal paths.

SQLite: ``INSERT ... VALUES (...), (...) ON CONFLICT DO UPDATE`` statements of many rows each
(``_sqlite_values``) per table and batch, inside the caller's transaction. Postgres: ``COPY`` into
a temporary table and one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` merge per table and
batch; rows expected to be new (``add_rows``) are copied straight into the table. Both skip rows
whose ``row_hash`` did not change.

Rows come as dicts (``upsert``, ``insert``: the small tables) or as tuples in a given column order
(``upsert_rows``, ``insert_rows``: the sync's many rows, built that way by the mapping so nothing is
converted per row here). Tuples of plain values go to Postgres in COPY's binary format, which
psycopg writes in C with no text formatting on either side.

Values are adapted once (dates to ISO text on SQLite, JSON to text) so the drivers do no per-row
type work beyond their own.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from itertools import chain
from operator import itemgetter, methodcaller
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select

_CHUNK = 900  # bound parameters per IN (...) list; well under SQLite's limit


def _pk(table: Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]


class _Texts(dict[Any, str]):
    """Texts of values, remembered: ``texts[value]`` (in C when it hits). Emptied when full."""

    __slots__ = ("format", "limit")

    def __init__(self, format: Callable[[Any], str], limit: int) -> None:
        super().__init__()
        self.format = format
        self.limit = limit

    def __missing__(self, value: Any) -> str:
        text = self.format(value)
        if len(self) >= self.limit:
            self.clear()
        self[value] = text
        return text


_DATE_TEXT = _Texts(date.isoformat, 10_000)
_TIME_TEXT = _Texts(methodcaller("isoformat", "microseconds"), 100_000)


def _sqlite_datetime(value: datetime) -> str:
    """The text SQLAlchemy writes for a SQLite DateTime ("YYYY-MM-DD HH:MM:SS.ffffff"), so its
    reads round-trip and text comparisons order correctly.

    Made of the date's text and the time of day's, each remembered: a sync's values fall on a few
    hundred days and a few thousand times of day, and formatting a whole datetime costs (9,000
    instructions) about three times this.
    """
    if value.tzinfo is not None:
        return value.isoformat(" ", "microseconds")
    return _DATE_TEXT[value.date()] + " " + _TIME_TEXT[value.time()]


# aiq's bulk paths hand date and datetime objects straight to sqlite3; these adapters give them the
# text forms SQLAlchemy uses (SQLAlchemy itself converts before the driver, so it is unaffected).
sqlite3.register_adapter(datetime, _sqlite_datetime)
sqlite3.register_adapter(date, _DATE_TEXT.__getitem__)
# sqlite3 binds int, float and str as they are, but looks every other value up among its adapters
# and then for __adapt__ and __conform__ methods before binding it as it is: for None and bool,
# that search is most of what binding them costs. The same values, found at once.
_NOTHING: dict[Any, None] = {}
sqlite3.register_adapter(type(None), _NOTHING.get)  # None for None, in C
sqlite3.register_adapter(bool, int)

# Postgres types whose binary COPY form psycopg writes from the plain Python values aiq's rows
# hold (bool, int2, int4, int8, text, varchar, date, timestamp). A table with any other column
# type (JSON) is copied as text.
_BINARY_COPY_OIDS = frozenset({16, 21, 23, 20, 25, 1043, 1082, 1114})


def _sqlite_rows(rows: Sequence[dict[str, Any]], cols: list[str]) -> list[tuple[Any, ...]]:
    get = itemgetter(*cols)
    if len(cols) == 1:
        return [(get(r),) for r in rows]
    json_cols = [i for i, c in enumerate(cols) if isinstance(rows[0][c], list | dict)]
    if not json_cols:
        return list(map(get, rows))  # the hot path: tuples built in C
    out = []
    for r in rows:
        t = list(get(r))
        for i in json_cols:
            t[i] = json.dumps(t[i])
        out.append(tuple(t))
    return out


def _pg_value(value: Any) -> Any:
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def _driver(conn: Connection) -> Any:
    raw = conn.connection.driver_connection
    assert raw is not None
    return raw


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` or update the existing rows with the same primary key.

    When the table has a ``row_hash`` column, a row whose hash is unchanged is not rewritten.
    """
    if not rows:
        return
    cols = list(rows[0].keys())
    if conn.dialect.name == "sqlite":
        _sqlite_upsert(conn, table, cols, _sqlite_rows(rows, cols))
        return
    _pg_upsert(conn, table, cols, ([_pg_value(r[c]) for c in cols] for r in rows), binary=False)


def upsert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """``upsert`` for rows given as tuples of plain values in ``columns`` order (no JSON)."""
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        _sqlite_upsert(conn, table, columns, rows)
        return
    _pg_upsert(conn, table, columns, rows, binary=True)


def _sqlite_upsert(
    conn: Connection, table: Table, cols: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    pk = _pk(table)
    updates = [c for c in cols if c not in pk]
    if updates:
        sets = ", ".join(f"{c} = excluded.{c}" for c in updates)
        tail = f" ON CONFLICT ({', '.join(pk)}) DO UPDATE SET {sets}"
        if "row_hash" in cols:
            tail += f" WHERE {table.name}.row_hash IS NOT excluded.row_hash"
    else:
        tail = " ON CONFLICT DO NOTHING"
    _sqlite_values(conn, f"INSERT INTO {table.name} ({', '.join(cols)})", len(cols), rows, tail)


_SQLITE_PARAMETERS = 999
"""Bound parameters a statement takes at most: the lowest limit of any SQLite build."""


def _sqlite_values(
    conn: Connection, head: str, width: int, rows: Sequence[Sequence[Any]], tail: str = ""
) -> None:
    """Run ``head VALUES (?, ...), (?, ...)... tail`` over ``rows``, many rows a statement.

    ``executemany`` steps a statement once a row, and each step lets go of the interpreter lock and
    takes it back: while the fetch threads are busy, that hand-over costs more CPU than the row's
    insert itself. A statement of many rows steps once. SQLite inserts the rows one after another,
    as ``executemany`` would (a conflict within one statement is met as it would be there).
    """
    per = max(1, _SQLITE_PARAMETERS // width)
    one = f"({', '.join('?' * width)})"
    raw = _driver(conn)
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        values = ", ".join([one] * len(chunk))
        raw.execute(f"{head} VALUES {values}{tail}", tuple(chain.from_iterable(chunk)))


def _copy_into_temp(
    cur: Any, table: Table, cols: Sequence[str], rows: Iterable[Sequence[Any]], *, binary: bool
) -> str:
    """COPY ``rows`` into the session's temporary twin of ``table`` (emptied first); its name."""
    tmp = f"_aiq_tmp_{table.name}"
    cur.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {tmp} (LIKE {table.name} INCLUDING DEFAULTS) "
        "ON COMMIT DELETE ROWS"
    )
    cur.execute(f"TRUNCATE {tmp}")
    _copy(cur, tmp, cols, rows, binary=binary)
    return tmp


def _copy(
    cur: Any, name: str, cols: Sequence[str], rows: Iterable[Sequence[Any]], *, binary: bool
) -> None:
    oids: list[int] = []
    if binary:
        cur.execute(
            "SELECT a.attname, a.atttypid::int FROM pg_attribute a "
            "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            (name,),
        )
        types = dict(cur.fetchall())
        oids = [types[c] for c in cols]
        binary = all(oid in _BINARY_COPY_OIDS for oid in oids)
    fmt = " (FORMAT BINARY)" if binary else ""
    with cur.copy(f"COPY {name} ({', '.join(cols)}) FROM STDIN{fmt}") as copy:
        if binary:
            copy.set_types(oids)
        write = copy.write_row
        for r in rows:
            write(r)


def _pg_upsert(
    conn: Connection,
    table: Table,
    cols: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    binary: bool,
) -> None:
    pk = _pk(table)
    updates = [c for c in cols if c not in pk]
    with _driver(conn).cursor() as cur:
        tmp = _copy_into_temp(cur, table, cols, rows, binary=binary)
        sql = f"INSERT INTO {table.name} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM {tmp}"
        if updates:
            sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in updates)
            sql += f" ON CONFLICT ({', '.join(pk)}) DO UPDATE SET {sets}"
            if "row_hash" in cols:
                sql += f" WHERE {table.name}.row_hash IS DISTINCT FROM EXCLUDED.row_hash"
        else:
            sql += " ON CONFLICT DO NOTHING"
        cur.execute(sql)


def insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Plain bulk insert (the caller has removed any conflicting rows)."""
    if not rows:
        return
    cols = list(rows[0].keys())
    if conn.dialect.name == "sqlite":
        _sqlite_insert(conn, table, cols, _sqlite_rows(rows, cols))
        return
    _pg_insert(conn, table, cols, ([_pg_value(r[c]) for c in cols] for r in rows), binary=False)


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """``insert`` for rows given as tuples of plain values in ``columns`` order (no JSON)."""
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        _sqlite_insert(conn, table, columns, rows)
        return
    _pg_insert(conn, table, columns, rows, binary=True)


def add_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> bool:
    """Insert rows expected to be new (most of a first sync's); False if one of them exists.

    A plain insert, with no merge: on Postgres a COPY straight into the table, with no temporary
    table (the merge was about half of a first sync's database time). It runs inside a savepoint:
    when a row exists after all (a record that moved to a window already written in the same run,
    an id AR reused), nothing is written and the caller looks closer.
    """
    if not rows:
        return True
    raw = _driver(conn)
    raw.execute("SAVEPOINT aiq_add_rows")
    try:
        insert_rows(conn, table, columns, rows)
    except Exception as exc:
        raw.execute("ROLLBACK TO SAVEPOINT aiq_add_rows")
        raw.execute("RELEASE SAVEPOINT aiq_add_rows")
        if _is_duplicate_key(exc):
            return False
        raise
    raw.execute("RELEASE SAVEPOINT aiq_add_rows")
    return True


def _is_duplicate_key(exc: Exception) -> bool:
    if isinstance(exc, sqlite3.IntegrityError):
        return getattr(exc, "sqlite_errorname", "") in (
            "SQLITE_CONSTRAINT_PRIMARYKEY",
            "SQLITE_CONSTRAINT_UNIQUE",
        )
    return getattr(exc, "sqlstate", None) == "23505"  # psycopg: unique_violation


def _sqlite_insert(
    conn: Connection, table: Table, cols: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    _sqlite_values(conn, f"INSERT INTO {table.name} ({', '.join(cols)})", len(cols), rows)


def _pg_insert(
    conn: Connection,
    table: Table,
    cols: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    binary: bool,
) -> None:
    raw = _driver(conn)
    if _row_security_applies(conn, table):
        # COPY FROM cannot go through row-level security (a staff role's sync, docs/teams.md):
        # COPY into a temporary table and insert from it, where the policies apply.
        with raw.cursor() as cur:
            tmp = _copy_into_temp(cur, table, cols, rows, binary=binary)
            names = ", ".join(cols)
            cur.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {tmp}")
        return
    with raw.cursor() as cur:
        _copy(cur, table.name, cols, rows, binary=binary)


def _row_security_applies(conn: Connection, table: Table) -> bool:
    """Whether row-level security filters the current role's writes to ``table`` (Postgres)."""
    from sqlalchemy import text

    return bool(
        conn.execute(
            text(
                "select c.relrowsecurity and not pg_has_role(c.relowner, 'USAGE') "
                "and not exists (select 1 from pg_roles r where r.rolname = current_user "
                "and (r.rolsuper or r.rolbypassrls)) "
                "from pg_class c where c.oid = to_regclass(:t)"
            ),
            {"t": table.name},
        ).scalar()
    )


def _chunks(ids: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def delete_where_in(
    conn: Connection, table: Table, org_id: int, column: str, ids: Iterable[int]
) -> int:
    """Delete the org's rows whose ``column`` is in ``ids``; returns how many went."""
    id_list = sorted(set(ids))
    if not id_list:
        return 0
    col = table.c[column]
    stmt = table.delete().where(table.c.org_id == org_id, col.in_(bindparam("ids", expanding=True)))
    n = 0
    for chunk in _chunks(id_list):
        n += conn.execute(stmt, {"ids": list(chunk)}).rowcount or 0
    return n


def hashes_in_dates(
    conn: Connection, table: Table, org_id: int, ranges: Sequence[tuple[date, date]]
) -> dict[int, tuple[int, date]]:
    """``id -> (row_hash, local_date)`` of the org's rows dated within any of ``ranges``."""
    found: dict[int, tuple[int, date]] = {}
    stmt = select(table.c.id, table.c.row_hash, table.c.local_date).where(
        table.c.org_id == org_id,
        table.c.local_date.between(bindparam("lo"), bindparam("hi")),
    )
    for lo, hi in _merge_ranges(ranges):
        for rid, h, d in conn.execute(stmt, {"lo": lo, "hi": hi}):
            found[rid] = (h, d)
    return found


def hashes_for_ids(
    conn: Connection, table: Table, org_id: int, ids: Iterable[int]
) -> dict[int, tuple[int, date]]:
    """``id -> (row_hash, local_date)`` of the org's rows with these ids."""
    id_list = sorted(set(ids))
    found: dict[int, tuple[int, date]] = {}
    if not id_list:
        return found
    stmt = select(table.c.id, table.c.row_hash, table.c.local_date).where(
        table.c.org_id == org_id, table.c.id.in_(bindparam("ids", expanding=True))
    )
    for chunk in _chunks(id_list):
        for rid, h, d in conn.execute(stmt, {"ids": list(chunk)}):
            found[rid] = (h, d)
    return found


def dates_of_children(
    conn: Connection, table: Table, org_id: int, invoice_ids: Iterable[int]
) -> set[date]:
    """The local dates of payments or refunds of these invoices (before they are replaced)."""
    id_list = sorted(set(invoice_ids))
    out: set[date] = set()
    if not id_list:
        return out
    stmt = (
        select(table.c.local_date)
        .where(table.c.org_id == org_id, table.c.invoice_id.in_(bindparam("ids", expanding=True)))
        .distinct()
    )
    for chunk in _chunks(id_list):
        out.update(d for (d,) in conn.execute(stmt, {"ids": list(chunk)}) if d is not None)
    return out


def _merge_ranges(ranges: Sequence[tuple[date, date]]) -> list[tuple[date, date]]:
    # Overlapping and adjacent ranges (one window ending the day before the next starts) merge, so
    # a batch of consecutive windows is one query.
    merged: list[tuple[date, date]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + timedelta(days=1):
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged
