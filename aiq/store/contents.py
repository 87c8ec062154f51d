"""What the database holds, table by table, as far as the caller may read it (`aiq db status`).

On Postgres the grants decide what a person may read (docs/teams.md: a MEMBER reads the report
tables, not ``credential``, ``vault_key``, ``ar_login`` or ``audit_log``; an ADMIN not
``audit_log``). aiq asks the database itself, with ``has_table_privilege``, rather than keeping a
list of its own, and never queries a table the caller may not read: the database would refuse the
whole command. Row-level security then keeps each count to the practices the caller sees. On
SQLite whoever opens the file reads every table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.types import Text

from aiq.store import models

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from aiq.store.db import Store


class Access(StrEnum):
    """Whether the caller may count a table's rows."""

    READABLE = "readable"
    NOT_GRANTED = "not granted"  # the caller's database role may not read it (Postgres)
    MISSING = "missing"  # not in the database: its migration has not been applied yet


@dataclass
class TableRows:
    """An aiq table and its rows as the caller sees them; ``rows`` is None unless readable."""

    table: str
    access: Access
    rows: int | None = None


_ACCESS = {True: Access.READABLE, False: Access.NOT_GRANTED, None: Access.MISSING}


def table_access(conn: Connection, tables: list[str]) -> dict[str, Access]:
    """For each of ``tables`` (names as the search path finds them, like every query of aiq):
    whether it exists and the caller may read it."""
    if conn.dialect.name == "postgresql":
        query = text(
            "select t.name, has_table_privilege(to_regclass(quote_ident(t.name)), 'SELECT') "
            "from unnest(:names) as t(name)"
        ).bindparams(bindparam("names", type_=ARRAY(Text())))
        # has_table_privilege answers null for a table that is not there (to_regclass: null).
        may: dict[str, bool | None] = {
            str(name): answer for name, answer in conn.execute(query, {"names": tables})
        }
        return {t: _ACCESS[may.get(t)] for t in tables}
    present = set(
        conn.execute(text("select name from sqlite_master where type = 'table'")).scalars()
    )
    return {t: Access.READABLE if t in present else Access.MISSING for t in tables}


def table_rows(store: Store) -> list[TableRows]:
    """Every aiq table, in schema order, with its row count where the caller may read it."""
    tables = list(models.metadata.sorted_tables)
    out: list[TableRows] = []
    with store.connect() as conn:
        access = table_access(conn, [t.name for t in tables])
        for table in tables:
            if access[table.name] is not Access.READABLE:
                out.append(TableRows(table.name, access[table.name]))
                continue
            n = conn.execute(select(func.count()).select_from(table)).scalar_one()
            out.append(TableRows(table.name, Access.READABLE, int(n)))
    return out
