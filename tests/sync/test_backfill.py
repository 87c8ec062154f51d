"""A first sync reads newest first, reports during it say what they cover, windows fit the data."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update

from aiq.config import SyncSettings
from aiq.errors import Interrupted
from aiq.render.documents import revenue_document
from aiq.reports import api
from aiq.reports.api import ReportRequest
from aiq.reports.sync_health import coverage_note
from aiq.sandbox.server import RunningSandbox
from aiq.store.db import Store
from aiq.store.models import SyncWindow, table_of
from aiq.sync.engine import SyncEngine, SyncOptions
from tests.sync.conftest import SINCE, SyncFn, make_client
from tests.sync.truth import assert_matches_truth

WINDOWED = ("appointments", "invoices")


def _month(d: date) -> str:
    return f"{d:%Y-%m}"


def test_a_report_during_a_first_sync_says_what_it_covers(
    store: Store, org_id: int, fresh_served: RunningSandbox, run_sync: SyncFn
) -> None:
    sb = fresh_served.sandbox
    today = sb.now.date()
    this_month = _month(today)
    old_month = _month(date(SINCE.year, SINCE.month + 1, 1))
    done: dict[str, tuple[int, int]] = {}
    stop = threading.Event()

    def progress(stream: str, windows_done: int, total: int) -> None:
        done[stream] = (windows_done, total)
        # A third of each stream's windows written: newest first, that is the last few months.
        if all(s in done and done[s][0] * 3 >= done[s][1] > 0 for s in WINDOWED):
            stop.set()

    client = make_client(fresh_served.base_url)
    engine = SyncEngine(
        store,
        client,
        org_id,
        SyncSettings(concurrency=2, batch_rows=500),
        SyncOptions(today=today, since=SINCE),
        progress=progress,
        should_stop=stop.is_set,
    )
    try:
        with pytest.raises(Interrupted):
            engine.run()
    finally:
        client.close()
    assert stop.is_set()

    req = ReportRequest(month=this_month, today=today)
    early = api.revenue(store, req)
    assert early.coverage is not None and early.coverage.complete, early.coverage
    assert early.summary.net_sales > 0
    assert revenue_document(early)["coverage"]["complete"] is True

    old = api.revenue(store, ReportRequest(month=old_month, today=today))
    assert old.coverage is not None and not old.coverage.complete
    assert old.coverage.backfilling
    doc = revenue_document(old)["coverage"]
    assert doc["complete"] is False and doc["backfilling"] is True and doc["missing"]
    note = coverage_note(old.coverage)
    assert note is not None and "has not read" in note and "aiq report sync" in note

    health = api.sync(store, ReportRequest(today=today))
    backfill = {b.stream: b for b in health.backfill}
    assert set(backfill) == set(WINDOWED)
    assert all(not b.complete and 0 < b.share < 1 for b in backfill.values())

    # The next run goes on from there; the early figures were the final ones.
    assert run_sync(fresh_served).status == "ok"
    assert_matches_truth(store, sb, org_id)
    final = api.revenue(store, req)
    assert final.summary == early.summary
    later = api.revenue(store, ReportRequest(month=old_month, today=today))
    assert later.coverage is not None and later.coverage.complete
    assert all(b.complete for b in api.sync(store, ReportRequest(today=today)).backfill)

    # Before the synced history: said so, and not as a backfill in progress.
    before = api.revenue(
        store, ReportRequest(month=_month(date(SINCE.year - 1, 1, 1)), today=today)
    )
    assert before.coverage is not None and not before.coverage.complete
    assert not before.coverage.backfilling
    note = coverage_note(before.coverage)
    assert note is not None and "no sync has read" in note and "history starts 2025-05" in note


def test_request_windows_follow_the_records_not_the_calendar(
    fresh_served: RunningSandbox, run_sync: SyncFn
) -> None:
    # Two and a half years with no record before the sandbox's history begins.
    first = run_sync(fresh_served, since=date(2023, 1, 1))
    assert first.status == "ok"
    records = {s.stream: s.inserted for s in first.streams if s.stream in WINDOWED}
    per_page = {"appointments": 100, "invoices": 50}
    again = run_sync(fresh_served, since=date(2023, 1, 1), full=True)
    assert again.status == "ok"
    for s in again.streams:
        if s.stream in WINDOWED:
            fewest = -(-records[s.stream] // per_page[s.stream])
            # One request a week would be over 200 for the windows alone.
            assert s.windows > 200
            assert s.requests <= fewest * 1.15 + 3, (s.stream, s.requests, fewest)


def test_between_whole_lookbacks_a_run_rereads_only_recent_invoices(
    store: Store, org_id: int, fresh_served: RunningSandbox, run_sync: SyncFn
) -> None:
    settings = SyncSettings(concurrency=4)
    # today=None: the real clock, which decides when a window was last read.
    assert run_sync(fresh_served, settings, today=None).status == "ok"
    again = run_sync(fresh_served, settings, today=None)
    invoices = next(s for s in again.streams if s.stream == "invoices")
    assert again.status == "ok" and set(invoices.reasons) == {"lookback"}
    assert invoices.windows <= settings.invoice_recent_days // 7 + 2

    # A day later (the windows' read times moved back), the whole lookback is read again.
    with store.begin() as conn:
        conn.execute(
            update(table_of(SyncWindow))
            .where(table_of(SyncWindow).c.stream == "invoices")
            .values(read_at=datetime(2020, 1, 1))
        )
    later = run_sync(fresh_served, settings, today=None)
    invoices = next(s for s in later.streams if s.stream == "invoices")
    assert later.status == "ok"
    assert invoices.windows >= settings.invoice_lookback_days // 7
    assert later.requests > again.requests * 2
    # The engine's today is the furthest-ahead time zone's date; appointments run 90 days past it.
    sb = fresh_served.sandbox
    ahead = (datetime.now(UTC) + timedelta(hours=14)).date() - sb.now.date()
    assert_matches_truth(store, sb, org_id, future_days=90 + ahead.days)
