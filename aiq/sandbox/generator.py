"""The demand model: which appointments and sales a practice plans for each clinic and day.

Volume follows the clinic's size, growth over time (about 15% a year), the season (busy before
summer and the holidays, quiet in January and high summer) and the weekday (Tuesday to Thursday
busiest, short Saturdays). Each appointment is planned with its whole life: when it was booked
(days or months ahead, online or by staff), whether it will be confirmed, rescheduled, canceled
(some late), end as a no-show or be completed, and the invoices that follow it.

Patients behave as a med spa's do (see `DemandModel`): they come back at their treatment's
cadence (neurotoxins every three to four months, fillers every six to twelve, facials monthly),
many book the next visit at checkout, some never return; members pay monthly dues until they
churn; packages, wallet credit and gift cards are spent by the patients who hold them.

Planning runs `HORIZON_DAYS` ahead of the practice's clock and a booking is released at its
`booked_at`, so every booking planned for a day is made at most `MAX_LEAD_DAYS` before it: its
`booked_at` is still in the clock's future when the day is planned (a booking made at checkout
included: its visit is planned within `MAX_LEAD_DAYS` of that checkout).
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiq.sandbox.catalog import (
    AESTH,
    DAILY_CAPACITY,
    INJECT,
    IV,
    LASER,
    MD,
    MEMBERSHIPS,
    PACKAGES,
    VIRTUAL_SERVICE,
    Catalog,
    Clinic,
    Service,
    Staff,
)
from aiq.sandbox.invoices import InvoicePlanner, below, between, pick
from aiq.sandbox.records import CANCELED, COMPLETED, NO_SHOW, OUT_OF_OFFICE, Appointment, Invoice

_MIN = dt.timedelta(minutes=1)
_HOUR = dt.timedelta(hours=1)
_DAY = dt.timedelta(days=1)
_TEN = dt.time(10, 0)
HORIZON_DAYS = 120
"""Days ahead that are planned; bookings are made at most `MAX_LEAD_DAYS` ahead."""
MAX_LEAD_DAYS = 110

# Busy before summer and the holidays, quiet in January and high summer.
_SEASON = (0.82, 0.92, 1.05, 1.08, 1.1, 1.0, 0.88, 0.86, 0.97, 1.03, 1.1, 1.08)
_WEEKDAY = (0.85, 1.05, 1.1, 1.08, 1.0, 0.9, 0.5)
_GIFT_SEASON = {11: 2.5, 12: 6.0, 2: 1.6, 5: 2.0}
_GROWTH_PER_YEAR = 0.15
_UTILISATION = 0.92
# Planned shares; 12% of cancellations are later deleted, so about 13.7% stay visible.
_CANCEL_RATE = 0.155
_NO_SHOW_RATE = 0.04


def holidays(year: int) -> set[dt.date]:
    """Days every clinic is closed: New Year's Day, Independence Day, Thanksgiving, Christmas."""
    nov1 = dt.date(year, 11, 1)
    thanksgiving = nov1 + dt.timedelta(days=(3 - nov1.weekday()) % 7 + 21)
    return {dt.date(year, 1, 1), dt.date(year, 7, 4), thanksgiving, dt.date(year, 12, 25)}


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw (Knuth for small means, a rounded normal for large ones)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


@dataclass
class Plan:
    """Everything planned for one clinic-day: appointments and invoices, each with its time."""

    appointments: list[Appointment] = field(default_factory=list)
    invoices: list[tuple[dt.datetime, Invoice]] = field(default_factory=list)


# -- patients' behaviour ------------------------------------------------------------------------
# Days between two visits of a treatment category (a range), and the share of patients who book
# the next one at checkout. Consultations (7) lead to a treatment; fillers (2) are due too far
# ahead to be booked at checkout (bookings are made at most MAX_LEAD_DAYS ahead).
_CADENCE: dict[int, tuple[int, int]] = {
    1: (84, 125),
    2: (180, 365),
    3: (35, 60),
    4: (24, 36),
    5: (30, 50),
    6: (14, 42),
    7: (7, 28),
    8: (42, 90),
}
_PREBOOK: dict[int, float] = {1: 0.55, 2: 0.0, 3: 0.45, 4: 0.55, 5: 0.45, 6: 0.3, 7: 0.4, 8: 0.35}
_NEVER_RETURN = 0.3  # new patients who never come back after their first visit
_LAPSE = 0.07  # returning patients who stop a treatment after a visit
_OVERDUE_DAYS = 60  # a patient this long past due without a slot has lapsed
_BACK_AFTER_MISS = 0.7  # canceled and no-show patients who come back a few weeks later
_NEW_SHARE = 0.2  # of the appointments not booked at checkout (consultations: _NEW_CONSULT)
_NEW_CONSULT = 0.6
_RAMP_DAYS = 45  # a provider hired during the history builds a clientele over this many days
# Memberships: members per unit of clinic size today; a member churns with this chance a month.
_MEMBERS_PER_SIZE = 46.0
_MEMBER_CHURN = 0.03
# A package is (treatment category, sessions): each redemption debits one session's value.
_PACKAGE_USE: dict[str, tuple[int, int]] = {
    "HydraFacial Series of 3": (4, 3),
    "Laser Hair Removal - 6 Sessions": (3, 6),
    "Microneedling Series of 3": (5, 3),
    "Botox Bank - 100 Units": (1, 3),
}
assert {name for name, _ in PACKAGES} == set(_PACKAGE_USE)
_GIFT_UNUSED = 0.12  # gift cards never redeemed
_OFFSETS = (0, 1, -1, 2, -2, 3, -3, 4, 5, 6, 7)


class _Booking(NamedTuple):
    """A next visit booked at checkout: who, what, and when the booking was made."""

    patient_id: int
    services: tuple[int, ...]
    booked_at: dt.datetime


def _counted(inv: Invoice) -> bool:
    """Whether a sale stands (its patient got what was sold): not a draft, voided or refunded."""
    return not inv.draft and inv.voided_at is None and not inv.refunds


def _next_month(day: dt.date, anchor: int) -> dt.date:
    """The `anchor`-th day of the month after `day`'s (the month's last day if it is shorter)."""
    first = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    last = ((first + dt.timedelta(days=32)).replace(day=1) - _DAY).day
    return first.replace(day=min(anchor, last))


class DemandModel:
    """Plans a practice day by day. Call `plan_day` in date order: it follows the patients.

    Each completed visit decides the patient's next one: never (a share of new patients, and
    returning ones who lapse), booked at checkout (`booked_at` is the checkout, the visit a
    cadence later with the same provider when they work then), or due from a date, in the
    clinic's pool of patients due for that category. A slot that is not booked at checkout
    takes a new patient, or the most overdue patient of its service's category, or else
    another of the clinic's patients. Canceled and no-show patients come due again weeks
    later. Memberships, packages, wallet credit and gift cards belong to patients too.
    """

    def __init__(
        self,
        catalog: Catalog,
        history_start: dt.date,
        today: dt.date,
        new_patient: Callable[[random.Random, Clinic], int],
    ) -> None:
        self.catalog = catalog
        self.history_start = history_start
        self.today = today
        self.new_patient = new_patient
        self.invoices = InvoicePlanner(catalog)
        self._holidays: dict[int, set[dt.date]] = {}
        self._by_skill: dict[str, tuple[list[Service], list[float]]] = {}
        # A discontinued service was sold in the first half of the history only.
        self._retire_day = history_start + (today - history_start) * 55 // 100
        self._virtual = next(s for s in catalog.services if s.name == VIRTUAL_SERVICE)
        for skill in (INJECT, AESTH, LASER, IV, MD):
            for active_only in (True, False):
                svcs = [
                    s
                    for s in catalog.services
                    if skill in s.skills and (s.is_active or not active_only)
                ]
                cum, total = [], 0.0
                for s in svcs:
                    total += s.weight
                    cum.append(total)
                self._by_skill[skill + ("" if active_only else "+old")] = (svcs, cum)
        self._providers_at = {
            c.id: [s for s in catalog.staff if s.skill is not None and c.id in s.schedule]
            for c in catalog.clinics
        }
        # Patients, by clinic in order of first appearance; who never comes back; who has had
        # a completed visit; the date (ordinal) of each patient's latest appointment so far.
        self._patients: dict[int, list[int]] = {c.id: [] for c in catalog.clinics}
        self._gone: set[int] = set()
        self._visited: set[int] = set()
        self._last: dict[int, int] = {}
        # Who is due for what: per (clinic, category) a heap of (due ordinal, seq, patient);
        # an entry is live while `_token[(patient, category)]` is its seq.
        self._seq = 0
        self._pool: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        self._token: dict[tuple[int, int], int] = {}
        # Next visits booked at checkout, per (clinic, day ordinal, provider).
        self._booked: dict[tuple[int, int, int], list[_Booking]] = {}
        # Memberships per clinic: a heap of (next charge ordinal, seq, [patient, plan, price,
        # day of month]); the patients who are members.
        self._members: dict[int, list[tuple[int, int, tuple[int, str, int, int]]]] = {}
        self._member_ids: set[int] = set()
        # Credit patients hold: packages patient -> {category: [sessions left, value of one,
        # sold at]}; wallet credit patient -> [[available from, cents]]; the balance of the gift
        # card a patient has started to spend; gift cards sold per clinic, not yet used.
        self._packages: dict[int, dict[int, list[Any]]] = {}
        self._wallet: dict[int, list[list[Any]]] = {}
        self._gift: dict[int, int] = {}
        self._cards: dict[int, deque[tuple[dt.datetime, int]]] = {
            c.id: deque() for c in catalog.clinics
        }

    # -- calendar -----------------------------------------------------------------------------

    def _closed(self, clinic: Clinic, day: dt.date) -> bool:
        hol = self._holidays.get(day.year)
        if hol is None:
            hol = self._holidays[day.year] = holidays(day.year)
        return day < clinic.opened or day.weekday() in clinic.closed_weekdays or day in hol

    def factor(self, clinic: Clinic, day: dt.date) -> float:
        """Relative demand at a clinic on a day (1.0 is a typical day today)."""
        return self._growth(clinic, day) * _SEASON[day.month - 1] * _WEEKDAY[day.weekday()]

    def _growth(self, clinic: Clinic, day: dt.date) -> float:
        years_back = (self.today - day).days / 365.25
        return clinic.size * math.pow(1 + _GROWTH_PER_YEAR, -years_back)

    @staticmethod
    def _works(s: Staff, clinic_id: int, day: dt.date) -> bool:
        return (
            day.weekday() in s.schedule.get(clinic_id, ())
            and s.active_from <= day
            and (s.active_until is None or day <= s.active_until)
        )

    def _working(self, clinic: Clinic, day: dt.date) -> list[Staff]:
        return [s for s in self._providers_at[clinic.id] if self._works(s, clinic.id, day)]

    def _ramp(self, provider: Staff, day: dt.date) -> float:
        """A provider hired during the history is booked little at first."""
        if provider.active_from <= self.history_start:
            return 1.0
        k = (day - provider.active_from).days + 1
        return 1.0 if k >= _RAMP_DAYS else (k / _RAMP_DAYS) ** 2

    def _service(self, rng: random.Random, skill: str, day: dt.date) -> Service:
        svcs, cum = self._by_skill[skill + ("+old" if day < self._retire_day else "")]
        return svcs[bisect.bisect(cum, rng.random() * cum[-1], 0, len(cum) - 1)]

    # -- the day's plan -----------------------------------------------------------------------

    def plan_day(self, rng: random.Random, clinic: Clinic, day: dt.date) -> Plan:
        """Plan a clinic's day: its appointments (with their futures) and its sales."""
        plan = Plan()
        if self._closed(clinic, day):
            return plan
        factor = self.factor(clinic, day)
        saturday = day.weekday() == 5
        open_at = dt.datetime.combine(day, dt.time(9, 0))
        close_at = dt.datetime.combine(day, dt.time(15 if saturday else 19, 0))
        day_ord = day.toordinal()
        # Patients' choices draw from a stream of their own, so that tuning how patients
        # behave does not reshuffle every appointment's life and every sale of the day.
        prng = random.Random(rng.getrandbits(32))
        for provider in self._working(clinic, day):
            assert provider.skill is not None
            cap = DAILY_CAPACITY[provider.skill] * (0.6 if saturday else 1.0)
            lam = cap * factor * _UTILISATION * self._ramp(provider, day)
            n = min(poisson(rng, lam), int(cap) + 2)
            booked = self._booked.pop((clinic.id, day_ord, provider.id), [])
            total = max(n, len(booked))
            t = open_at + _MIN * pick(rng, (0, 0, 15, 30, 60))
            for i in range(total):
                # The visits booked at checkout take slots spread over the day.
                if booked and prng.random() * (total - i) < len(booked):
                    b = booked.pop()
                    appt = self._prebooked(rng, clinic, provider, t, close_at, b)
                    if appt is None:
                        booked.append(b)
                        break
                else:
                    appt = self._appointment(rng, prng, clinic, provider, t, day, close_at)
                    if appt is None:
                        break
                plan.appointments.append(appt)
                self._follow_up(rng, prng, clinic, provider, appt, plan, day)
                t = appt.start + _MIN * (appt.minutes + pick(rng, (0, 0, 0, 15, 15, 30, 45, 60)))
            for b in booked:
                # No room left today: they come another day soon.
                svc = self.catalog.services_by_id[b.services[0]]
                self._due(b.patient_id, svc.category_id, clinic.id, day_ord + between(prng, 1, 8))
        self._daily_sales(rng, prng, clinic, day, factor, open_at, close_at, plan)
        for _, inv in plan.invoices:
            for r in inv.refunds:
                if r.destination == "wallet":
                    self._credit(inv.patient_id, r.refunded_at, r.amount)
        return plan

    def _appointment(
        self,
        rng: random.Random,
        prng: random.Random,
        clinic: Clinic,
        provider: Staff,
        start: dt.datetime,
        day: dt.date,
        close_at: dt.datetime,
    ) -> Appointment | None:
        """A slot's appointment, or None when it would end after closing time."""
        assert provider.skill is not None
        if rng.random() < 0.012:
            # A provider's blocked time: training, a meeting, a long lunch.
            minutes = pick(rng, (30, 60, 60, 120))
            if start + _MIN * minutes > close_at:
                return None
            return Appointment(
                clinic_id=clinic.id,
                provider_id=provider.id,
                kind=OUT_OF_OFFICE,
                start=start,
                minutes=minutes,
                services=(),
                booked_at=start - _DAY * between(rng, 1, 30) - _HOUR * between(rng, 0, 6),
                online=False,
                new_patient=False,
                patient_id=0,
                outcome=COMPLETED,
                seed=0,
            )
        svc = self._service(rng, provider.skill, day)
        services: tuple[Service, ...] = (svc,)
        if rng.random() < 0.12:
            other = self._service(rng, provider.skill, day)
            if other.id != svc.id and other.category_id != 7 and svc.category_id != 7:
                services = (svc, other)
        minutes = svc.minutes if len(services) == 1 else svc.minutes + services[1].minutes
        if start + _MIN * minutes > close_at:
            return None
        kind = "virtual" if svc.id == self._virtual.id else "in_person"
        cat = svc.category_id
        day_ord = day.toordinal()
        last = 0
        if prng.random() < (_NEW_CONSULT if cat == 7 else _NEW_SHARE):
            patient, new_patient = self._create(prng, clinic, before_history=False), True
        else:
            patient, new_patient = self._returning(prng, clinic, cat, day)
            last = self._last.get(patient, 0)
        self._token.pop((patient, cat), None)
        self._last[patient] = max(last, day_ord)
        online = rng.random() < (0.55 if kind == "virtual" or new_patient else 0.36)
        u = rng.random()
        lead = (
            between(rng, 0, 2)
            if u < 0.15
            else between(rng, 2, 15)
            if u < 0.55
            else between(rng, 15, 61)
            if u < 0.93
            else between(rng, 61, MAX_LEAD_DAYS)
        )
        hour = between(rng, 7, 23) if online else between(rng, 9, 18)
        booked = dt.datetime.combine(day - _DAY * lead, dt.time(hour, below(rng, 60)))
        if last:
            # Booked after the patient's previous visit (not at it: that is a booking at
            # checkout, planned with the visit).
            earliest = dt.datetime.combine(dt.date.fromordinal(last + 1), dt.time(8, 0))
            if booked < earliest:
                span = int((start - _HOUR - earliest) / _MIN)
                booked = earliest + _MIN * below(rng, max(span, 1))
        if booked >= start - _HOUR:
            booked = start - _MIN * between(rng, 60, 240)
        return Appointment(
            clinic_id=clinic.id,
            provider_id=provider.id,
            kind=kind,
            start=start,
            minutes=minutes,
            services=tuple(s.id for s in services),
            booked_at=booked,
            online=online,
            new_patient=new_patient,
            patient_id=patient,
            outcome=COMPLETED,
            seed=rng.getrandbits(31),
        )

    def _prebooked(
        self,
        rng: random.Random,
        clinic: Clinic,
        provider: Staff,
        start: dt.datetime,
        close_at: dt.datetime,
        b: _Booking,
    ) -> Appointment | None:
        """The visit a patient booked at checkout, or None when it would end after closing."""
        by_id = self.catalog.services_by_id
        svc = by_id[b.services[0]]
        minutes = sum(by_id[s].minutes for s in b.services)
        if start + _MIN * minutes > close_at:
            return None
        self._token.pop((b.patient_id, svc.category_id), None)
        day_ord = start.toordinal()
        self._last[b.patient_id] = max(self._last.get(b.patient_id, 0), day_ord)
        return Appointment(
            clinic_id=clinic.id,
            provider_id=provider.id,
            kind="in_person",
            start=start,
            minutes=minutes,
            services=b.services,
            booked_at=b.booked_at,
            online=False,
            new_patient=False,
            patient_id=b.patient_id,
            outcome=COMPLETED,
            seed=rng.getrandbits(31),
        )

    def _follow_up(
        self,
        rng: random.Random,
        prng: random.Random,
        clinic: Clinic,
        provider: Staff,
        a: Appointment,
        plan: Plan,
        day: dt.date,
    ) -> None:
        """Decide the appointment's future (reschedule, confirm, outcome), its invoices and
        what the patient does next."""
        assert provider.skill is not None
        if a.kind == OUT_OF_OFFICE:
            a.resolve_at = a.start + _MIN * a.minutes
            return
        # About 4% are moved to another week; the change is made before either date.
        if rng.random() < 0.04:
            weeks = pick(rng, (-2, -1, 1, 1, 2, 3))
            new_start = a.start + _DAY * 7 * weeks
            latest = min(a.start, new_start) - _HOUR * 2
            if latest > a.booked_at + _HOUR and not self._closed(clinic, new_start.date()):
                span = (latest - a.booked_at) // _MIN
                a.resched_at = a.booked_at + _MIN * between(rng, 30, max(span, 31))
                a.new_start = new_start
                pid = a.patient_id
                self._last[pid] = max(self._last[pid], new_start.toordinal())
        start = a.new_start or a.start
        after = a.resched_at or a.booked_at
        cat = self.catalog.services_by_id[a.services[0]].category_id
        if start - after > _DAY * 2 and rng.random() < 0.75:
            a.confirm_at = dt.datetime.combine((start - _DAY * 2).date(), _TEN)
            if a.confirm_at <= after:
                a.confirm_at = after + _MIN * 10
        if rng.random() < 0.012 and start - after > _DAY:
            # A booking made in error (a duplicate, the wrong patient) is deleted within days,
            # before its date: it never happens or bills. The patient is still due then.
            window = min(start - after - _HOUR, _DAY * 10)
            a.delete_at = after + _MIN * between(rng, 30, max(31, int(window / _MIN)))
            a.outcome = CANCELED
            self._due(a.patient_id, cat, clinic.id, start.toordinal())
            return
        u = rng.random()
        end = start + _MIN * a.minutes
        deposit = 0
        if (
            a.online
            and rng.random() < 0.7
            and sum(self.catalog.services_by_id[s].price for s in a.services) >= 40_000
        ):
            deposit = pick(rng, (5_000, 10_000))
            plan.invoices.append(
                (
                    a.booked_at + _MIN,
                    self.invoices.single(
                        rng,
                        clinic,
                        "deposit",
                        provider.id,
                        a.patient_id,
                        a.booked_at + _MIN,
                        appt=a,
                        amount=deposit,
                    ),
                )
            )
        if u < _CANCEL_RATE + _NO_SHOW_RATE and prng.random() < _BACK_AFTER_MISS:
            self._due(a.patient_id, cat, clinic.id, start.toordinal() + between(prng, 14, 36))
        if u < _CANCEL_RATE:
            a.outcome = CANCELED
            late = rng.random() < 0.3
            earliest = after + _MIN * 5
            if late or start - _DAY <= earliest:
                cancel = start - _MIN * between(rng, 30, 23 * 60)
                late = True
            else:
                span = (start - _DAY - earliest) // _MIN
                cancel = earliest + _MIN * below(rng, max(span, 1))
            a.cancel_at = max(cancel, earliest)
            if deposit and not late:
                # Canceled in time: the deposit stays in the patient's wallet.
                self._credit(a.patient_id, a.cancel_at, deposit)
            if rng.random() < 0.12:
                # Staff delete some canceled bookings outright; they vanish from AR.
                a.delete_at = a.cancel_at + _MIN * between(rng, 5, 3 * 24 * 60)
            elif late and rng.random() < 0.35:
                fee_at = a.cancel_at + _MIN * between(rng, 30, 120)
                plan.invoices.append(
                    (
                        fee_at,
                        self.invoices.single(
                            rng,
                            clinic,
                            "cancellation_fee",
                            provider.id,
                            a.patient_id,
                            fee_at,
                            appt=a,
                            amount=pick(rng, (5_000, 7_500, 10_000)),
                        ),
                    )
                )
            return
        # Most are checked out at the end; a few are left open for days (unresolved).
        delay = _MIN * between(rng, 0, 10) if rng.random() > 0.02 else _DAY * between(rng, 1, 7)
        a.resolve_at = end + delay
        if u < _CANCEL_RATE + _NO_SHOW_RATE:
            a.outcome = NO_SHOW
            if rng.random() < 0.45:
                fee_at = a.resolve_at + _HOUR * between(rng, 1, 4)
                plan.invoices.append(
                    (
                        fee_at,
                        self.invoices.single(
                            rng,
                            clinic,
                            "cancellation_fee",
                            provider.id,
                            a.patient_id,
                            fee_at,
                            appt=a,
                            amount=pick(rng, (5_000, 7_500, 10_000)),
                        ),
                    )
                )
            return
        created = a.resolve_at + _MIN * between(rng, 1, 15)
        self._checkout(rng, prng, clinic, provider, a, created, deposit, plan)
        self._next_visit(prng, clinic, provider, a, cat, day)

    def _checkout(
        self,
        rng: random.Random,
        prng: random.Random,
        clinic: Clinic,
        provider: Staff,
        a: Appointment,
        created: dt.datetime,
        deposit: int,
        plan: Plan,
    ) -> None:
        """The invoice of a completed visit, spending the patient's credit."""
        assert provider.skill is not None
        pid = a.patient_id
        wallet = deposit
        if pid in self._wallet:
            wallet += self._wallet_balance(pid, created)
        gift = self._gift.get(pid, 0)
        cards = self._cards[clinic.id]
        if (
            not gift
            and cards
            and cards[0][0] <= created
            and prng.random() < (0.25 if a.new_patient else 0.03)
        ):
            # A gift card's recipient (often new to the spa) brings it to a first visit.
            gift = cards.popleft()[1]
        package = None
        held: list[Any] | None = None
        packages = self._packages.get(pid)
        if packages:
            for sid in a.services:
                cat = self.catalog.services_by_id[sid].category_id
                held = packages.get(cat)
                if held is not None and held[2] < created:
                    package = (cat, held[1])
                    break
        inv = self.invoices.procedure(
            rng, a, clinic, provider.skill, created, wallet, gift, package
        )
        if inv is not None:
            plan.invoices.append((created, inv))
        if not (wallet or gift or package):
            return
        used_wallet = used_gift = 0
        if inv is not None:
            for p in inv.payments:
                if p.method == "wallet":
                    used_wallet += p.amount
                elif p.method == "egift":
                    used_gift += p.amount
            if package is not None and held is not None and packages and inv.wallet_debit:
                held[0] -= 1
                if held[0] <= 0:
                    del packages[package[0]]
        if wallet:
            self._spend_wallet(pid, deposit, used_wallet, created)
        if gift - used_gift > 0:
            self._gift[pid] = gift - used_gift
        else:
            self._gift.pop(pid, None)

    # -- patients -----------------------------------------------------------------------------

    def _create(self, rng: random.Random, clinic: Clinic, *, before_history: bool) -> int:
        """A patient new to the data: new to the spa, or seen before the history began."""
        pid = self.new_patient(rng, clinic)
        self._patients[clinic.id].append(pid)
        if before_history:
            self._visited.add(pid)
        return pid

    def _returning(
        self, rng: random.Random, clinic: Clinic, cat: int, day: dt.date
    ) -> tuple[int, bool]:
        """A patient for a slot that is not a new patient's: (patient, whether new after all)."""
        day_ord = day.toordinal()
        pid = self._due_patient(clinic.id, cat, day_ord)
        if pid:
            return pid, pid not in self._visited
        # Nobody due. While the history is young, a patient seen before it began (at a clinic
        # that opened since, a new one); later, another of the clinic's patients.
        opened = max(self.history_start, clinic.opened)
        warm = _CADENCE[cat][1]
        since = (day - opened).days
        if since < warm and rng.random() * warm >= since:
            fresh = clinic.opened > self.history_start
            return self._create(rng, clinic, before_history=not fresh), fresh
        pid = self._known_patient(rng, clinic, day_ord)
        if pid:
            return pid, pid not in self._visited
        return self._create(rng, clinic, before_history=False), True

    def _known_patient(self, rng: random.Random, clinic: Clinic, day_ord: int) -> int:
        """One of the clinic's patients, recent ones more likely, free to book for the day
        (0 if none was found)."""
        pool = self._patients[clinic.id]
        if not pool:
            return 0
        for _ in range(6):
            pid = pool[len(pool) - 1 - int(len(pool) * rng.random() ** 1.6)]
            if pid not in self._gone and self._last.get(pid, 0) <= day_ord - 2:
                return pid
        return 0

    def _any_patient(self, rng: random.Random, clinic: Clinic) -> int:
        """A patient of the clinic for a sale at the desk."""
        pool = self._patients[clinic.id]
        if len(pool) < 40:
            return self._create(rng, clinic, before_history=True)
        pid = 0
        for _ in range(4):
            # Recent patients come back more often than those first seen years ago.
            pid = pool[len(pool) - 1 - int(len(pool) * rng.random() ** 1.6)]
            if pid not in self._gone:
                break
        return pid

    def _due(self, pid: int, cat: int, clinic_id: int, due_ord: int) -> None:
        """The patient is due for a category at a clinic from a date (replacing an earlier
        due date of the category)."""
        self._seq += 1
        self._token[(pid, cat)] = self._seq
        heap = self._pool.get((clinic_id, cat))
        if heap is None:
            heap = self._pool[(clinic_id, cat)] = []
        heapq.heappush(heap, (due_ord, self._seq, pid))

    def _due_patient(self, clinic_id: int, cat: int, day_ord: int) -> int:
        """The most overdue patient due for a category who is free to book for the day (0 if
        none). Patients long overdue have lapsed and leave the pool."""
        heap = self._pool.get((clinic_id, cat))
        if not heap:
            return 0
        busy: list[tuple[int, int, int]] = []
        found = 0
        while heap and heap[0][0] <= day_ord:
            entry = heapq.heappop(heap)
            due, seq, pid = entry
            if self._token.get((pid, cat)) != seq:
                continue
            if day_ord - due > _OVERDUE_DAYS:
                del self._token[(pid, cat)]
                continue
            if self._last.get(pid, 0) > day_ord - 2:
                busy.append(entry)
                continue
            del self._token[(pid, cat)]
            found = pid
            break
        for entry in busy:
            heapq.heappush(heap, entry)
        return found

    def _next_visit(
        self,
        rng: random.Random,
        clinic: Clinic,
        provider: Staff,
        a: Appointment,
        cat: int,
        day: dt.date,
    ) -> None:
        """After a completed visit: the patient never returns, books the next visit at
        checkout, or will be due for it."""
        pid = a.patient_id
        self._visited.add(pid)
        if a.new_patient and rng.random() < _NEVER_RETURN:
            self._gone.add(pid)
            return
        if rng.random() < _LAPSE and cat not in self._packages.get(pid, ()):
            return
        assert provider.skill is not None and a.resolve_at is not None
        svc = self.catalog.services_by_id[a.services[0]]
        extra = self.catalog.services_by_id[a.services[1]] if len(a.services) > 1 else None
        if cat == 7:
            # After a consultation, a treatment.
            for _ in range(6):
                svc = self._service(rng, provider.skill, day)
                if svc.category_id != 7:
                    break
            else:
                return
        lo, hi = _CADENCE[cat]
        start = a.new_start or a.start
        visit = start.date()
        if rng.random() < _PREBOOK[cat]:
            end = start + _MIN * a.minutes
            checkout = a.resolve_at if a.resolve_at - end < _HOUR else end
            booked = checkout + _MIN * between(rng, 1, 6)
            gap = between(rng, lo, min(hi, MAX_LEAD_DAYS - 8))
            target = visit + _DAY * gap
            if self._reserve(rng, clinic, provider, pid, svc, extra, booked, target, day):
                return
        gap = between(rng, lo, hi + 1)
        self._due(pid, svc.category_id, clinic.id, visit.toordinal() + gap)

    def _reserve(
        self,
        rng: random.Random,
        clinic: Clinic,
        provider: Staff,
        pid: int,
        svc: Service,
        extra: Service | None,
        booked: dt.datetime,
        target: dt.date,
        day: dt.date,
    ) -> bool:
        """Book a visit at checkout near `target` (the same services: `svc` and `extra`), with
        the same provider if they work then (else another who performs `svc`); False when no
        day fits."""
        # The visit's day is planned HORIZON_DAYS ahead of the clock, and the booking is
        # pushed at `booked`: a lead under MAX_LEAD_DAYS keeps `booked` in the clock's future.
        latest = booked.date() + _DAY * (MAX_LEAD_DAYS - 1)
        for same in (True, False):
            providers = (
                [provider]
                if same
                else [p for p in self._providers_at[clinic.id] if p is not provider]
            )
            for off in _OFFSETS:
                d = target + _DAY * off
                if d <= day or d > latest or self._closed(clinic, d):
                    continue
                for p in providers:
                    assert p.skill is not None
                    if p.skill not in svc.skills or not self._works(p, clinic.id, d):
                        continue
                    key = (clinic.id, d.toordinal(), p.id)
                    taken = self._booked.get(key)
                    if taken is None:
                        taken = self._booked[key] = []
                    if len(taken) >= int(DAILY_CAPACITY[p.skill] * 0.5):
                        continue
                    chosen = svc
                    if not svc.is_active and d >= self._retire_day:
                        chosen = self._service(rng, p.skill, d)
                    services: tuple[int, ...] = (chosen.id,)
                    if (
                        extra is not None
                        and p.skill in extra.skills
                        and (extra.is_active or d < self._retire_day)
                    ):
                        services = (chosen.id, extra.id)
                    taken.append(_Booking(pid, services, booked))
                    self._seq += 1
                    self._token[(pid, chosen.category_id)] = self._seq  # not due meanwhile
                    return True
        return False

    # -- credit -------------------------------------------------------------------------------

    def _credit(self, pid: int, at: dt.datetime, cents: int) -> None:
        self._wallet.setdefault(pid, []).append([at, cents])

    def _wallet_balance(self, pid: int, at: dt.datetime) -> int:
        credits = self._wallet.get(pid)
        return sum(c[1] for c in credits if c[0] <= at) if credits else 0

    def _spend_wallet(self, pid: int, deposit: int, used: int, at: dt.datetime) -> None:
        """Spend `used` cents of a checkout's wallet: its deposit first, then older credit."""
        if used <= deposit:
            if deposit > used:
                self._credit(pid, at, deposit - used)
            return
        used -= deposit
        credits = self._wallet[pid]
        for c in credits:
            if used == 0:
                break
            if c[0] <= at:
                take = min(c[1], used)
                c[1] -= take
                used -= take
        left = [c for c in credits if c[1] > 0]
        if left:
            self._wallet[pid] = left
        else:
            del self._wallet[pid]

    # -- sales at the desk --------------------------------------------------------------------

    def _daily_sales(
        self,
        rng: random.Random,
        prng: random.Random,
        clinic: Clinic,
        day: dt.date,
        factor: float,
        open_at: dt.datetime,
        close_at: dt.datetime,
        plan: Plan,
    ) -> None:
        """Sales that are not checkouts: retail, memberships, packages, gift cards, quick pays."""
        desk = self.catalog.front_desk(clinic.id) or [self.catalog.staff[0]]
        minutes = int((close_at - open_at) / _MIN)
        self._memberships(rng, prng, clinic, day, desk, open_at, minutes, plan)
        gift = _GIFT_SEASON.get(day.month, 1.0)
        for invoice_type, lam in (
            ("retail", 2.2),
            ("package", 0.5),
            ("egift_purchase", 0.35 * gift),
            ("quickpay", 0.15),
        ):
            for _ in range(poisson(rng, lam * factor)):
                at = open_at + _MIN * below(rng, minutes)
                employee = pick(rng, desk).id
                if invoice_type == "package":
                    self._sell_package(rng, prng, clinic, employee, at, plan)
                    continue
                patient = self._any_patient(prng, clinic)
                if invoice_type == "retail":
                    balance = self._gift.get(patient, 0)
                    inv = self.invoices.retail(rng, clinic, employee, patient, at, balance)
                    if balance:
                        used = sum(p.amount for p in inv.payments if p.method == "egift")
                        if balance > used:
                            self._gift[patient] = balance - used
                        else:
                            del self._gift[patient]
                else:
                    inv = self.invoices.single(rng, clinic, invoice_type, employee, patient, at)
                    if (
                        invoice_type == "egift_purchase"
                        and _counted(inv)
                        and prng.random() >= _GIFT_UNUSED
                    ):
                        # Given to someone who brings it to a visit from the next day on.
                        self._cards[clinic.id].append((at + _DAY, inv.items[0].unit_price))
                plan.invoices.append((at, inv))

    def _sell_package(
        self,
        rng: random.Random,
        prng: random.Random,
        clinic: Clinic,
        employee: int,
        at: dt.datetime,
        plan: Plan,
    ) -> None:
        """A package, to a recent patient of its treatment, who comes back to redeem it."""
        name, price = pick(rng, PACKAGES)
        cat, sessions = _PACKAGE_USE[name]
        # A patient due for the treatment (an entry of its pool, live or not).
        pid = 0
        due = self._pool.get((clinic.id, cat))
        if due:
            for _ in range(5):
                pid = due[below(prng, len(due))][2]
                if pid not in self._gone and cat not in self._packages.get(pid, ()):
                    break
                pid = 0
        if not pid:
            pid = self._any_patient(prng, clinic)
        inv = self.invoices.single(rng, clinic, "package", employee, pid, at, plan=(name, price))
        plan.invoices.append((at, inv))
        held = self._packages.setdefault(pid, {})
        if _counted(inv) and cat not in held:
            held[cat] = [sessions, price // sessions, at]
            if (pid, cat) not in self._token:
                soon = between(prng, 7, _CADENCE[cat][0])
                self._due(pid, cat, clinic.id, at.toordinal() + soon)

    def _memberships(
        self,
        rng: random.Random,
        prng: random.Random,
        clinic: Clinic,
        day: dt.date,
        desk: list[Staff],
        open_at: dt.datetime,
        minutes: int,
        plan: Plan,
    ) -> None:
        """Members' monthly dues (charged early on their day of the month, or the next day the
        clinic is open), churn, and new members signing up at the desk."""
        members = self._members.get(clinic.id)
        day_ord = day.toordinal()
        if members is None:
            members = self._members[clinic.id] = []
            if clinic.opened <= self.history_start:
                # Members from before the history, charged over its first month.
                for _ in range(round(self._member_target(clinic, day))):
                    pid = self._create(prng, clinic, before_history=True)
                    due = day + _DAY * below(prng, 30)
                    plan_ = pick(prng, MEMBERSHIPS)
                    self._member_ids.add(pid)
                    self._seq += 1
                    heapq.heappush(members, (due.toordinal(), self._seq, (pid, *plan_, due.day)))
        while members and members[0][0] <= day_ord:
            sched, _, m = heapq.heappop(members)
            pid, name, price, anchor = m
            at = dt.datetime.combine(day, dt.time(6, 0)) + _MIN * between(rng, 0, 30)
            inv = self.invoices.single(
                rng, clinic, "membership", pick(rng, desk).id, pid, at, plan=(name, price)
            )
            plan.invoices.append((at, inv))
            if prng.random() < _MEMBER_CHURN:
                self._member_ids.discard(pid)
                continue
            nxt = _next_month(dt.date.fromordinal(sched), anchor)
            self._seq += 1
            heapq.heappush(members, (nxt.toordinal(), self._seq, m))
        target = self._member_target(clinic, day)
        lam = (_MEMBER_CHURN * target + max(0.0, target - len(members)) * 0.3) / 25
        for _ in range(poisson(prng, lam)):
            pid = self._member_candidate(prng, clinic)
            if not pid:
                break
            name, price = pick(prng, MEMBERSHIPS)
            at = open_at + _MIN * below(rng, minutes)
            inv = self.invoices.single(
                rng, clinic, "membership", pick(rng, desk).id, pid, at, plan=(name, price)
            )
            plan.invoices.append((at, inv))
            self._member_ids.add(pid)
            nxt = _next_month(day, day.day)
            self._seq += 1
            heapq.heappush(members, (nxt.toordinal(), self._seq, (pid, name, price, day.day)))

    def _member_target(self, clinic: Clinic, day: dt.date) -> float:
        """How many members a clinic has about now (a new clinic signs them up over months)."""
        return _MEMBERS_PER_SIZE * self._growth(clinic, day)

    def _member_candidate(self, rng: random.Random, clinic: Clinic) -> int:
        """A recent patient of the clinic who is not a member yet (0 if none was found)."""
        pool = self._patients[clinic.id]
        if not pool:
            return 0
        for _ in range(5):
            pid = pool[len(pool) - 1 - int(len(pool) * rng.random() ** 3)]
            if pid not in self._gone and pid not in self._member_ids:
                return pid
        return 0
