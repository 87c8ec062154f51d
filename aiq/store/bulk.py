"""Bulk writes, per dialect: the fast paths are the normal paths.

SQLite: one ``executemany`` of ``INSERT ... ON CONFLICT DO UPDATE`` per table and batch, inside the
caller's transaction. Postgres: ``COPY`` into a temporary table and one ``INSERT ... SELECT ... ON
CONFLICT DO UPDATE`` merge per table and batch. Both skip rows whose ``row_hash`` did not change.

Values are adapted here once (dates to ISO text on SQLite, JSON to text) so the drivers do no
per-row type work beyond their own.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select

_CHUNK = 900  # bound parameters per IN (...) list; well under SQLite's limit


def _pk(table: Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]


def _sqlite_datetime(value: datetime) -> str:
    # The same text SQLAlchemy writes for a SQLite DateTime, so its reads round-trip and text
    # comparisons order correctly.
    return value.isoformat(" ", "microseconds")


# aiq's bulk paths hand date and datetime objects straight to sqlite3; these adapters give them the
# text forms SQLAlchemy uses (SQLAlchemy itself converts before the driver, so it is unaffected).
sqlite3.register_adapter(datetime, _sqlite_datetime)
sqlite3.register_adapter(date, date.isoformat)


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
    pk = _pk(table)
    updates = [c for c in cols if c not in pk]
    has_hash = "row_hash" in cols
    if conn.dialect.name == "sqlite":
        placeholders = ", ".join("?" for _ in cols)
        sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({placeholders})"
        if updates:
            sets = ", ".join(f"{c} = excluded.{c}" for c in updates)
            sql += f" ON CONFLICT ({', '.join(pk)}) DO UPDATE SET {sets}"
            if has_hash:
                sql += f" WHERE {table.name}.row_hash IS NOT excluded.row_hash"
        else:
            sql += " ON CONFLICT DO NOTHING"
        _driver(conn).executemany(sql, _sqlite_rows(rows, cols))
        return
    tmp = f"_aiq_tmp_{table.name}"
    raw = _driver(conn)
    with raw.cursor() as cur:
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {tmp} (LIKE {table.name} INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS"
        )
        cur.execute(f"TRUNCATE {tmp}")
        with cur.copy(f"COPY {tmp} ({', '.join(cols)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row([_pg_value(r[c]) for c in cols])
        sql = f"INSERT INTO {table.name} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM {tmp}"
        if updates:
            sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in updates)
            sql += f" ON CONFLICT ({', '.join(pk)}) DO UPDATE SET {sets}"
            if has_hash:
                sql += f" WHERE {table.name}.row_hash IS DISTINCT FROM EXCLUDED.row_hash"
        else:
            sql += " ON CONFLICT DO NOTHING"
        cur.execute(sql)


def insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Plain bulk insert (the caller has removed any conflicting rows)."""
    if not rows:
        return
    cols = list(rows[0].keys())
    raw = _driver(conn)
    if conn.dialect.name == "sqlite":
        sql = (
            f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
        )
        raw.executemany(sql, _sqlite_rows(rows, cols))
        return
    if _row_security_applies(conn, table):
        # COPY FROM cannot go through row-level security (a staff role's sync, docs/teams.md):
        # COPY into a temporary table and insert from it, where the policies apply.
        tmp = f"_aiq_tmp_{table.name}"
        with raw.cursor() as cur:
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {tmp} (LIKE {table.name} INCLUDING DEFAULTS) "
                "ON COMMIT DELETE ROWS"
            )
            cur.execute(f"TRUNCATE {tmp}")
            with cur.copy(f"COPY {tmp} ({', '.join(cols)}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row([_pg_value(r[c]) for c in cols])
            names = ", ".join(cols)
            cur.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {tmp}")
        return
    with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row([_pg_value(r[c]) for c in cols])


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
    merged: list[tuple[date, date]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged
