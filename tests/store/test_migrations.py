"""The schema: migrations bring an empty database to head on both dialects and match the models."""

from __future__ import annotations

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


def test_sqlite_file_is_private_and_uses_wal(tmp_path) -> None:  # type: ignore[no-untyped-def]
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
