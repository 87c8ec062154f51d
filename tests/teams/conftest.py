"""Fixtures for the teams tests: a migrated Postgres schema, practices, and real database roles."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import insert

from aiq.store.db import Store, open_store
from aiq.store.models import Clinic, Org, table_of
from aiq.store.vault_models import Credential


def role_url(url: str, role: str) -> str:
    """``url`` (the superuser's, with its search_path) signed in as ``role`` instead."""
    parts = urlsplit(url)
    host = parts.netloc.split("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


def add_practice(store: Store, name: str) -> int:
    with store.begin() as conn:
        org_id = conn.execute(
            insert(table_of(Org))
            .values(
                name=name,
                ar_account_id=None,
                ar_base_url="",
                currency="USD",
                status="active",
                created_at=datetime(2026, 1, 1),
            )
            .returning(table_of(Org).c.id)
        ).scalar_one()
        conn.execute(
            insert(table_of(Clinic)).values(
                org_id=org_id, id=1, name=f"{name} clinic", timezone="UTC", row_hash=1
            )
        )
        conn.execute(
            insert(table_of(Credential)).values(
                org_id=org_id,
                name="password",
                key_id="k1",
                nonce=b"n" * 12,
                ciphertext=b"secret-ciphertext",
                updated_at=datetime(2026, 1, 1),
            )
        )
    return int(org_id)


@dataclass
class Team:
    """Two practices in one Postgres schema and three people with their own roles."""

    url: str
    store: Store
    a: int
    b: int
    owner: str
    admin: str
    member: str

    def url_of(self, role: str) -> str:
        return role_url(self.url, role)


@pytest.fixture
def team(pg_schema: str) -> Iterator[Team]:
    import psycopg

    from tests.conftest import PG_URL

    tag = secrets.token_hex(3)
    names = {k: f"aiq_t_{k}_{tag}" for k in ("owner", "admin", "member")}
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'create role "{name}" login')
    store = open_store(pg_schema)
    try:
        a = add_practice(store, "Alpha Spa")
        b = add_practice(store, "Beta Spa")
        from aiq.store.orgs import resolve_org
        from aiq.usecases.members import set_member

        alpha = resolve_org(store, "Alpha Spa")
        set_member(store, alpha, names["owner"], "OWNER", new=True)
        set_member(store, alpha, names["admin"], "ADMIN", new=True)
        set_member(store, alpha, names["member"], "MEMBER", new=True)
        yield Team(pg_schema, store, a, b, names["owner"], names["admin"], names["member"])
    finally:
        store.dispose()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for name in names.values():
                conn.execute(
                    "select pg_terminate_backend(pid) from pg_stat_activity where usename = %s",
                    (name,),
                )
                conn.execute(f'drop owned by "{name}" cascade')
                conn.execute(f'drop role "{name}"')
