"""The schema: migrations bring an empty database to head on both dialects and match the models."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from aiq.errors import DatabaseTooNew
from aiq.store.db import Store, head_revision, open_store
from aiq.store.models import metadata


def test_upgrade_from_empty_reaches_head(db_url: str) -> None:
    store = open_store(db_url, migrate=False)
    try:
        assert store.current_revision() is None
        messages: list[str] = []
        before, after = store.upgrade(announce=messages.append)
        assert (before, after) == (None, head_revision())
        assert store.current_revision() == head_revision()
        assert messages and "Creating the aiq schema" in messages[0]
        # A second upgrade is a no-op and says nothing.
        messages.clear()
        assert store.upgrade(announce=messages.append) == (head_revision(), head_revision())
        assert messages == []
        names = {c.table for c in store.table_counts()}
        assert {t.name for t in metadata.sorted_tables} == names
    finally:
        store.dispose()


def test_models_and_migrations_agree(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with store.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata)
    assert diff == [], f"models differ from migrations: {diff}"


def test_database_newer_than_code_is_refused(store: Store) -> None:
    with store.begin() as conn:
        conn.execute(text("update alembic_version set version_num = 'ffff_future'"))
    with pytest.raises(DatabaseTooNew, match="newer than this aiq knows"):
        store.check_revision()
    with pytest.raises(DatabaseTooNew):
        store.ensure_schema()


def test_sqlite_file_is_private_and_uses_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiq's own data directory is the one directory made when missing (0700).
    monkeypatch.setenv("AIQ_DATA_DIR", str(tmp_path / "sub"))
    path = tmp_path / "sub" / "aiq.db"
    store = open_store(f"sqlite:///{path}", migrate=True)
    try:
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700
        with store.connect() as conn:
            assert conn.exec_driver_sql("pragma journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("pragma foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("pragma busy_timeout").scalar() >= 1000
    finally:
        store.dispose()


def test_head_constant_matches_alembic(store: Store) -> None:
    from aiq.store.migrations import HEAD

    assert head_revision() == HEAD
    assert store.stored_revision() == HEAD


def test_audit_rows_from_before_the_chain_are_chained_by_its_migration(db_url: str) -> None:
    from alembic import command

    from aiq import audit
    from aiq.store.db import _alembic_config

    store = open_store(db_url, migrate=False)
    try:
        with store.begin() as conn:
            command.upgrade(_alembic_config(conn), "0004")
            for i in range(3):
                conn.execute(
                    text(
                        "insert into audit_log (at, actor, org_id, action, target, details)"
                        " values (:at, 'owner', 1, 'export', :t, :d)"
                    ),
                    {
                        "at": f"2026-0{i + 1}-02 03:04:05.000006",
                        "t": f"out-{i}",
                        "d": '{"rows": 1}',
                    },
                )
        store.upgrade()
        rows = audit.entries(store)
        assert [r.target for r in rows] == ["out-0", "out-1", "out-2"]
        assert rows[0].prev_hash == "" and all(r.row_hash for r in rows)
        assert rows[2].prev_hash == rows[1].row_hash
        # The migration's copy of the chain and the live code agree (Postgres: its trigger too).
        audit.record(store, "export", org_id=1, target="after")
        assert audit.verify(store).ok
    finally:
        store.dispose()


def test_0006_downgrades_and_upgrades_again(db_url: str) -> None:
    # Down to 0005 and back, on both databases. On Postgres 0005's audit trigger kept the
    # caller's time, and 0006's sets the database's.
    from alembic import command

    from aiq import audit
    from aiq.store.db import _alembic_config

    store = open_store(db_url)
    backdated = "2020-01-02 03:04:05.000006"
    insert = text(
        "insert into audit_log (at, actor, org_id, action, details)"
        " values (:at, 'owner', 1, 'test', '{}')"
    )
    try:
        with store.begin() as conn:
            command.downgrade(_alembic_config(conn), "0005")
        assert store.stored_revision() == "0005"
        with store.begin() as conn:
            conn.execute(insert, {"at": backdated})
        store.upgrade()
        assert store.stored_revision() == head_revision()
        with store.begin() as conn:
            conn.execute(insert, {"at": backdated})
        times = [e.at for e in audit.entries(store)]
        assert str(times[0]) == backdated
        if store.dialect == "postgresql":
            assert times[1].year > 2020
            assert audit.verify(store).ok  # the trigger chained both rows
        else:  # SQLite keeps what the writer says: it has no roles to keep apart (docs/teams.md)
            assert str(times[1]) == backdated
    finally:
        store.dispose()


def _catalog(url: str) -> dict[str, Any]:
    """What a database's schema is made of, with the schema's own name taken out."""
    if url.startswith("sqlite"):
        import sqlite3

        from tests.templates import sqlite_path

        with contextlib.closing(sqlite3.connect(sqlite_path(url))) as conn:
            rows = conn.execute("select type, name, tbl_name, sql from sqlite_master").fetchall()
            version = conn.execute("select version_num from alembic_version").fetchall()
        return {"objects": sorted(rows, key=repr), "version": version}
    import psycopg

    from tests.conftest import PG_URL
    from tests.templates import pg_schema_of

    schema = pg_schema_of(url)
    queries = {
        "columns": "select table_name, column_name, data_type, is_nullable, column_default "
        "from information_schema.columns where table_schema = %(s)s",
        "indexes": "select tablename, indexname, indexdef from pg_indexes where schemaname = %(s)s",
        "constraints": "select conrelid::regclass::text, conname, pg_get_constraintdef(c.oid) "
        "from pg_constraint c join pg_namespace n on n.oid = c.connamespace "
        "where n.nspname = %(s)s",
        "policies": "select tablename, policyname, permissive, roles::text, cmd, qual, with_check "
        "from pg_policies where schemaname = %(s)s",
        "rls": "select relname, relrowsecurity, relforcerowsecurity from pg_class c "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = %(s)s and relkind = 'r'",
        "functions": "select proname, prosrc, proconfig::text, prosecdef from pg_proc p "
        "join pg_namespace n on n.oid = p.pronamespace where n.nspname = %(s)s",
        "triggers": "select event_object_table, trigger_name, action_timing, event_manipulation, "
        "action_statement from information_schema.triggers where trigger_schema = %(s)s",
        "grants": "select grantee, table_name, privilege_type from "
        "information_schema.role_table_grants where table_schema = %(s)s",
        "version": f'select version_num from "{schema}".alembic_version',
    }
    out: dict[str, Any] = {}
    with psycopg.connect(PG_URL) as conn:
        conn.execute(f'set search_path = "{schema}"')
        for name, sql in queries.items():
            rows = conn.execute(sql, {"s": schema}).fetchall()
            out[name] = sorted(repr(r).replace(schema, "SCHEMA") for r in rows)
    return out


def test_the_tests_copy_of_a_migrated_database_is_what_the_migrations_make(
    db_url: str, tmp_path: Path
) -> None:
    """The `store` fixture copies a database migrated once a run (tests/templates.py): the copy
    must be exactly what the migrations make, tables, indexes, policies, functions and grants."""
    from tests.conftest import _pg_schema_url
    from tests.templates import migrated

    if db_url.startswith("sqlite"):
        other = f"sqlite:///{tmp_path / 'copy.db'}"
    else:
        import secrets

        import psycopg

        from tests.conftest import PG_URL

        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'create schema "{name}"')
        other = _pg_schema_url(name)
    try:
        store = open_store(db_url, migrate=False)
        try:
            store.upgrade()
        finally:
            store.dispose()
        migrated(other)
        made, copied = _catalog(db_url), _catalog(other)
        assert made["version"] and made == copied
        if not db_url.startswith("sqlite"):  # it compared what matters: none of it is empty
            assert all(made[k] for k in ("indexes", "policies", "functions", "grants"))
    finally:
        if not db_url.startswith("sqlite"):
            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'drop schema if exists "{name}" cascade')
