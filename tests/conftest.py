"""Shared fixtures: real databases (a SQLite file, a Postgres schema) and isolated directories."""

from __future__ import annotations

import os
import secrets
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import event
from sqlalchemy.pool import Pool

from aiq.sandbox.practice import keep_generated
from tests import templates

PG_URL = os.environ.get("AIQ_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

_pg_state: dict[str, str | None] = {}

# Many tests serve a sandbox of the same config: generate each practice once per process.
keep_generated(8)


def pytest_configure(config: pytest.Config) -> None:
    templates.start_run(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    templates.end_run(config)


_opened: list[tuple[weakref.ref[Any], str]] = []
"""Every Postgres connection a connection pool opened, with the test that was running."""


@event.listens_for(Pool, "connect")
def _track_connection(dbapi_connection: Any, _record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("psycopg"):
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
        _opened.append((weakref.ref(dbapi_connection), test))


@pytest.fixture(scope="module", autouse=True)
def no_connection_outlives_its_module() -> Iterator[None]:
    """Every Postgres connection opened in a test module is closed by the module's end.

    Left open, a connection is closed only when the garbage collector finds it, during some later
    test, whose set-up then fails on psycopg's ResourceWarning. Here the module fails instead,
    naming the test that opened it. (Module fixtures may keep a store open across its tests.)
    """
    start = len(_opened)
    yield
    left = [test for ref, test in _opened[start:] if (c := ref()) is not None and not c.closed]
    del _opened[start:]
    if left:
        pytest.fail(f"{len(left)} Postgres connection(s) left open, opened in: {sorted(set(left))}")


def postgres_unavailable() -> str | None:
    """Why Postgres cannot be used for tests, or None when it can (checked once)."""
    if "reason" not in _pg_state:
        import psycopg

        try:
            with psycopg.connect(PG_URL, connect_timeout=3) as conn:
                conn.execute("select 1")
            _pg_state["reason"] = None
        except psycopg.Error as exc:
            _pg_state["reason"] = f"Postgres at {PG_URL} is unavailable: {str(exc).strip()[:200]}"
    return _pg_state["reason"]


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own config, data and cache directories and no ambient aiq settings."""
    for name in list(os.environ):
        if name.startswith("AIQ_") and name != "AIQ_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AIQ_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("AIQ_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AIQ_CACHE_DIR", str(tmp_path / "cache"))  # recorded help (aiq/startup.py)
    yield tmp_path


def _pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh, empty Postgres schema; the URL that uses it is returned. Dropped afterwards."""
    reason = postgres_unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: Postgres tests must run)")
        pytest.skip(reason)
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'create schema "{schema}"')
    try:
        yield _pg_schema_url(schema)
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'drop schema if exists "{schema}" cascade')


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL: a fresh SQLite file, then a fresh Postgres schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("pg_schema"))


@pytest.fixture
def store(db_url: str) -> Iterator[object]:
    """A migrated store on each database (a copy of one migrated once a run)."""
    from aiq.store.db import open_store

    templates.migrated(db_url)
    s = open_store(db_url, migrate=False)
    try:
        yield s
    finally:
        s.dispose()
