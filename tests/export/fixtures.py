"""A synced practice to export, back up and delete: one sync per dialect per test session.

The sandbox (2 clinics, a year) is synced into a template database twice, for two orgs, on SQLite
and on Postgres; each test gets its own copy (a SQLite file copy, or a Postgres schema copied
table by table), so tests that delete and purge do not disturb one another and no test pays for
a sync of its own.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from sqlalchemy import func, insert, select

from aiq.config import SyncSettings
from aiq.sandbox import Sandbox
from aiq.sandbox.server import serve_in_thread
from aiq.sandbox.testing import make_config
from aiq.store.db import Store, open_store
from aiq.store.models import Org, metadata, table_of
from aiq.sync.engine import SyncEngine, SyncOptions
from tests.conftest import PG_URL
from tests.sync.conftest import SINCE, make_client

ORG_A = "Glow Med Spa"
ORG_B = "Other Spa"


@dataclass
class Synced:
    """A copy of the synced template: its URL, the sandbox it came from, the org ids."""

    url: str
    sandbox: Sandbox
    org_a: int
    org_b: int


def _sync_orgs(url: str, base_url: str, today: dt.date) -> tuple[int, int]:
    store = open_store(url, migrate=False)
    store.upgrade()
    ids = []
    try:
        for name, account in ((ORG_A, 4411), (ORG_B, 4412)):
            with store.begin() as conn:
                res = conn.execute(
                    insert(table_of(Org)).values(
                        name=name,
                        ar_account_id=account,
                        ar_base_url="",
                        currency="USD",
                        status="active",
                        created_at=dt.datetime(2026, 1, 1),
                    )
                )
                assert res.inserted_primary_key is not None
                org_id = int(res.inserted_primary_key[0])
            client = make_client(base_url)
            try:
                report = SyncEngine(
                    store,
                    client,
                    org_id,
                    SyncSettings(concurrency=4),
                    SyncOptions(today=today, since=SINCE),
                ).run()
            finally:
                client.close()
            assert report.status == "ok", report.errors
            ids.append(org_id)
    finally:
        store.dispose()
    return ids[0], ids[1]


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


def clone_pg(src: str, dst: str) -> None:
    """Copy the aiq database in schema ``src`` into the empty schema ``dst``.

    The copy's schema is made by the migrations (foreign keys, sequences and all); the rows are
    copied by plain SQL, parents first.
    """
    store = open_store(pg_url(dst), migrate=False)
    store.upgrade()
    store.dispose()
    with psycopg.connect(PG_URL, autocommit=True) as conn, conn.transaction():
        for table in metadata.sorted_tables:
            t = table.name
            conn.execute(f'insert into "{dst}"."{t}" select * from "{src}"."{t}"')
            if "id" in table.c and table.c.id.autoincrement is True:
                conn.execute(
                    f"select setval(pg_get_serial_sequence('\"{dst}\".\"{t}\"', 'id'), "
                    f'coalesce((select max(id) from "{dst}"."{t}"), 0) + 1, false)'
                )


def clone_sqlite(src: Path, dst: Path) -> None:
    """Copy a SQLite database file (SQLite's own backup API, not aiq's)."""
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        a.close()
        b.close()


@dataclass
class _Template:
    sandbox: Sandbox
    where: str  # a SQLite path or a Postgres schema
    org_a: int
    org_b: int


_MADE: dict[str, _Template] = {}
"""The templates of this process, shared by the conftests that import these fixtures."""


@pytest.fixture(scope="session")
def _templates() -> Iterator[dict[str, _Template]]:
    yield _MADE  # filled lazily by `synced`, which knows the dialect it needs
    if "postgres" in _MADE:
        drop_pg_schema(_MADE.pop("postgres").where)


def _template(templates: dict[str, _Template], dialect: str, tmp: Path) -> _Template:
    if dialect in templates:
        return templates[dialect]
    sandbox = next(iter(templates.values())).sandbox if templates else Sandbox(make_config())
    with serve_in_thread(sandbox) as running:
        today = running.sandbox.now.date()
        if dialect == "sqlite":
            path = tmp / "template.db"
            a, b = _sync_orgs(f"sqlite:///{path}", running.base_url, today)
            templates[dialect] = _Template(sandbox, str(path), a, b)
        else:
            schema = new_pg_schema()
            try:
                a, b = _sync_orgs(pg_url(schema), running.base_url, today)
            except BaseException:
                drop_pg_schema(schema)
                raise
            templates[dialect] = _Template(sandbox, schema, a, b)
    return templates[dialect]


def _copy(
    request: pytest.FixtureRequest,
    dialect: str,
    templates: dict[str, _Template],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Synced]:
    if dialect == "postgres":
        request.getfixturevalue("pg_schema")  # skips (or fails in CI) without Postgres
    template = _template(templates, dialect, tmp_path_factory.mktemp("template"))
    if dialect == "sqlite":
        path = tmp_path / "synced.db"
        clone_sqlite(Path(template.where), path)
        yield Synced(f"sqlite:///{path}", template.sandbox, template.org_a, template.org_b)
        return
    schema = new_pg_schema()
    try:
        clone_pg(template.where, schema)
        yield Synced(pg_url(schema), template.sandbox, template.org_a, template.org_b)
    finally:
        drop_pg_schema(schema)


@pytest.fixture(params=["sqlite", "postgres"])
def synced(
    request: pytest.FixtureRequest,
    _templates: dict[str, _Template],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Synced]:
    """A database holding two synced practices (a fresh copy for this test), on each dialect."""
    yield from _copy(request, request.param, _templates, tmp_path, tmp_path_factory)


@pytest.fixture
def synced_sqlite(
    request: pytest.FixtureRequest,
    _templates: dict[str, _Template],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Synced]:
    """The same on SQLite only, for behaviour that does not depend on the database."""
    yield from _copy(request, "sqlite", _templates, tmp_path, tmp_path_factory)


@pytest.fixture
def synced_pg(
    request: pytest.FixtureRequest,
    _templates: dict[str, _Template],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Synced]:
    """The same on Postgres only."""
    yield from _copy(request, "postgres", _templates, tmp_path, tmp_path_factory)


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
