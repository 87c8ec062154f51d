"""Appointments, providers, services and products on the hand-built practice, worked by hand.

See tests/reports/handmade.py for the data.
"""

from __future__ import annotations

from datetime import date

import pytest

from aiq.reports import api
from aiq.reports.period import Period
from aiq.reports.providers import goal_share
from aiq.store.db import Store
from tests.reports.conftest import request_for


def test_appointment_figures(hand_store: Store) -> None:
    r = api.appointments(hand_store, request_for(month="2026-10"))
    f = r.summary
    # A1-A10 less A6 (out of office) = 9 booked; seen on 2026-11-26 every open one is past.
    assert (f.booked, f.completed, f.canceled, f.no_shows) == (9, 4, 2, 1)
    assert (f.upcoming, f.unresolved, f.resolved) == (0, 2, 7)  # A7, A8; 4 + 2 + 1
    assert f.completion_rate == pytest.approx(4 / 7)
    assert f.cancellation_rate == pytest.approx(2 / 7)
    assert f.no_show_rate == pytest.approx(1 / 7)
    assert f.late_cancellations == 1  # A3, 19 h ahead; A4 was 72 h ahead
    assert f.new_patient_share == pytest.approx(2 / 4)  # A1, A9 of the 4 completed
    assert f.online_booking_share == pytest.approx(3 / 9)  # A1, A3, A9
    assert f.completed_minutes == 60 + 60 + 90 + 30 and f.completed_hours == 4


def test_appointments_compare_with_last_month_and_last_year(hand_store: Store) -> None:
    r = api.appointments(hand_store, request_for(month="2026-10"))
    assert r.to_date is None  # October has ended: the whole month is compared
    prev, ago = r.comparisons
    assert (prev.name, prev.period) == (
        "previous",
        Period(date(2026, 9, 1), date(2026, 9, 30), True),
    )
    assert (ago.name, ago.period) == (
        "year_ago",
        Period(date(2025, 10, 1), date(2025, 10, 31), True),
    )
    # A21-A23: three completed hours in September; nothing in October 2025.
    f = prev.figures
    assert (f.booked, f.completed, f.canceled, f.no_shows, f.completed_minutes) == (3, 3, 0, 0, 180)
    assert prev.change_of("completed", r.summary) == (1, pytest.approx(1 / 3))
    assert prev.change_of("booked", r.summary) == (6, pytest.approx(2))
    diff, rel = prev.change_of("completion_rate", r.summary)  # 4/7 against 3/3: in points
    assert diff == pytest.approx(4 / 7 - 1) and rel == pytest.approx(4 / 7 - 1)
    assert prev.change_of("no_show_rate", r.summary)[0] == pytest.approx(1 / 7)
    assert ago.figures.booked == 0 and ago.change_of("booked", r.summary) == (9, None)
    assert ago.change_of("no_show_rate", r.summary) == (None, None)  # nothing resolved then

    # A month still running compares its days to date with the same days before.
    r = api.appointments(hand_store, request_for(month="2026-10", today=date(2026, 10, 20)))
    assert r.compared_period == Period(date(2026, 10, 1), date(2026, 10, 20))
    assert r.comparisons[0].period == Period(date(2026, 9, 1), date(2026, 9, 20))
    assert r.comparisons[1].period == Period(date(2025, 10, 1), date(2025, 10, 20))
    assert r.to_date is not None and r.compared is r.to_date
    assert (r.summary.booked, r.to_date.booked) == (9, 7)  # A7 (10-28), A10 (10-31) are later
    assert r.to_date.completed_minutes == 60 + 60 + 90


def test_upcoming_depends_on_the_hour(hand_store: Store) -> None:
    # Seen at noon UTC on 10-15: A7 (10-28) is ahead, A8 (10-13) is past.
    r = api.appointments(hand_store, request_for(month="2026-10", today=date(2026, 10, 15)))
    assert (r.summary.upcoming, r.summary.unresolved) == (1, 1)


def test_appointment_breakdowns_add_up(hand_store: Store) -> None:
    for by in ("clinic", "provider", "day"):
        r = api.appointments(hand_store, request_for(month="2026-10"), by=by)
        for name in (
            "booked",
            "completed",
            "canceled",
            "no_shows",
            "upcoming",
            "unresolved",
            "late_cancellations",
            "new_patients",
            "online_booked",
            "completed_minutes",
        ):
            assert sum(getattr(row.figures, name) for row in r.rows) == getattr(r.summary, name)
    r = api.appointments(hand_store, request_for(month="2026-10"), by="clinic")
    assert {row.label: row.figures.completed for row in r.rows} == {"Austin": 2, "Scottsdale": 2}
    # A10 at 23:00 on 10-31 in Scottsdale (06:00 UTC on 11-01) is on the 31st.
    r = api.appointments(hand_store, request_for(month="2026-10"), by="day")
    assert {row.key: row.figures.completed for row in r.rows}[date(2026, 10, 31)] == 1


def test_appointments_of_a_clinic_and_a_provider(hand_store: Store) -> None:
    r = api.appointments(hand_store, request_for(month="2026-10", clinic="Scottsdale"))
    assert (r.summary.booked, r.summary.completed, r.summary.completed_minutes) == (2, 2, 120)
    r = api.appointments(hand_store, request_for(month="2026-10", provider="Mia R."))
    assert (r.summary.booked, r.summary.no_shows) == (7, 1)


def test_provider_figures(hand_store: Store) -> None:
    r = api.providers(hand_store, request_for(month="2026-10"))
    assert [p.name for p in r.rows] == ["Mia R.", "Noah K."]  # Front D. is not a provider
    mia, noah = r.rows
    # Mia's items: 56000 - 5600 + 5000 (I1) + 20000 (I3) + 28000 (I5b) + 5000 (I7) + 14000 (I11)
    assert (mia.rank, mia.sales_cents) == (1, 122400)
    assert mia.service_sales_cents == 50400 + 20000 + 28000 + 14000
    assert mia.tips_cents == 13200
    assert mia.invoices == 5  # I1 I3 I5b I7 I11
    assert mia.average_ticket_cents == 24480  # 122400 / 5
    a = mia.appointments
    assert (a.booked, a.completed, a.canceled, a.no_shows) == (7, 2, 2, 1)
    assert (a.no_show_rate, a.cancellation_rate) == (pytest.approx(0.2), pytest.approx(0.4))
    assert mia.sales_per_completed_hour_cents == 61200  # 122400 over 2 hours
    assert mia.goal_sales_cents == 1_000_000 and mia.sales_attainment == pytest.approx(0.1224)
    assert mia.goal_completed == 20 and mia.completed_attainment == pytest.approx(0.1)
    assert mia.commission_cents == 44960  # 40 % of 112400
    # Noah: 24000 + 20000 + 9900; invoices I4 I6b I8; 2 hours; no goals; 30 % of 20000.
    assert (noah.sales_cents, noah.invoices, noah.average_ticket_cents) == (53900, 3, 17967)
    assert noah.sales_per_completed_hour_cents == 26950
    assert noah.goal_sales_cents is None and noah.sales_attainment is None
    assert noah.commission_cents == 6000


def test_goals_are_pro_rated_for_part_of_a_month(hand_store: Store) -> None:
    r = api.providers(hand_store, request_for(date_from="2026-10-01", date_to="2026-10-15"))
    mia = r.rows[0]
    assert r.goal_share == pytest.approx(15 / 31)
    # 1,000,000 * 15 / 31 = 483870.97; her sales of the 1st-15th: I1 55400 + I3 20000.
    assert mia.goal_sales_cents == 483871
    assert mia.sales_attainment == pytest.approx(75400 / 483871)
    assert mia.goal_completed == pytest.approx(20 * 15 / 31)
    assert mia.completed_attainment == pytest.approx(2 / (20 * 15 / 31))


def test_goal_share_spans_months() -> None:
    period = Period(date(2026, 9, 16), date(2026, 10, 31))
    assert goal_share(period, date(2026, 11, 26)) == 15 / 30 + 1
    # A period still running counts up to today.
    assert goal_share(Period(date(2026, 10, 1), date(2026, 10, 31), True), date(2026, 10, 10)) == (
        pytest.approx(10 / 31)
    )


def test_services(hand_store: Store) -> None:
    r = api.catalog(hand_store, request_for(month="2026-10"), "service")
    rows = {row.name: row for row in r.rows}
    botox, hydra = rows["Botox"], rows["Hydrafacial"]
    # Botox: 40 + 20 + 10 units; 56000 + 28000 + 14000; I1's discount 5600.
    assert (botox.units, botox.value_cents, botox.discount_cents, botox.net_cents) == (
        70,
        98000,
        5600,
        92400,
    )
    assert (hydra.units, hydra.net_cents) == (2, 40000)  # I3, I6b (I2 is void, I10 a draft)
    assert r.total.net_cents == 132400
    assert botox.share == pytest.approx(92400 / 132400)
    assert sum(row.net_cents for row in r.rows) == r.total.net_cents
    cats = api.catalog(hand_store, request_for(month="2026-10"), "service", by="category")
    assert {row.name: row.net_cents for row in cats.rows} == {
        "Neurotoxins": 92400,
        "Facials": 40000,
    }
    # Attach rate: invoices with a service I1 I3 I5b I6b I11; with retail too: I1.
    assert (r.attach.service_invoices, r.attach.with_retail, r.attach.rate) == (5, 1, 0.2)


def test_products(hand_store: Store) -> None:
    r = api.catalog(hand_store, request_for(month="2026-10"), "retail")
    rows = {row.name: row for row in r.rows}
    spf, vitc = rows["SPF 50"], rows["Vitamin C Serum"]
    # SPF: I1 x1 + I5c x2 (I12 is open); cost 2000 each.
    assert (spf.units, spf.net_cents, spf.cost_cents, spf.margin_cents) == (3, 15000, 6000, 9000)
    # Vitamin C: I4 x2 (refunded in November: the sale stays October's); cost 5000 each.
    assert (vitc.units, vitc.net_cents, vitc.cost_cents, vitc.margin_cents) == (
        2,
        24000,
        10000,
        14000,
    )
    t = r.total
    assert (t.units, t.value_cents, t.net_cents, t.cost_cents, t.margin_cents) == (
        5,
        39000,
        39000,
        16000,
        23000,
    )
    assert t.margin_rate == pytest.approx(23000 / 39000)
    assert vitc.share == pytest.approx(24000 / 39000)


def test_reports_of_an_empty_month(hand_store: Store) -> None:
    req = request_for(month="2026-06")
    assert not api.appointments(hand_store, req).has_data
    assert not api.providers(hand_store, req).has_data
    assert not api.catalog(hand_store, req, "service").has_data
    assert api.catalog(hand_store, req, "retail").attach.rate is None


def test_monthly_holds_every_report(hand_store: Store) -> None:
    m = api.monthly(hand_store, request_for(month="2026-10"))
    assert m.revenue.summary.net_sales == 235336
    assert m.appointments.summary.completed == 4
    assert [p.name for p in m.providers.rows] == ["Mia R.", "Noah K."]
    assert m.services.total.net_cents == 132400 and m.products.total.cost_cents == 16000
    assert sum(p.amount_cents for p in m.payments.payments) == 282718
    assert len(m.previous_trend) == 30
    # Without a month: the last full month.
    assert api.monthly(hand_store, request_for()).period.label == "2026-10"
