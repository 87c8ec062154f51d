"""Fixtures for sync tests: a sandbox over HTTP, an org in a real database, an engine factory."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import insert

from aiq.ar.client import ARClient
from aiq.config import SyncSettings
from aiq.sandbox import Sandbox
from aiq.sandbox.config import DEFAULT_EMAIL, DEFAULT_PASSWORD
from aiq.sandbox.server import RunningSandbox, serve_in_thread
from aiq.sandbox.testing import TEST_TODAY, make_config
from aiq.store.db import Store, open_store
from aiq.store.models import Org, table_of
from aiq.sync.engine import SyncEngine, SyncOptions, SyncReport
from tests.templates import template

SINCE = dt.date(2025, 6, 1)  # before the sandbox's first record (deposits are paid weeks ahead)
RECENT = dt.date(2026, 9, 1)
"""A ``since`` for tests that need a sync but not how much history it reads: three months of the
sandbox's year (TEST_TODAY is 2026-11-26), about a quarter of the requests of a whole sync."""


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


@dataclass
class SyncedOrg:
    """An org whose first sync of the standard sandbox (``make_config()``) is done, as
    ``run_sync(served)`` leaves it; ``first_requests`` is what that sync asked AR."""

    store: Store
    org_id: int
    first_requests: int

    def sync(
        self, running: RunningSandbox, settings: SyncSettings | None = None, **opts: Any
    ) -> SyncReport:
        """The next sync of the org (``sync_once``)."""
        return sync_once(self.store, self.org_id, running, settings, **opts)


def _first_sync(url: str) -> dict[str, Any]:
    store = open_store(url, migrate=False)
    store.upgrade()
    try:
        org = add_org(store)
        with serve_in_thread(Sandbox(make_config())) as running:
            report = sync_once(store, org, running)
        assert report.status == "ok", report.errors
        return {"org_id": org, "requests": report.requests}
    finally:
        store.dispose()


def copy_synced_org(url: str) -> tuple[int, int]:
    """Make the empty database at ``url`` a copy of the run's synced org (synced once a run, see
    tests/templates.py); returns the org id and the requests of its first sync."""
    dialect = "sqlite" if url.startswith("sqlite") else "postgres"
    synced = template("synced-org", dialect, _first_sync)
    synced.copy_into(url)
    return int(synced.meta["org_id"]), int(synced.meta["requests"])


@pytest.fixture
def synced_org(db_url: str) -> Iterator[SyncedOrg]:
    """On each database, a copy of a database that one sync of the standard sandbox filled: for
    tests that start after a first sync (served by ``served`` or ``fresh_served``)."""
    org, requests = copy_synced_org(db_url)
    store = open_store(db_url, migrate=False)
    try:
        yield SyncedOrg(store, org, requests)
    finally:
        store.dispose()


__all__ = [
    "RECENT",
    "SINCE",
    "TEST_TODAY",
    "SyncedOrg",
    "add_org",
    "copy_synced_org",
    "make_client",
    "sync_once",
]
