"""Business anomalies (docs/reports.md) on synced sandbox data: found when injected, else quiet."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import select

from aiq.alerts import detect, figures, ledger
from aiq.alerts.check import check_org
from aiq.config import AlertSettings
from aiq.reports import api
from aiq.sandbox import Sandbox
from aiq.sandbox.server import serve_in_thread
from aiq.sandbox.testing import TEST_TODAY, make_config
from aiq.store.db import Store
from aiq.store.models import Clinic, Staff, table_of
from aiq.store.orgs import OrgRef
from tests.sync.conftest import RECENT, SyncedOrg, SyncFn

BAD_DAY = dt.date(2026, 11, 24)  # a Tuesday, two days before the sandbox's today
THRESHOLDS = figures.Thresholds()  # the defaults, as configured out of the box


def _clinics(store: Store, org_id: int) -> dict[int, str]:
    c = table_of(Clinic)
    with store.connect() as conn:
        return {int(r.id): str(r.name) for r in conn.execute(select(c).where(c.c.org_id == org_id))}


def test_a_day_of_heavy_cancellations_is_found_with_its_clinic_day_and_driver(
    store: Store, org_id: int, run_sync: SyncFn
) -> None:
    with serve_in_thread(Sandbox(make_config())) as running:
        sb = running.sandbox
        clinic_id = sb.truth()["clinics"][0]["id"]
        canceled = sb.inject_anomaly(None, clinic_id, BAD_DAY, share=0.7)
        assert canceled >= 5
        # Three months of history: the detector's baselines are the 8 weeks before the day.
        run_sync(running, since=RECENT)
        truth = sb.truth()
    found = detect.anomalies(store, org_id, THRESHOLDS, days=3, today=TEST_TODAY)
    assert len(found.found) == 1, [f.title for f in found.found]
    (f,) = found.found
    name = _clinics(store, org_id)[clinic_id]
    assert (f.clinic_id, f.clinic, f.day) == (clinic_id, name, BAD_DAY)
    assert f.fingerprint == f"anomaly:{org_id}:{clinic_id}:{BAD_DAY}"
    figs = {x["figure"]: x for x in f.facts["figures"]}
    assert "cancellation_rate" in figs
    rate = figs["cancellation_rate"]
    assert rate["value"] > 0.5 > rate["baseline"]
    # The driver: the provider with the most extra cancellations that day, named.
    driver = rate["driver"]
    assert driver["kind"] == "provider"
    by_provider = Counter(
        a["provider_id"]
        for a in truth["appointments"]
        if a["clinic_id"] == clinic_id
        and a["status"] == "canceled"
        and a["start"].startswith(BAD_DAY.isoformat())
    )
    assert by_provider[driver["id"]] == max(by_provider.values())
    s = table_of(Staff)
    with store.connect() as conn:
        shown = conn.execute(select(s.c.display_name).where(s.c.id == driver["id"])).scalar_one()
    assert driver["name"] == shown
    for words in (name, "Tuesday 2026-11-24", "cancellation rate", shown, "likely driver"):
        assert words in f.what
    assert "usual" in f.title

    # Through the ledger: one open alert, and the next check finds the same one.
    org = OrgRef(org_id, "Glow Med Spa", 4411, "", "active")
    settings = AlertSettings()
    first = check_org(store, org, settings, interval=dt.timedelta(days=1), today=TEST_TODAY)
    again = check_org(store, org, settings, interval=dt.timedelta(days=1), today=TEST_TODAY)
    assert (first.opened, again.opened) == (1, 0)
    # Once the day leaves the checked window, the alert expires without a message.
    later = check_org(
        store, org, settings, interval=dt.timedelta(days=1), today=TEST_TODAY + dt.timedelta(5)
    )
    assert later.expired == 1 and later.resolved == 0
    (row,) = [a for a in ledger.list_alerts(store, [org_id]) if a.kind == "anomaly"]
    assert row.status == "expired"


def test_normal_data_over_a_quarter_raises_no_anomaly(synced_org: SyncedOrg) -> None:
    store, org_id = synced_org.store, synced_org.org_id  # the whole sandbox, synced
    last = TEST_TODAY - dt.timedelta(days=1)
    first = last - dt.timedelta(days=90)
    found = detect.anomalies(store, org_id, THRESHOLDS, first=first, last=last)
    assert found.found == [], [f"{f.clinic} {f.day}: {f.what}" for f in found.found]
    # The quarter was judged: open days had baselines (closed days are skipped, not failed).
    days = figures.load_days(store, org_id, first - dt.timedelta(weeks=8), last)
    judged = [
        (c, d)
        for (c, d) in days
        if first <= d <= last and figures.judge(days, c, d, THRESHOLDS) is not None
    ]
    assert len(judged) > 100
    # The detector's net sales are the revenue report's, clinic by clinic (one formula).
    month = api.revenue(store, api.ReportRequest(month="2026-10", today=TEST_TODAY), by="clinic")
    assert month.breakdown is not None
    report = {row.key: row.summary.net_sales for row in month.breakdown.rows}
    detector: Counter[int] = Counter()
    for (clinic, day), figs in days.items():
        if day.year == 2026 and day.month == 10:
            detector[clinic] += figs.net_sales
    assert len(report) == 2 and all(report.values())
    assert dict(detector) == report


def test_closed_days_and_normally_closed_weekdays_are_not_judged() -> None:
    days: figures.Days = {}
    tuesday = dt.date(2026, 11, 24)
    for k in range(1, 9):
        d = tuesday - dt.timedelta(weeks=k)
        day = figures.ClinicDay(net_sales=500_000, booked=20, completed=17, canceled=2, resolved=20)
        day.completed_by_provider[7] = 17
        day.sales_by_provider[7] = 500_000
        days[(1, d)] = day
    # A holiday: nothing booked at all. Not an anomaly, however low the sales.
    days[(1, tuesday)] = figures.ClinicDay(net_sales=-20_000)
    assert figures.judge(days, 1, tuesday, THRESHOLDS) is None
    # A weekday the clinic never opens has no baseline.
    sunday = dt.date(2026, 11, 22)
    days[(1, sunday)] = figures.ClinicDay(booked=3, completed=3, resolved=3)
    assert figures.judge(days, 1, sunday, THRESHOLDS) is None
    # An open day far below normal is judged and flagged, with its provider as the driver.
    bad = figures.ClinicDay(net_sales=20_000, booked=20, completed=4, canceled=15, resolved=20)
    bad.completed_by_provider[7] = 4
    bad.sales_by_provider[7] = 20_000
    bad.canceled_by_provider[7] = 15
    days[(1, tuesday)] = bad
    found = figures.judge(days, 1, tuesday, THRESHOLDS)
    assert found is not None
    assert {d.figure for d in found} == {"net_sales", "completed", "cancellation_rate"}
    assert all(d.driver == ("provider", 7) for d in found)
    # A good day is not an alert unless asked for.
    good = figures.ClinicDay(net_sales=1_500_000, booked=30, completed=30, resolved=30)
    days[(1, tuesday)] = good
    assert figures.judge(days, 1, tuesday, THRESHOLDS) == []
    both = figures.Thresholds(both_ways=True)
    assert {d.figure for d in figures.judge(days, 1, tuesday, both) or []} >= {"net_sales"}
