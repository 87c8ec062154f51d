"""Databases built once per test run and copied for each test that needs one.

Building a template means syncing a practice (seconds of CPU, and of Postgres); a copy is a SQLite
file copied with SQLite's backup API, or a Postgres schema made by the migrations and filled by
``insert ... select``. The xdist workers share the templates: the first worker that needs one
builds it under a file lock in a directory of the run, the other waits for it and copies it too.
The directory is made by the process that starts the run (the xdist controller, or the only
process), which drops the template schemas when the run ends (see tests/conftest.py).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

_DIR_ENV = "PYTEST_AIQ_TEMPLATES"  # not AIQ_*: isolated_dirs clears those for every test


def start_run(config: pytest.Config) -> None:
    """At the start of the run, in the process that starts it: the templates' directory."""
    if hasattr(config, "workerinput"):  # an xdist worker: the controller made it
        return
    os.environ[_DIR_ENV] = tempfile.mkdtemp(prefix="aiq-test-templates-")


def end_run(config: pytest.Config) -> None:
    """At the end of the run, in the process that started it: drop the templates."""
    if hasattr(config, "workerinput") or _DIR_ENV not in os.environ:
        return
    root = Path(os.environ.pop(_DIR_ENV))
    schemas = root / "schemas"
    if schemas.exists():
        import psycopg

        from tests.conftest import PG_URL

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for schema in schemas.read_text().split():
                conn.execute(f'drop schema if exists "{schema}" cascade')
    shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Template:
    """A built template: where it is (a SQLite file or a Postgres schema) and what its builder
    said about it (org ids, report figures)."""

    dialect: str
    where: str
    meta: dict[str, Any] = field(default_factory=dict)

    def copy_into(self, url: str) -> None:
        """Make the empty database at ``url`` (of the same dialect) a copy of the template."""
        if self.dialect == "sqlite":
            src, dst = sqlite3.connect(self.where), sqlite3.connect(sqlite_path(url))
            try:
                src.backup(dst)
            finally:
                src.close()
                dst.close()
        else:
            clone_pg(self.where, pg_schema_of(url))


_BUILT: dict[tuple[str, str], Template] = {}


def template(name: str, dialect: str, build: Callable[[str], dict[str, Any]]) -> Template:
    """The template ``name`` on ``dialect``, built by ``build(url)`` (into an empty database at
    ``url``; it returns JSON-able facts about what it built) once for the whole run."""
    key = (name, dialect)
    if key in _BUILT:
        return _BUILT[key]
    root = Path(os.environ.get(_DIR_ENV) or tempfile.mkdtemp(prefix="aiq-test-templates-"))
    os.environ.setdefault(_DIR_ENV, str(root))
    done = root / f"{name}-{dialect}.json"
    with (root / f"{name}-{dialect}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if done.exists():
            built = Template(**json.loads(done.read_text()))
        else:
            built = _build(root, name, dialect, build)
            done.write_text(
                json.dumps({"dialect": dialect, "where": built.where, "meta": built.meta})
            )
    _BUILT[key] = built
    return built


def _build(root: Path, name: str, dialect: str, build: Callable[[str], dict[str, Any]]) -> Template:
    if dialect == "sqlite":
        path = root / f"{name}.db"
        try:
            return Template(dialect, str(path), build(f"sqlite:///{path}"))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    import psycopg

    from tests.conftest import PG_URL, _pg_schema_url

    schema = f"t_tpl_{secrets.token_hex(5)}"
    with (root / "schemas").open("a") as f:  # dropped at the end of the run whatever happens
        f.write(schema + "\n")
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'create schema "{schema}"')
    return Template(dialect, schema, build(_pg_schema_url(schema)))


def sqlite_path(url: str) -> str:
    assert url.startswith("sqlite:///"), url
    return url.removeprefix("sqlite:///")


def pg_schema_of(url: str) -> str:
    """The schema a test's Postgres URL puts first on the search path."""
    options = parse_qs(urlsplit(url).query).get("options", [""])[0]
    prefix = "-csearch_path="
    assert options.startswith(prefix), url
    return unquote(options.removeprefix(prefix)).split(",")[0]


def migrated(url: str) -> None:
    """Make the empty database at ``url`` what ``Store.upgrade`` makes of it: an empty aiq
    database at the newest migration.

    The migrations run once a run, into a template: a SQLite copy is the template file's; on
    Postgres the statements they sent are sent again into the new schema (the template's name,
    which functions pin in their search_path, replaced by the new one). A copy skips Alembic's
    Python (loading and running seven migration scripts), most of what an upgrade costs.
    """
    if url.startswith("sqlite"):
        template("migrated", "sqlite", _migrate).copy_into(url)
        return
    import psycopg

    from tests.conftest import PG_URL

    built = template("migrated", "postgres", _migrate)
    src, dst = built.where, pg_schema_of(url)
    statements = json.loads(Path(built.meta["statements"]).read_text())
    with psycopg.connect(PG_URL) as conn, conn.cursor() as cur:
        cur.execute(f'set local search_path = "{dst}"')
        if cur.execute("select to_regclass('alembic_version')").fetchone() != (None,):
            conn.rollback()  # migrated already (to head, or the migrations bring it there)
            from aiq.store.db import open_store

            store = open_store(url, migrate=False)
            try:
                store.upgrade()
            finally:
                store.dispose()
            return
        for sql, params, many in statements:
            sql = sql.replace(src, dst)
            if many:
                cur.executemany(sql, params)
            else:
                cur.execute(sql, params)
        conn.commit()


def _migrate(url: str) -> dict[str, Any]:
    """Build the ``migrated`` template: run the migrations into ``url``, and on Postgres keep
    every statement they sent (with its parameters), in order."""
    from sqlalchemy import event

    from aiq.store.db import open_store

    store = open_store(url, migrate=False)
    sent: list[tuple[str, Any, bool]] = []

    def keep(_c: Any, _cur: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        sent.append((sql, params, many))

    try:
        event.listen(store.engine, "before_cursor_execute", keep)
        store.upgrade()
    finally:
        store.dispose()
    if url.startswith("sqlite"):
        return {}
    path = Path(os.environ[_DIR_ENV]) / "migrated-postgres.sql.json"
    path.write_text(json.dumps(sent))
    return {"statements": str(path)}


def clone_pg(src: str, dst: str) -> None:
    """Copy the aiq database in schema ``src`` into the empty schema ``dst``.

    The copy's tables are made as the migrations make them (``migrated``: foreign keys,
    sequences and all); the rows are copied by plain SQL, parents first, and every sequence is
    moved past the copied ids.
    """
    import psycopg

    from aiq.store.models import metadata
    from tests.conftest import PG_URL, _pg_schema_url

    migrated(_pg_schema_url(dst))
    with psycopg.connect(PG_URL, autocommit=True) as conn, conn.transaction():
        tables = {
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = %s",
                (src,),
            )
        } - {"alembic_version"}
        ordered = [t.name for t in metadata.sorted_tables if t.name in tables]
        assert set(ordered) == tables, f"tables the models do not know: {tables - set(ordered)}"
        for t in ordered:
            conn.execute(f'insert into "{dst}"."{t}" select * from "{src}"."{t}"')
        counters = conn.execute(
            "select table_name, column_name from information_schema.columns where "
            "table_schema = %s and (column_default like 'nextval(%%' or is_identity = 'YES')",
            (dst,),
        ).fetchall()
        for t, c in counters:
            conn.execute(
                f"select setval(pg_get_serial_sequence('\"{dst}\".\"{t}\"', '{c}'), "
                f'coalesce((select max("{c}") from "{dst}"."{t}"), 0) + 1, false)'
            )
