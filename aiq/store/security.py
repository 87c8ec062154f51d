"""Postgres security objects of migration 0005 that outlive aiq's tables (its functions)."""

from __future__ import annotations

from sqlalchemy import Connection, text


def drop_security_functions(conn: Connection) -> None:
    """Drop aiq's SQL functions in the current schema (before the schema is rebuilt)."""
    if conn.dialect.name != "postgresql":
        return
    rows = conn.execute(
        text(
            "select p.oid::regprocedure::text from pg_catalog.pg_proc p "
            "join pg_catalog.pg_namespace n on n.oid = p.pronamespace "
            "where n.nspname = current_schema() and p.proname like 'aiq\\_%'"
        )
    ).scalars()
    for signature in list(rows):
        conn.execute(text(f"drop function if exists {signature} cascade"))
