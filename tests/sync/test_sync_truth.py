"""The sync ends equal to the sandbox's truth: first sync, clock advances, faults, re-syncs."""

from __future__ import annotations

import pytest

from aiq.config import SyncSettings
from aiq.sandbox.server import RunningSandbox
from aiq.store.db import Store
from tests.sync.conftest import SyncedOrg, SyncFn
from tests.sync.truth import assert_matches_truth


def test_first_sync_then_clock_advances_match_truth(
    store: Store, org_id: int, fresh_served: RunningSandbox, run_sync: SyncFn
) -> None:
    sb = fresh_served.sandbox
    report = run_sync(fresh_served)
    assert report.status == "ok", report.errors
    counts = assert_matches_truth(store, sb, org_id)
    assert counts["appointment"] > 5000 and counts["invoice"] > 5000
    # The run log counts AR records (an invoice with its items, payments and refunds is one).
    records = ("clinic", "staff", "category", "service", "product", "appointment", "invoice")
    assert report.totals().inserted == sum(counts[t] for t in records)

    changed = removed = 0
    for days in (1, 3, 2):
        sb.advance(days)
        report = run_sync(fresh_served)
        assert report.status == "ok", report.errors
        assert_matches_truth(store, sb, org_id)
        changed += report.totals().changed
        removed += report.totals().removed
    # The sandbox changed the past (statuses, refunds, voids, reschedules, deletions) and the
    # incremental syncs carried every change over.
    assert changed > 0 and removed > 0


def test_faults_do_not_change_the_outcome(
    store: Store, org_id: int, fresh_served: RunningSandbox, run_sync: SyncFn
) -> None:
    sb = fresh_served.sandbox
    kinds = [
        "429",
        "429_date",
        "500",
        "502",
        "503",
        "reset",
        "truncate",
        "expire_401",
        "expire_json",
        "expire_redirect",
        "expire_html",
    ]
    for i, kind in enumerate(kinds):
        # A 429 slows the whole sync down (as it should): one of each form is enough here.
        count = 1 if kind.startswith("429") else 3
        if i == 0:
            sb.faults.set(kind, rate=0.03, count=count, seed=1)
        else:
            sb.faults.add(kind, rate=0.03, count=count)
    report = run_sync(fresh_served)
    assert report.status == "ok", report.errors
    assert_matches_truth(store, sb, org_id)
    fired = dict(sb.faults.injected)
    assert sum(fired.values()) >= 10, fired
    # After a clock step, with session expiry in every form mid-run.
    sb.advance(2)
    sb.faults.set("expire_json", rate=0.05, count=2, seed=3)
    sb.faults.add("expire_html", rate=0.05, count=2)
    report = run_sync(fresh_served)
    assert report.status == "ok", report.errors
    assert_matches_truth(store, sb, org_id)


def test_resync_without_change_writes_nothing_and_reads_only_the_lookback(
    synced_org: SyncedOrg, served: RunningSandbox
) -> None:
    settings = SyncSettings(concurrency=4)
    served.sandbox.stats.reset()
    again = synced_org.sync(served, settings)
    assert again.status == "ok"
    assert again.totals().inserted == again.totals().changed == again.totals().removed == 0
    windows = {s.stream: s for s in again.streams}
    # Only lookback (and, for appointments, future) windows are read: no backfill, no deep read.
    assert set(windows["appointments"].reasons) == {"lookback"}
    assert set(windows["invoices"].reasons) == {"lookback"}
    assert windows["invoices"].windows <= settings.invoice_lookback_days // 7 + 2
    assert (
        windows["appointments"].windows <= (settings.lookback_days + settings.future_days) // 7 + 2
    )
    assert (
        again.requests == served.sandbox.stats.total
    )  # every request the sandbox saw, sign-in included
    assert again.requests < synced_org.first_requests / 2


@pytest.mark.parametrize("deep_every_days", [0])
def test_deep_read_catches_changes_older_than_the_lookback(
    synced_org: SyncedOrg, fresh_served: RunningSandbox, deep_every_days: int
) -> None:
    sb = fresh_served.sandbox
    store, org_id, run_sync = synced_org.store, synced_org.org_id, synced_org.sync
    sb.advance(6)
    # With a lookback of 0 days, only a deep read can see refunds and voids of older invoices.
    shallow = run_sync(fresh_served, SyncSettings(deep_every_days=10_000), lookback_days=0)
    with pytest.raises(AssertionError):
        assert_matches_truth(store, sb, org_id)
    assert shallow.status == "ok"
    deep = run_sync(fresh_served, SyncSettings(deep_every_days=deep_every_days), lookback_days=0)
    assert deep.mode == "deep"
    assert_matches_truth(store, sb, org_id)
