"""Fixtures for sync tests: a sandbox over HTTP, an org in a real database, an engine factory."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import insert

from aiq.ar.client import ARClient
from aiq.config import SyncSettings
from aiq.sandbox import Sandbox
from aiq.sandbox.config import DEFAULT_EMAIL, DEFAULT_PASSWORD
from aiq.sandbox.server import RunningSandbox, serve_in_thread
from aiq.sandbox.testing import TEST_TODAY, make_config
from aiq.store.db import Store
from aiq.store.models import Org, table_of
from aiq.sync.engine import SyncEngine, SyncOptions, SyncReport

SINCE = dt.date(2025, 6, 1)  # before the sandbox's first record (deposits are paid weeks ahead)


@pytest.fixture(scope="module")
def served() -> Iterator[RunningSandbox]:
    """One small sandbox per module (tests that change it make their own)."""
    with serve_in_thread(Sandbox(make_config())) as running:
        yield running


@pytest.fixture
def fresh_served() -> Iterator[RunningSandbox]:
    """A sandbox of its own for a test that advances its clock or injects faults."""
    with serve_in_thread(Sandbox(make_config())) as running:
        yield running


def add_org(
    store: Store, name: str = "Glow Med Spa", account_id: int = 4411, base_url: str = ""
) -> int:
    with store.begin() as conn:
        res = conn.execute(
            insert(table_of(Org)).values(
                name=name,
                ar_account_id=account_id,
                ar_base_url=base_url,
                currency="USD",
                status="active",
                created_at=dt.datetime(2026, 1, 1),
            )
        )
        assert res.inserted_primary_key is not None
        return int(res.inserted_primary_key[0])


@pytest.fixture
def org_id(store: Store) -> int:
    return add_org(store)


def make_client(base_url: str, **kw: Any) -> ARClient:
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("backoff_cap", 0.05)
    return ARClient(base_url, email=DEFAULT_EMAIL, password=DEFAULT_PASSWORD, **kw)


SyncFn = Callable[..., SyncReport]


def sync_once(
    store: Store,
    org_id: int,
    running: RunningSandbox,
    settings: SyncSettings | None = None,
    client: ARClient | None = None,
    **opts: Any,
) -> SyncReport:
    """One sync of the org against a served sandbox (the sandbox's today, from ``SINCE``)."""
    opts.setdefault("today", running.sandbox.now.date())
    opts.setdefault("since", SINCE)
    own = client is None
    cl = client or make_client(running.base_url)
    try:
        return SyncEngine(
            store, cl, org_id, settings or SyncSettings(concurrency=4), SyncOptions(**opts)
        ).run()
    finally:
        if own:
            cl.close()


@pytest.fixture
def run_sync(store: Store, org_id: int) -> SyncFn:
    """Run one sync of the org against a served sandbox; options as keyword arguments."""
    return functools.partial(sync_once, store, org_id)


__all__ = ["SINCE", "TEST_TODAY", "add_org", "make_client", "sync_once"]
