"""The demand model: which appointments and sales a practice plans for each clinic and day.

Volume follows the clinic's size, growth over time (about 15% a year), the season (busy before
summer and the holidays, quiet in January and high summer) and the weekday (Tuesday to Thursday
busiest, short Saturdays). Each appointment is planned with its whole life: when it was booked
(days or months ahead, online or by staff), whether it will be confirmed, rescheduled, canceled
(some late), end as a no-show or be completed, and the invoices that follow it.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from aiq.sandbox.catalog import (
    AESTH,
    DAILY_CAPACITY,
    INJECT,
    IV,
    LASER,
    MD,
    VIRTUAL_SERVICE,
    Catalog,
    Clinic,
    Service,
    Staff,
)
from aiq.sandbox.invoices import InvoicePlanner
from aiq.sandbox.records import CANCELED, COMPLETED, NO_SHOW, OUT_OF_OFFICE, Appointment, Invoice

_MIN = dt.timedelta(minutes=1)
_HOUR = dt.timedelta(hours=1)
_DAY = dt.timedelta(days=1)
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


class DemandModel:
    """Plans a practice day by day. Call `plan_day` in date order: new patients are numbered."""

    def __init__(
        self,
        catalog: Catalog,
        history_start: dt.date,
        today: dt.date,
        new_patient: Callable[[random.Random, Clinic], int],
        returning_patient: Callable[[random.Random, Clinic], int],
    ) -> None:
        self.catalog = catalog
        self.history_start = history_start
        self.today = today
        self.new_patient = new_patient
        self.returning_patient = returning_patient
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

    def _closed(self, clinic: Clinic, day: dt.date) -> bool:
        hol = self._holidays.get(day.year)
        if hol is None:
            hol = self._holidays[day.year] = holidays(day.year)
        return day < clinic.opened or day.weekday() in clinic.closed_weekdays or day in hol

    def factor(self, clinic: Clinic, day: dt.date) -> float:
        """Relative demand at a clinic on a day (1.0 is a typical day today)."""
        years_back = (self.today - day).days / 365.25
        growth = math.pow(1 + _GROWTH_PER_YEAR, -years_back)
        return clinic.size * growth * _SEASON[day.month - 1] * _WEEKDAY[day.weekday()]

    def _working(self, clinic: Clinic, day: dt.date) -> list[Staff]:
        wd = day.weekday()
        return [
            s
            for s in self.catalog.staff
            if s.skill is not None
            and wd in s.schedule.get(clinic.id, ())
            and s.active_from <= day
            and (s.active_until is None or day <= s.active_until)
        ]

    def _service(self, rng: random.Random, skill: str, day: dt.date) -> Service:
        svcs, cum = self._by_skill[skill + ("+old" if day < self._retire_day else "")]
        return rng.choices(svcs, cum_weights=cum)[0]

    def plan_day(self, rng: random.Random, clinic: Clinic, day: dt.date) -> Plan:
        """Plan a clinic's day: its appointments (with their futures) and its sales."""
        plan = Plan()
        if self._closed(clinic, day):
            return plan
        factor = self.factor(clinic, day)
        saturday = day.weekday() == 5
        open_at = dt.datetime.combine(day, dt.time(9, 0))
        close_at = dt.datetime.combine(day, dt.time(15 if saturday else 19, 0))
        for provider in self._working(clinic, day):
            assert provider.skill is not None
            cap = DAILY_CAPACITY[provider.skill] * (0.6 if saturday else 1.0)
            n = min(poisson(rng, cap * factor * _UTILISATION), int(cap) + 2)
            t = open_at + _MIN * rng.choice((0, 0, 15, 30, 60))
            for _ in range(n):
                appt = self._appointment(rng, clinic, provider, t, day)
                end = appt.start + _MIN * appt.minutes
                if end > close_at:
                    break
                plan.appointments.append(appt)
                self._follow_up(rng, clinic, provider, appt, plan)
                t = end + _MIN * rng.choice((0, 0, 0, 15, 15, 30, 45, 60))
        self._daily_sales(rng, clinic, day, factor, open_at, close_at, plan)
        return plan

    def _appointment(
        self, rng: random.Random, clinic: Clinic, provider: Staff, start: dt.datetime, day: dt.date
    ) -> Appointment:
        assert provider.skill is not None
        if rng.random() < 0.012:
            # A provider's blocked time: training, a meeting, a long lunch.
            minutes = rng.choice((30, 60, 60, 120))
            return Appointment(
                clinic_id=clinic.id,
                provider_id=provider.id,
                kind=OUT_OF_OFFICE,
                start=start,
                minutes=minutes,
                services=(),
                booked_at=start - _DAY * rng.randrange(1, 30) - _HOUR * rng.randrange(0, 6),
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
        kind = "virtual" if svc.id == self._virtual.id else "in_person"
        new_patient = rng.random() < (0.6 if svc.category_id == 7 else 0.17)
        patient = (
            self.new_patient(rng, clinic) if new_patient else self.returning_patient(rng, clinic)
        )
        online = rng.random() < (0.55 if kind == "virtual" or new_patient else 0.32)
        u = rng.random()
        lead = (
            rng.randrange(0, 2)
            if u < 0.15
            else rng.randrange(2, 15)
            if u < 0.55
            else rng.randrange(15, 61)
            if u < 0.93
            else rng.randrange(61, MAX_LEAD_DAYS)
        )
        hour = rng.randrange(7, 23) if online else rng.randrange(9, 18)
        booked = dt.datetime.combine(day - _DAY * lead, dt.time(hour, rng.randrange(60)))
        if booked >= start - _HOUR:
            booked = start - _MIN * rng.randrange(60, 240)
        return Appointment(
            clinic_id=clinic.id,
            provider_id=provider.id,
            kind=kind,
            start=start,
            minutes=sum(s.minutes for s in services),
            services=tuple(s.id for s in services),
            booked_at=booked,
            online=online,
            new_patient=new_patient,
            patient_id=patient,
            outcome=COMPLETED,
            seed=rng.getrandbits(31),
        )

    def _follow_up(
        self, rng: random.Random, clinic: Clinic, provider: Staff, a: Appointment, plan: Plan
    ) -> None:
        """Decide the appointment's future (reschedule, confirm, outcome) and its invoices."""
        assert provider.skill is not None
        if a.kind == OUT_OF_OFFICE:
            a.resolve_at = a.start + _MIN * a.minutes
            return
        # About 4% are moved to another week; the change is made before either date.
        if rng.random() < 0.04:
            weeks = rng.choice((-2, -1, 1, 1, 2, 3))
            new_start = a.start + _DAY * 7 * weeks
            latest = min(a.start, new_start) - _HOUR * 2
            if latest > a.booked_at + _HOUR and not self._closed(clinic, new_start.date()):
                span = (latest - a.booked_at) // _MIN
                a.resched_at = a.booked_at + _MIN * rng.randrange(30, max(span, 31))
                a.new_start = new_start
        start = a.new_start or a.start
        after = a.resched_at or a.booked_at
        if start - after > _DAY * 2 and rng.random() < 0.75:
            a.confirm_at = dt.datetime.combine((start - _DAY * 2).date(), dt.time(10, 0))
            if a.confirm_at <= after:
                a.confirm_at = after + _MIN * 10
        if rng.random() < 0.012 and start - after > _DAY:
            # A booking made in error (a duplicate, the wrong patient) is deleted within days,
            # before its date: it never happens or bills.
            window = min(start - after - _HOUR, _DAY * 10)
            a.delete_at = after + _MIN * rng.randrange(30, max(31, int(window / _MIN)))
            a.outcome = CANCELED
            return
        u = rng.random()
        end = start + _MIN * a.minutes
        deposit = 0
        if (
            a.online
            and rng.random() < 0.7
            and sum(self.catalog.services_by_id[s].price for s in a.services) >= 40_000
        ):
            deposit = rng.choice((5_000, 10_000))
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
        if u < _CANCEL_RATE:
            a.outcome = CANCELED
            late = rng.random() < 0.3
            earliest = after + _MIN * 5
            if late or start - _DAY <= earliest:
                cancel = start - _MIN * rng.randrange(30, 23 * 60)
                late = True
            else:
                span = (start - _DAY - earliest) // _MIN
                cancel = earliest + _MIN * rng.randrange(max(span, 1))
            a.cancel_at = max(cancel, earliest)
            if rng.random() < 0.12:
                # Staff delete some canceled bookings outright; they vanish from AR.
                a.delete_at = a.cancel_at + _MIN * rng.randrange(5, 3 * 24 * 60)
            elif late and rng.random() < 0.35:
                fee_at = a.cancel_at + _MIN * rng.randrange(30, 120)
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
                            amount=rng.choice((5_000, 7_500, 10_000)),
                        ),
                    )
                )
            return
        # Most are checked out at the end; a few are left open for days (unresolved).
        delay = _MIN * rng.randrange(0, 10) if rng.random() > 0.02 else _DAY * rng.randrange(1, 7)
        a.resolve_at = end + delay
        if u < _CANCEL_RATE + _NO_SHOW_RATE:
            a.outcome = NO_SHOW
            if rng.random() < 0.45:
                fee_at = a.resolve_at + _HOUR * rng.randrange(1, 4)
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
                            amount=rng.choice((5_000, 7_500, 10_000)),
                        ),
                    )
                )
            return
        created = a.resolve_at + _MIN * rng.randrange(1, 15)
        inv = self.invoices.procedure(rng, a, clinic, provider.skill, created, deposit)
        if inv is not None:
            plan.invoices.append((created, inv))

    def _daily_sales(
        self,
        rng: random.Random,
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
        gift = _GIFT_SEASON.get(day.month, 1.0)
        for invoice_type, lam in (
            ("retail", 2.2),
            ("membership", 2.0),
            ("package", 0.5),
            ("egift_purchase", 0.35 * gift),
            ("quickpay", 0.15),
        ):
            for _ in range(poisson(rng, lam * factor)):
                if invoice_type == "membership":
                    at = dt.datetime.combine(day, dt.time(6, 0)) + _MIN * rng.randrange(0, 30)
                else:
                    at = open_at + _MIN * rng.randrange(minutes)
                employee = rng.choice(desk).id
                patient = self.returning_patient(rng, clinic)
                if invoice_type == "retail":
                    inv = self.invoices.retail(rng, clinic, employee, patient, at)
                else:
                    inv = self.invoices.single(rng, clinic, invoice_type, employee, patient, at)
                plan.invoices.append((at, inv))
