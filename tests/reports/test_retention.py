"""`aiq report retention`: every patient figure equals the sandbox's ground truth, computed from
its own patient records (aiq.sandbox.insights), for every month of the history, on SQLite and
Postgres, with small cells suppressed where the truth has fewer than ``min_cell`` patients.

aiq gets there over real HTTP, holding patient ids in memory for one pass only; the truth reads
the sandbox's records directly. The two share only the definitions of docs/reports.md.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from aiq.config import PrivacySettings, SyncSettings
from aiq.errors import UsageError
from aiq.reports import api
from aiq.reports.retention import Figure, RetentionReport, add_months
from aiq.sandbox.server import RunningSandbox
from aiq.store.db import Store, open_store
from aiq.store.models import PatientPass, table_of
from aiq.sync.engine import SyncEngine, SyncOptions
from tests.helpers import aiq_process
from tests.reports.conftest import module_database, request_for
from tests.sync.conftest import RECENT, SINCE, copy_synced_org, make_client

MIN_CELL = 11


def _months(today: date) -> list[date]:
    out, m = [], SINCE.replace(day=1)
    while m <= today.replace(day=1):
        out.append(m)
        m = add_months(m, 1)
    return out


def _month_end(m: date) -> date:
    return add_months(m, 1) - timedelta(days=1)


def _key(m: date) -> str:
    return f"{m:%Y-%m}"


def _small(n: int, min_cell: int = MIN_CELL) -> bool:
    return 0 < n < min_cell


def _report(store: Store, month: date, today: date, **kw: Any) -> RetentionReport:
    req = request_for(month=_key(month), today=today, min_cell=kw.pop("min_cell", MIN_CELL))
    return api.retention(store, req, **kw)


def _check_rate(f: Figure, count: int, base: int, patients: int, what: str) -> None:
    if patients < MIN_CELL:
        assert f.suppressed and f.count is None and f.base is None, what
    else:
        assert not f.suppressed, what
        assert (f.count, f.base, f.patients) == (count, base, patients), what


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def synced_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The module's sandbox synced from ``SINCE``, its patient pass saved, on each database:
    a copy of the run's synced org (the same sandbox config), for the tests that only read it."""
    with module_database(request.param, tmp_path_factory) as url:
        copy_synced_org(url)
        yield url


@pytest.fixture(scope="module")
def synced_store(synced_url: str) -> Iterator[Store]:
    store = open_store(synced_url, migrate=False)
    try:
        yield store
    finally:
        store.dispose()


@pytest.fixture(scope="module")
def synced(synced_store: Store, served: RunningSandbox) -> tuple[Any, date]:
    """The sandbox's patient truth as of the sync, and the sync's date."""
    with synced_store.connect() as conn:
        (saved,) = conn.execute(select(table_of(PatientPass).c.history_from)).all()
    assert saved.history_from == SINCE  # the first sync's pass
    today = served.sandbox.now.date()
    until = today + timedelta(days=SyncSettings().future_days)
    return served.sandbox.patient_truth(history_from=SINCE, until=until, today=today), today


def test_every_patient_figure_equals_the_sandbox_truth(
    synced_store: Store, synced: tuple[Any, date]
) -> None:
    store = synced_store
    truth, today = synced
    months = _months(today)
    checked: dict[str, int] = dict.fromkeys(("rebooking", "provider", "clinic", "returns"), 0)
    suppressed = 0
    for month in months:
        k = _key(month)
        r = _report(store, month, today, by="provider")
        # Rebooking: the practice and each provider (hidden cells: the truth's small ones, plus
        # at most one more where exactly one is small).
        rebooked, completed, patients = truth.rebooking.get((k, "practice", 0), (0, 0, 0))
        if completed:
            _check_rate(r.rebooking, rebooked, completed, patients, f"{k} rebooking")
            checked["rebooking"] += 1
        small = {
            sid
            for (m, scope, sid), (_, _, n) in truth.rebooking.items()
            if m == k and scope == "provider" and n < MIN_CELL
        }
        shown = 0
        for cell in r.breakdown:
            t = truth.rebooking[(k, "provider", cell.id)]
            if cell.id in small:
                assert cell.rebooking.suppressed, (k, cell.name)
                suppressed += 1
            elif not cell.rebooking.suppressed:
                _check_rate(cell.rebooking, *t, f"{k} {cell.name}")
                shown += 1
        assert {c.id for c in r.breakdown} == {
            sid for (m, scope, sid) in truth.rebooking if m == k and scope == "provider"
        }
        assert shown >= len(r.breakdown) - len(small) - (1 if len(small) == 1 else 0)
        checked["provider"] += shown
        # Return within 30 / 90 / 180 days.
        for n in (30, 90, 180):
            returned, pats = truth.returns.get((k, n), (0, 0))
            f = r.returns[n]
            pending = _month_end(month) + timedelta(days=n) >= today
            assert f.pending == pending, (k, n)
            if _small(pats):
                assert f.suppressed, (k, n)
            elif pending or not pats:
                assert f.count is None and f.share is None, (k, n)
            else:
                assert (f.count, f.base) == (returned, pats), (k, n)
                checked["returns"] += 1
        # New and returning revenue: equal to the truth, and adding up to net sales.
        new_patients = truth.new_revenue_patients.get(k, 0)
        if _small(new_patients):
            assert r.revenue_new.suppressed and r.revenue_returning.suppressed, k
        else:
            assert r.revenue_new.amount_cents == truth.revenue.get((k, "new"), 0), k
            assert r.revenue_returning.amount_cents == truth.revenue.get((k, "returning"), 0), k
            assert r.revenue_new.patients == new_patients, k
            net = api.revenue(store, request_for(month=k, today=today)).summary.net_sales
            assert r.revenue_new.amount_cents + r.revenue_returning.amount_cents == net, k
        # Memberships.
        members, joined, left, revenue = truth.members[k]
        assert r.membership_revenue_cents == revenue, k
        if _small(members):
            assert r.members.suppressed, k
        else:
            assert r.members.count == members, k
        if joined is None:
            assert r.new_members.count is None and r.churned_members.count is None, k
        elif r.new_members.suppressed:
            before = truth.members.get(_key(add_months(month, -1)), (0, None, None, 0))[0]
            assert any(_small(x) for x in (joined, left or 0, members, before)), k
            assert r.churned_members.suppressed, k
        else:
            assert (r.new_members.count, r.churned_members.count) == (joined, left), k
    # Cohorts: the last month's report shows the last twelve; an earlier one the rest.
    seen = 0
    for month in (months[-1], add_months(months[-1], -12)):
        for c in _report(store, month, today).cohorts:
            k = _key(c.month)
            active, size = truth.cohorts.get((k, 0), (0, 0))
            if _small(size):
                assert c.size.suppressed and all(f.suppressed for f in c.months), k
                continue
            assert c.size.base == size, k
            for after, f in enumerate(c.months, start=1):
                active, size = truth.cohorts.get((k, after), (0, size))
                if _month_end(add_months(c.month, after)) >= today:
                    assert f.pending and f.share is None, (k, after)
                elif size:
                    assert (f.count, f.base) == (active, size), (k, after)
                    seen += 1
    # The trend's rebooking rate is the same figure, month by month.
    trend = api.trend(store, request_for(today=today))
    for m in trend.months:
        month = m.month.start
        if month >= SINCE:
            share = _report(store, month, today).rebooking.share
            assert m.values["rebooking_rate"].value == share, month
    # The sandbox's data exercised every branch: figures shown, hidden and pending.
    assert checked["rebooking"] >= 6 and checked["provider"] >= 20 and checked["returns"] >= 6
    assert seen >= 20 and suppressed >= 1


def test_by_clinic_and_a_larger_min_cell_hide_more_at_once(
    synced_store: Store, synced: tuple[Any, date]
) -> None:
    store = synced_store
    truth, today = synced
    month = add_months(today.replace(day=1), -2)
    k = _key(month)
    r = _report(store, month, today, by="clinic")
    for cell in r.breakdown:
        if not cell.rebooking.suppressed:
            _check_rate(cell.rebooking, *truth.rebooking[(k, "clinic", cell.id)], cell.name)
    # A larger [privacy] min_cell applies to reports at once, with no new pass.
    _, _, patients = truth.rebooking[(k, "practice", 0)]
    assert patients >= MIN_CELL
    big = _report(store, month, today, min_cell=patients + 1)
    assert big.rebooking.suppressed and big.rebooking.count is None
    assert big.revenue_new.suppressed == big.revenue_returning.suppressed
    assert all(c.size.suppressed or not c.size.base or c.size.base > patients for c in big.cohorts)
    assert any(c.size.suppressed for c in big.cohorts)


def test_the_retention_command_in_table_json_and_csv(
    synced_store: Store, synced_url: str, synced: tuple[Any, date]
) -> None:
    store, db_url = synced_store, synced_url
    _, today = synced
    month = _key(add_months(today.replace(day=1), -1))
    common = ("--db", db_url, "report", "retention", "--month", month, "--today", str(today))
    table = aiq_process(*common, "--by", "provider", env={**os.environ, "COLUMNS": "140"})
    assert table.code == 0, table.err
    for words in ("Rebooking rate", "Return within 90 days", "Members", "Retention", "+1"):
        assert words in table.out
    doc = json.loads(aiq_process(*common, "--format", "json").out)
    assert doc["report"] == "retention" and doc["month"] == month
    assert set(doc["returns"]) == {"30", "90", "180"}
    assert doc["pass"]["history_from"] == SINCE.isoformat() and doc["pass"]["min_cell"] == 11
    assert len(doc["cohorts"]) == 12 or doc["cohorts"][0]["cohort"] == _key(SINCE)
    assert all(set(c["months"][0]) >= {"value", "suppressed", "pending"} for c in doc["cohorts"])
    csv = aiq_process(*common, "--format", "csv").out.splitlines()
    assert csv[0].startswith("figure,month,scope,name,months_after,value")
    assert sum(1 for line in csv if line.startswith("cohort,")) >= 13
    refused = aiq_process("--db", db_url, "report", "retention", "--month", "2026-13")
    assert refused.code == 2 and "2026-13" in refused.err
    with pytest.raises(UsageError, match="calendar month"):
        api.retention(store, request_for(date_from="2026-10-01", date_to="2026-10-31"))


def test_before_any_pass_the_report_says_how_to_make_one(
    store: Store, db_url: str, org_id: int, served: RunningSandbox
) -> None:
    off = PrivacySettings(patient_figures=False)
    with make_client(served.base_url) as client:
        # A first sync (three months will do) with the pass off.
        options = SyncOptions(today=served.sandbox.now.date(), since=RECENT)
        engine = SyncEngine(store, client, org_id, SyncSettings(), options, privacy=off)
        assert engine.run().patient_pass is None
    res = aiq_process("--db", db_url, "report", "retention")
    assert res.code == 1
    assert "no patient figures yet" in res.err and "aiq sync --patients" in res.err
    assert "Traceback" not in res.err
