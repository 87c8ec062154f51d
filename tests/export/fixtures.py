"""A synced practice to export, back up and delete: one sync per dialect per test run.

The sandbox (2 clinics, a year) is synced into a template database for two orgs, on SQLite and
on Postgres: the first org's whole history, and three months of the second's (tests only need
it to hold data that must survive what is done to the first). Each test gets its own copy (a
SQLite file copy, or a Postgres schema copied table by table: see tests/templates.py), so tests
that delete and purge do not disturb one another and no test pays for a sync of its own.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from sqlalchemy import func, select

from aiq.sandbox import Sandbox
from aiq.sandbox.server import serve_in_thread
from aiq.sandbox.testing import make_config
from aiq.store.db import Store, open_store
from aiq.store.models import metadata
from tests.conftest import PG_URL
from tests.sync.conftest import RECENT, SINCE, add_org, sync_once
from tests.templates import template

ORG_A = "Glow Med Spa"
ORG_B = "Other Spa"


@dataclass
class Synced:
    """A copy of the synced template: its URL, the sandbox it came from, the org ids."""

    url: str
    sandbox: Sandbox
    org_a: int
    org_b: int


def _sync_orgs(url: str) -> dict[str, Any]:
    """The template: org A synced from ``SINCE`` (all of it), org B from ``RECENT``."""
    store = open_store(url, migrate=False)
    store.upgrade()
    ids = []
    try:
        with serve_in_thread(Sandbox(make_config())) as running:
            for name, account, since in ((ORG_A, 4411, SINCE), (ORG_B, 4412, RECENT)):
                org_id = add_org(store, name, account)
                report = sync_once(store, org_id, running, since=since)
                assert report.status == "ok", report.errors
                ids.append(org_id)
    finally:
        store.dispose()
    return {"org_a": ids[0], "org_b": ids[1]}


def pg_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"


def new_pg_schema() -> str:
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'create schema "{schema}"')
    return schema


def drop_pg_schema(schema: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'drop schema if exists "{schema}" cascade')


_SANDBOX: list[Sandbox] = []


def _sandbox() -> Sandbox:
    """The templates' sandbox (the same config gives the same data in every process)."""
    if not _SANDBOX:
        _SANDBOX.append(Sandbox(make_config()))
    return _SANDBOX[0]


def _copy(request: pytest.FixtureRequest, dialect: str, tmp_path: Path) -> Iterator[Synced]:
    if dialect == "postgres":
        request.getfixturevalue("pg_schema")  # skips (or fails in CI) without Postgres
    made = template("two-orgs", dialect, _sync_orgs)
    a, b = int(made.meta["org_a"]), int(made.meta["org_b"])
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'synced.db'}"
        made.copy_into(url)
        yield Synced(url, _sandbox(), a, b)
        return
    schema = new_pg_schema()
    try:
        made.copy_into(pg_url(schema))
        yield Synced(pg_url(schema), _sandbox(), a, b)
    finally:
        drop_pg_schema(schema)


@pytest.fixture(params=["sqlite", "postgres"])
def synced(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Synced]:
    """A database holding two synced practices (a fresh copy for this test), on each dialect."""
    yield from _copy(request, request.param, tmp_path)


@pytest.fixture
def synced_sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Synced]:
    """The same on SQLite only, for behaviour that does not depend on the database."""
    yield from _copy(request, "sqlite", tmp_path)


@pytest.fixture
def synced_pg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Synced]:
    """The same on Postgres only."""
    yield from _copy(request, "postgres", tmp_path)


@pytest.fixture
def synced_store(synced: Synced) -> Iterator[Store]:
    """The synced copy, opened."""
    store = open_store(synced.url)
    try:
        yield store
    finally:
        store.dispose()


def empty_url(dialect: str, tmp_path: Path) -> tuple[str, str | None]:
    """A URL of an empty database of ``dialect`` (and the schema to drop afterwards)."""
    if dialect == "sqlite":
        return f"sqlite:///{tmp_path / f'empty-{secrets.token_hex(3)}.db'}", None
    schema = new_pg_schema()
    return pg_url(schema), schema


def table_rows(store: Store, name: str, org_id: int | None = None) -> int:
    """Rows of a table (of one org when given)."""
    table = metadata.tables[name]
    query = select(func.count()).select_from(table)
    if org_id is not None:
        query = query.where(table.c.org_id == org_id)
    with store.connect() as conn:
        return int(conn.execute(query).scalar_one())


def dialect_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgres"
