"""The ground truth of the patient figures (docs/reports.md, `aiq report retention`).

Computed from the sandbox's own records (appointments and invoices with their patient ids and
their state at the practice's "now"), never from the wire JSON that aiq reads, so a test that
compares the two checks aiq's whole path. The definitions are the docs' word for word:

- appointments: visible now (booked, not deleted), not out-of-office, with a local start date in
  [history_from, until]; their status as `state(now)` shows it;
- invoices: visible now, created on a local date in [history_from, today];
- months: every month from history_from's to today's. The counts are raw: what is pending and
  what is suppressed is the caller's business.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiq.sandbox.records import OUT_OF_OFFICE, Invoice

if TYPE_CHECKING:
    from aiq.sandbox.practice import Practice

COUNTED = frozenset({"paid", "partially_paid", "refunded", "partially_refunded"})
"""Invoice statuses whose sales count (docs/reports.md)."""
RETURN_DAYS = (30, 90, 180)
COHORT_MONTHS = 12


@dataclass
class PatientTruth:
    """The patient figures of a practice, as raw counts and sums (money in cents)."""

    rebooking: dict[tuple[str, str, int], tuple[int, int, int]]
    """(month, "practice" | "clinic" | "provider", id; 0 for the practice) -> (rebooked,
    completed, distinct patients) of the completed appointments of the month. The practice has
    every month; a clinic or provider the months it has completed appointments."""
    returns: dict[tuple[str, int], tuple[int, int]]
    """(month, days: 30, 90 or 180) -> (patients who returned within the days, patients with a
    completed appointment in the month)."""
    cohorts: dict[tuple[str, int], tuple[int, int]]
    """(cohort month, k in 0..12) -> (patients of the cohort with a completed appointment in
    the k-th month after, cohort size); k = 0 gives the size twice."""
    revenue: dict[tuple[str, str], int]
    """(month, "new" | "returning") -> net sales in cents; the two add up to the month's net
    sales."""
    new_revenue_patients: dict[str, int]
    """month -> distinct patients of the month's new part (patients with a counted invoice
    created, or a wallet or gift card payment made, or a refund, dated in the month, whose
    cohort is the month)."""
    members: dict[str, tuple[int, int | None, int | None, int]]
    """month -> (members, new members, churned members, membership revenue in cents); new and
    churned are None for the first month."""


def month_of(day: dt.date) -> str:
    """ "YYYY-MM"."""
    return f"{day.year:04d}-{day.month:02d}"


def months_between(first: dt.date, last: dt.date) -> list[str]:
    """Every month from `first`'s to `last`'s, as "YYYY-MM"."""
    out = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _shift(month: str, k: int) -> str:
    y, m = int(month[:4]), int(month[5:]) - 1 + k
    return f"{y + m // 12:04d}-{m % 12 + 1:02d}"


def patient_truth(
    practice: Practice, *, history_from: dt.date, until: dt.date, today: dt.date
) -> PatientTruth:
    """The patient figures of `practice` now, over the history [history_from, until] of
    appointments and [history_from, today] of invoices (see the module's docstring)."""
    now = practice.now
    months = months_between(history_from, today)
    month_set = set(months)

    # -- appointments ----------------------------------------------------------------------
    # (start, status, canceled date, booked date, clinic, provider, new patient flag)
    visits: dict[int, list[tuple[dt.datetime, str, dt.date | None, dt.date, int, int, bool]]] = (
        defaultdict(list)
    )
    for a in practice.appointments.values():
        if a.kind == OUT_OF_OFFICE or a.deleted:
            continue
        day = a.start.date()
        if not history_from <= day <= until:
            continue
        status, canceled_at, _ = a.state(now)
        visits[a.patient_id].append(
            (
                a.start,
                status,
                None if canceled_at is None else canceled_at.date(),
                a.booked_at.date(),
                a.clinic_id,
                a.provider_id,
                a.new_patient,
            )
        )

    rebooked_n: dict[tuple[str, str, int], int] = defaultdict(int)
    completed_n: dict[tuple[str, str, int], int] = defaultdict(int)
    patients_of: dict[tuple[str, str, int], set[int]] = defaultdict(set)
    completed_days: dict[int, list[dt.date]] = {}
    cohort: dict[int, str] = {}
    for pid, rows in visits.items():
        rows.sort(key=lambda r: r[0])
        days = sorted(r[0].date() for r in rows if r[1] == "completed")
        if days:
            completed_days[pid] = days
            if any(r[6] for r in rows):
                cohort[pid] = month_of(days[0])
        for start, status, _, _, clinic_id, provider_id, _ in rows:
            if status != "completed":
                continue
            day = start.date()
            month = month_of(day)
            if month not in month_set:
                continue
            rebooked = any(
                other[0] > start and other[3] <= day and (other[2] is None or other[2] > day)
                for other in rows
            )
            for key in (
                (month, "practice", 0),
                (month, "clinic", clinic_id),
                (month, "provider", provider_id),
            ):
                completed_n[key] += 1
                rebooked_n[key] += rebooked
                patients_of[key].add(pid)
    rebooking = {
        key: (rebooked_n[key], completed_n[key], len(patients_of[key])) for key in completed_n
    }
    for month in months:
        rebooking.setdefault((month, "practice", 0), (0, 0, 0))

    # -- returns ---------------------------------------------------------------------------
    returns: dict[tuple[str, int], tuple[int, int]] = {}
    seen: dict[str, int] = defaultdict(int)
    back: dict[tuple[str, int], int] = defaultdict(int)
    for days in completed_days.values():
        last_in: dict[str, dt.date] = {}
        for day in days:
            last_in[month_of(day)] = day  # days are sorted: the last one wins
        for month, last in last_in.items():
            if month not in month_set:
                continue
            seen[month] += 1
            later = [d for d in days if d > last]
            for n in RETURN_DAYS:
                if later and (later[0] - last).days <= n:
                    back[(month, n)] += 1
    for month in months:
        for n in RETURN_DAYS:
            returns[(month, n)] = (back[(month, n)], seen[month])

    # -- cohorts ---------------------------------------------------------------------------
    size: dict[str, int] = defaultdict(int)
    active: dict[tuple[str, int], int] = defaultdict(int)
    for pid, first in cohort.items():
        size[first] += 1
        visited = {month_of(d) for d in completed_days[pid]}
        for k in range(1, COHORT_MONTHS + 1):
            if _shift(first, k) in visited:
                active[(first, k)] += 1
    cohorts: dict[tuple[str, int], tuple[int, int]] = {}
    for month in months:
        cohorts[(month, 0)] = (size[month], size[month])
        for k in range(1, COHORT_MONTHS + 1):
            cohorts[(month, k)] = (active[(month, k)], size[month])

    # -- invoices: new and returning revenue, memberships ---------------------------------
    revenue: dict[tuple[str, str], int] = {
        (m, part): 0 for m in months for part in ("new", "returning")
    }
    new_patients: dict[str, set[int]] = defaultdict(set)
    members: dict[str, set[int]] = defaultdict(set)
    dues: dict[str, int] = defaultdict(int)

    def add(day: dt.date, pid: int, cents: int) -> None:
        month = month_of(day)
        if month not in month_set:
            return
        new = cohort.get(pid) == month
        revenue[(month, "new" if new else "returning")] += cents
        if new:
            new_patients[month].add(pid)

    for inv in practice.invoices.values():
        created = inv.created_at.date()
        if inv.dead or not history_from <= created <= today:
            continue
        status, payments, refunds, _, _ = inv.state(now)
        pid = inv.patient_id
        if status in COUNTED:
            add(created, pid, _net_of_items(inv, sum(p.fee for p in payments)))
            month = month_of(created)
            for it in inv.items:
                if it.item_type == "membership":
                    members[month].add(pid)
                    dues[month] += it.value
            for p in payments:
                if p.method in ("wallet", "egift"):
                    add(p.paid_at.date(), pid, -p.amount)
        if status != "void":
            for r in refunds:
                add(r.refunded_at.date(), pid, -r.amount)

    member_rows: dict[str, tuple[int, int | None, int | None, int]] = {}
    before: set[int] | None = None
    for month in months:
        now_members = members.get(month, set())
        if before is None:
            member_rows[month] = (len(now_members), None, None, dues[month])
        else:
            member_rows[month] = (
                len(now_members),
                len(now_members - before),
                len(before - now_members),
                dues[month],
            )
        before = now_members

    return PatientTruth(
        rebooking=rebooking,
        returns=returns,
        cohorts=cohorts,
        revenue=revenue,
        new_revenue_patients={m: len(new_patients.get(m, ())) for m in months},
        members=member_rows,
    )


def _net_of_items(inv: Invoice, fees: int) -> int:
    """An invoice's own part of net sales: item value less discounts, wallet debits and the
    processing fees (tips and tax are in total sales and out of net sales)."""
    value = sum(it.value for it in inv.items)
    return value - inv.discount - inv.wallet_debit - fees
