"""Fixtures for report tests: the hand-built practice, once per module, on SQLite and Postgres.

The hand-built data is only read by the tests that use it, so one database per module and
dialect serves them all (building it per test would spend the time budget on migrations).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from aiq.reports.api import ReportRequest
from aiq.store.db import Store, open_store
from tests import templates
from tests.conftest import IN_CI, PG_URL, _pg_schema_url, postgres_unavailable
from tests.reports import handmade
from tests.sync.conftest import (  # noqa: F401 (fixtures)
    add_org,
    fresh_served,
    org_id,
    run_sync,
    served,
    synced_org,
)

TODAY = date(2026, 11, 26)


@contextmanager
def module_database(dialect: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database for one module: a SQLite file, or a Postgres schema."""
    schema = None
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'module.db'}"
    else:
        reason = postgres_unavailable()
        if reason:
            if IN_CI:
                pytest.fail(f"{reason} (CI=true: Postgres tests must run)")
            pytest.skip(reason)
        import psycopg

        schema = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'create schema "{schema}"')
        url = _pg_schema_url(schema)
    templates.migrated(url)
    try:
        yield url
    finally:
        if schema is not None:
            import psycopg

            with psycopg.connect(PG_URL, autocommit=True) as conn:
                conn.execute(f'drop schema if exists "{schema}" cascade')


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hand_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database holding the hand-built practice (see tests/reports/handmade.py)."""
    with module_database(request.param, tmp_path_factory) as url:
        store = open_store(url, migrate=False)
        handmade.build(store, add_org(store))
        store.dispose()
        yield url


@pytest.fixture(scope="module")
def hand_store(hand_url: str) -> Iterator[Store]:
    store = open_store(hand_url, migrate=False)
    try:
        yield store
    finally:
        store.dispose()


def request_for(**kw: object) -> ReportRequest:
    """A report request on the fixed test date unless ``today`` says otherwise."""
    kw.setdefault("today", TODAY)
    return ReportRequest(**kw)  # type: ignore[arg-type]


__all__ = ["TODAY", "Path", "module_database", "request_for"]
