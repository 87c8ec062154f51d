"""A long sync of one practice does not hold up the others in the same daemon."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from aiq.sandbox import AccountSpec, Sandbox
from aiq.sandbox.server import serve_in_thread
from aiq.sandbox.testing import make_config
from aiq.store.db import Store, open_store
from aiq.store.models import Org, SyncRun, table_of
from tests.daemon.conftest import DaemonProcess
from tests.helpers import login


def test_a_slow_practice_does_not_hold_up_a_quick_one(
    db_url: str, start_daemon: Callable[..., DaemonProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIQ_SYNC_SINCE_MONTHS", "1")  # a short history: the order is the point
    slow_account = AccountSpec(account_id=7001, name="Slow Spa", email="slow@spa.example")
    quick_account = AccountSpec(account_id=7002, name="Quick Spa", email="quick@spa.example")
    slow = Sandbox(make_config(accounts=(slow_account,)))
    quick = Sandbox(make_config(accounts=(quick_account,), clinics=1))
    # The slow practice's AR holds its first data request until the test lets it go: its sync
    # cannot end before the quick one has, unless the daemon made the quick one wait.
    held = slow.faults.hold(0, endpoints=("appointments", "invoices"))
    with serve_in_thread(slow) as s_run, serve_in_thread(quick) as q_run:
        for account, running in ((slow_account, s_run), (quick_account, q_run)):
            login(db_url, running.base_url, account.email, account.password)
        store = open_store(db_url)
        try:
            daemon = start_daemon(db_url, "--interval-seconds", "3600", "--today", "2026-11-26")
            daemon.wait_for(held.reached.is_set, 120, "the slow practice's sync to start")
            daemon.wait_for(lambda: _ended(store, "Quick Spa"), 120, "the quick practice's sync")
            # The quick practice finished while the slow one was still running.
            assert not _ended(store, "Slow Spa"), daemon.text()
            assert _started(store, "Slow Spa")
            held.release()
            assert daemon.terminate(timeout=120) == 0
        finally:
            store.dispose()


def _runs(store: Store, org: str) -> list[dict[str, object]]:
    runs, orgs = table_of(SyncRun), table_of(Org)
    with store.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                select(runs).join(orgs, orgs.c.id == runs.c.org_id).where(orgs.c.name == org)
            ).mappings()
        ]


def _started(store: Store, org: str) -> bool:
    return bool(_runs(store, org))


def _ended(store: Store, org: str) -> bool:
    return any(r["ended_at"] is not None for r in _runs(store, org))
