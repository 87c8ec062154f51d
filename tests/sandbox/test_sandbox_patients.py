"""Patients behave as a med spa's do (cadences, bookings at checkout, lapses, memberships,
packages, gift cards), and the sandbox's patient truth follows the docs' definitions."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from itertools import pairwise
from statistics import median
from typing import Any, cast

import pytest

from aiq.reports.period import parse_month
from aiq.sandbox import Sandbox
from aiq.sandbox.insights import PatientTruth, months_between, patient_truth
from aiq.sandbox.practice import Practice
from aiq.sandbox.records import CANCELED, COMPLETED, Appointment, Invoice, Item, Payment
from aiq.sandbox.testing import TEST_TODAY, make_config
from tests.reports.test_sandbox_truth import truth_summary

DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def practice() -> Iterator[Practice]:
    """The small test practice (2 clinics, 1 year), read only."""
    yield Sandbox(make_config()).practice()


@pytest.fixture(scope="module")
def truth(practice: Practice) -> PatientTruth:
    return patient_truth(
        practice,
        history_from=practice.history_start,
        until=TEST_TODAY + dt.timedelta(days=60),
        today=TEST_TODAY,
    )


def completed(practice: Practice) -> list[Appointment]:
    now = practice.now
    return sorted(
        (
            a
            for a in practice.appointments.values()
            if a.patient_id and a.state(now)[0] == "completed"
        ),
        key=lambda a: a.start,
    )


def category(practice: Practice, a: Appointment) -> int:
    return practice.catalog.services_by_id[a.services[0]].category_id


def test_patients_return_at_their_treatments_cadence(practice: Practice) -> None:
    days: dict[tuple[int, int], list[dt.date]] = defaultdict(list)
    for a in completed(practice):
        days[(a.patient_id, category(practice, a))].append(a.start.date())
    gaps: dict[int, list[int]] = defaultdict(list)
    for (_, cat), seen in days.items():
        gaps[cat] += [(b - a).days for a, b in pairwise(seen)]
    assert len(gaps[1]) > 300 and 80 <= median(gaps[1]) <= 130, "neurotoxins: 3-4 months"
    assert len(gaps[2]) > 50 and 150 <= median(gaps[2]) <= 380, "fillers: 6-12 months"
    assert len(gaps[4]) > 300 and 25 <= median(gaps[4]) <= 45, "facials: monthly"


def test_a_share_books_the_next_visit_at_checkout(practice: Practice) -> None:
    """A booking made at checkout is dated the visit's day, after its end."""
    by_patient: dict[int, list[Appointment]] = defaultdict(list)
    for a in practice.appointments.values():
        if a.patient_id:
            by_patient[a.patient_id].append(a)
    first = practice.history_start + dt.timedelta(days=60)
    last = TEST_TODAY - dt.timedelta(days=30)
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for a in completed(practice):
        if not first <= a.start.date() <= last:
            continue
        end = a.start + dt.timedelta(minutes=a.minutes)
        prebooked = any(
            b.start > a.start and end <= b.booked_at and b.booked_at.date() == a.start.date()
            for b in by_patient[a.patient_id]
        )
        for key in (0, category(practice, a)):
            counts[key][0] += prebooked
            counts[key][1] += 1
    share = {k: n / total for k, (n, total) in counts.items()}
    assert 0.30 <= share[0] <= 0.45
    assert share[1] > share[0] and share[4] > share[0], "more for neurotoxins and facials"
    assert share[2] < 0.05, "fillers are due too far ahead to book at checkout"


def test_some_new_patients_never_return(practice: Practice) -> None:
    by_patient: dict[int, list[Appointment]] = defaultdict(list)
    for a in practice.appointments.values():
        if a.patient_id:
            by_patient[a.patient_id].append(a)
    never = []
    for a in completed(practice):
        # First visits, long enough ago and of treatments due again within months.
        if (
            a.new_patient
            and a.start.date() < TEST_TODAY - dt.timedelta(days=150)
            and category(practice, a) in (1, 3, 4, 5, 6)
        ):
            never.append(not any(b.start > a.start for b in by_patient[a.patient_id]))
    assert len(never) > 200
    assert 0.2 <= sum(never) / len(never) <= 0.4


def test_members_pay_monthly_until_they_churn(practice: Practice) -> None:
    now = practice.now
    dues: dict[int, list[Invoice]] = defaultdict(list)
    for inv in practice.invoices.values():
        if inv.invoice_type == "membership":
            dues[inv.patient_id].append(inv)
    assert len(dues) > 60
    gaps = []
    for invs in dues.values():
        invs.sort(key=lambda i: i.created_at)
        for a, b in pairwise(invs):
            gaps.append((b.created_at - a.created_at).days)
            if gaps[-1] < 40:  # the same membership (a member who left may join again)
                assert a.items[0].name == b.items[0].name, "one plan"
    assert gaps and sum(27 <= g <= 33 for g in gaps) / len(gaps) > 0.9, "about a month apart"
    stopped = [p for p, invs in dues.items() if invs[-1].created_at < now - 45 * DAY]
    joined = [
        p
        for p, invs in dues.items()
        if invs[0].created_at.date() > practice.history_start + 60 * DAY and len(invs) >= 2
    ]
    assert len(stopped) >= 10 and len(joined) >= 10
    assert len(stopped) < len(dues) / 2


def test_credit_is_spent_by_the_patient_who_holds_it(practice: Practice) -> None:
    """Packages by their buyer over months, the wallet by the patient who was credited, gift
    cards after they were sold."""
    bought: dict[int, list[dt.datetime]] = defaultdict(list)
    credited: dict[int, list[dt.datetime]] = defaultdict(list)
    events: list[tuple[dt.datetime, int]] = []
    for inv in practice.invoices.values():
        if inv.invoice_type == "package":
            bought[inv.patient_id].append(inv.created_at)
        if inv.invoice_type == "deposit":
            credited[inv.patient_id].append(inv.created_at)
        for r in inv.refunds:
            if r.destination == "wallet":
                credited[inv.patient_id].append(r.refunded_at)
        if inv.invoice_type == "egift_purchase":
            events.append((inv.created_at, inv.items[0].unit_price))
        events += [(p.paid_at, -p.amount) for p in inv.payments if p.method == "egift"]
    redemptions = [
        inv for inv in practice.invoices.values() if inv.wallet_debit and inv.appointment
    ]
    assert len(redemptions) > 100
    later = []
    for inv in redemptions:
        assert any(t < inv.created_at for t in bought[inv.patient_id]), "the buyer redeems"
        later.append((inv.created_at - min(bought[inv.patient_id])).days)
    assert max(later) > 90, "over months"
    wallet = [
        inv for inv in practice.invoices.values() if any(p.method == "wallet" for p in inv.payments)
    ]
    assert len(wallet) > 100
    for inv in wallet:
        assert any(t <= inv.created_at for t in credited[inv.patient_id])
    # Gift cards: never more redeemed than sold so far.
    balance = 0
    for _, cents in sorted(events):
        balance += cents
        assert balance >= 0
    assert sum(c for _, c in events if c < 0) < 0


def test_provider_months_hold_large_and_small_cells(truth: PatientTruth) -> None:
    cells = [
        patients
        for (month, scope, _), (_, _, patients) in truth.rebooking.items()
        if scope == "provider" and month < f"{TEST_TODAY:%Y-%m}"
    ]
    assert median(cells) > 40
    assert sum(c >= 11 for c in cells) / len(cells) > 0.85
    assert any(0 < c < 11 for c in cells), "a new provider's first month"


def test_truth_agrees_with_the_sales_summary(practice: Practice, truth: PatientTruth) -> None:
    wire = practice.truth()
    # The truth reads the invoices created from the start of the history (some deposits are
    # older: taken when a visit of the first months was booked).
    start = f"{practice.history_start}"
    wire["invoices"] = [i for i in wire["invoices"] if i["created_at"] >= start]
    months = months_between(practice.history_start + 40 * DAY, TEST_TODAY)
    assert len(months) >= 10
    for month in months:
        summary = truth_summary(wire, parse_month(month), None)
        assert (
            truth.revenue[(month, "new")] + truth.revenue[(month, "returning")]
            == summary["net_sales"]
        ), month
        assert truth.members[month][3] == summary["memberships"], month
        rebooked, done, patients = truth.rebooking[(month, "practice", 0)]
        assert 0 < rebooked < done and 0 < patients <= done
        clinics = [v for k, v in truth.rebooking.items() if k[0] == month and k[1] == "clinic"]
        assert sum(c[1] for c in clinics) == done
    mid = months[3:-4]
    rates = [truth.rebooking[(m, "practice", 0)] for m in mid]
    assert all(0.3 <= r[0] / r[1] <= 0.5 for r in rates), rates
    churn = [truth.members[m][2] for m in mid]
    joins = [truth.members[m][1] for m in mid]
    assert all(c is not None for c in churn) and sum(cast(list[int], churn)) > 0
    assert sum(cast(list[int], joins)) > 0
    assert all(truth.cohorts[(m, 0)][0] > 50 for m in mid)


# -- a hand-built practice --------------------------------------------------------------------


class _Practice:
    """Just what `patient_truth` reads."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self.appointments: dict[int, Appointment] = {}
        self.invoices: dict[int, Invoice] = {}


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(f"2026-{text}")


def _visit(
    p: _Practice,
    patient: int,
    start: str,
    booked: str,
    *,
    canceled: str | None = None,
    new: bool = False,
    clinic: int = 1,
    provider: int = 9,
) -> Appointment:
    a = Appointment(
        clinic_id=clinic,
        provider_id=provider,
        kind="in_person",
        start=_at(start),
        minutes=30,
        services=(101,),
        booked_at=_at(booked),
        online=False,
        new_patient=new,
        patient_id=patient,
        outcome=CANCELED if canceled else COMPLETED,
        seed=0,
    )
    if canceled:
        a.cancel_at = _at(canceled)
    else:
        a.resolve_at = a.start + dt.timedelta(minutes=30)
    a.id = len(p.appointments) + 1
    p.appointments[a.id] = a
    return a


def _sale(p: _Practice, patient: int, created: str, kind: str, cents: int, **pay: Any) -> None:
    item = Item(kind, None, None, kind, 15, 100, cents, 0, 0, 9, 0)
    method, paid = pay.get("method", "cash"), pay.get("paid", created)
    inv = Invoice(
        clinic_id=1,
        invoice_type=kind,
        appointment=None,
        employee_id=9,
        created_at=_at(created),
        items=(item,),
        tip=0,
        payments=(Payment(method, cents, _at(paid), 0),),
        refunds=(),
        voided_at=None,
        draft=False,
        patient_id=patient,
        seed=0,
    )
    inv.id = len(p.invoices) + 1
    p.invoices[inv.id] = inv


def test_hand_checked_patient_truth() -> None:
    p = _Practice(_at("12-01 12:00"))
    # 1: the next visit, booked at checkout, is canceled the same day: not rebooked.
    _visit(p, 1, "10-05 10:00", "09-20 10:00")
    _visit(p, 1, "11-05 10:00", "10-05 10:40", canceled="10-05 18:00")
    # 2: canceled the day after: rebooked when the day ended.
    _visit(p, 2, "10-05 11:00", "09-20 10:00")
    _visit(p, 2, "11-10 10:00", "10-05 11:40", canceled="10-06 09:00")
    # 3: booked the day after the visit: not rebooked; back within 30 days of the 20th.
    _visit(p, 3, "10-05 12:00", "09-20 10:00", clinic=2, provider=8)
    _visit(p, 3, "10-20 12:00", "10-06 09:00", clinic=2, provider=8)
    _visit(p, 3, "11-15 12:00", "10-21 09:00", clinic=2, provider=8)
    # 4: new in September (canceled), first seen in October: the October cohort.
    _visit(p, 4, "09-10 10:00", "09-01 10:00", canceled="09-09 10:00", new=True)
    _visit(p, 4, "10-12 10:00", "10-01 10:00")
    _visit(p, 4, "12-20 10:00", "10-12 10:45")  # booked at checkout, months ahead
    _sale(p, 4, "10-12 10:40", "service", 30000)
    _sale(p, 1, "10-05 10:40", "service", 20000)
    _sale(p, 4, "10-13 09:00", "membership", 9900, method="wallet", paid="11-02 09:00")
    _sale(p, 2, "10-14 09:00", "membership", 9900)
    _sale(p, 2, "11-14 09:00", "membership", 9900)
    _sale(p, 3, "11-15 13:00", "membership", 14900)

    t = patient_truth(
        cast(Practice, p),
        history_from=dt.date(2026, 9, 1),
        until=dt.date(2026, 12, 31),
        today=dt.date(2026, 12, 1),
    )
    assert t.rebooking[("2026-10", "practice", 0)] == (2, 5, 4)  # 2 and 4 of 1, 2, 3, 3, 4
    assert t.rebooking[("2026-10", "clinic", 2)] == (0, 2, 1)
    assert t.rebooking[("2026-10", "provider", 9)] == (2, 3, 3)
    assert t.rebooking[("2026-09", "practice", 0)] == (0, 0, 0)
    assert ("2026-09", "clinic", 1) not in t.rebooking
    # October: 1, 2, 3 (last on the 20th, back on 11-15) and 4 (back on 12-20: not yet).
    assert t.returns[("2026-10", 30)] == (1, 4)
    assert t.returns[("2026-10", 90)] == (1, 4)
    assert t.cohorts[("2026-10", 0)] == (1, 1)
    assert t.cohorts[("2026-10", 1)] == (0, 1) and t.cohorts[("2026-09", 0)] == (0, 0)
    # Patient 4's October invoices are new revenue; the wallet payment is November's.
    assert t.revenue[("2026-10", "new")] == 30000 + 9900
    assert t.revenue[("2026-10", "returning")] == 20000 + 9900
    assert t.revenue[("2026-11", "returning")] == -9900 + 9900 + 14900
    assert t.revenue[("2026-11", "new")] == 0
    assert t.new_revenue_patients == {"2026-09": 0, "2026-10": 1, "2026-11": 0, "2026-12": 0}
    assert t.members["2026-09"] == (0, None, None, 0)
    assert t.members["2026-10"] == (2, 2, 0, 19800)
    assert t.members["2026-11"] == (2, 1, 1, 24800)
