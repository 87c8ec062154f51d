"""A hosted Postgres over TLS: the URL's `sslmode` and `sslrootcert` reach the driver on both
paths (the SQLAlchemy engine that writes, the driver-only connection reports read with), and a TLS
failure says libpq's reason (docs/database.md, "Hosted Postgres over TLS")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from aiq.errors import DatabaseUnreachable
from aiq.store.db import open_store
from aiq.store.reader import open_reader


def _conninfo(conn: Any) -> dict[str, str | None]:
    """What libpq was asked for on this connection (PQconninfo)."""
    return {
        o.keyword.decode(): o.val.decode() if o.val is not None else None for o in conn.pgconn.info
    }


def _server_has_ssl(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("show ssl").fetchone()
    return row is not None and row[0] == "on"


@pytest.fixture
def migrated(pg_schema: str) -> str:
    store = open_store(pg_schema)  # at the head migration, so reports read with the driver alone
    store.dispose()
    return pg_schema


def test_sslmode_and_sslrootcert_reach_the_driver_on_both_paths(
    migrated: str, tmp_path: Path
) -> None:
    ca = tmp_path / "db-ca.pem"
    url = f"{migrated}&sslmode=disable&sslrootcert={ca}"

    store = open_store(url, migrate=False)
    try:
        with store.connect() as conn:
            written = _conninfo(conn.connection.dbapi_connection)
    finally:
        store.dispose()
    with open_reader(url) as reader:
        assert isinstance(reader._conn, psycopg.Connection)  # the driver-only path
        read = _conninfo(reader._conn)

    for info in (written, read):
        assert info["sslmode"] == "disable"
        assert info["sslrootcert"] == str(ca)


def test_a_tls_failure_says_why_on_both_paths(migrated: str) -> None:
    url = f"{migrated}&sslmode=require"
    if _server_has_ssl(migrated):
        # A server with TLS: `require` is honoured, on both paths.
        store = open_store(url, migrate=False)
        try:
            with store.connect() as conn:
                assert _conninfo(conn.connection.dbapi_connection)["sslmode"] == "require"
        finally:
            store.dispose()
        with open_reader(url) as reader:
            assert reader.one("select ssl from pg_stat_ssl where pid = pg_backend_pid()")[0]
        return
    with pytest.raises(DatabaseUnreachable, match="over TLS: server does not support SSL"):
        store = open_store(url)
        store.dispose()
    with (
        pytest.raises(DatabaseUnreachable, match="over TLS: server does not support SSL"),
        open_reader(url),
    ):
        pass
