"""The patient pass: rebooking, return, retention and memberships, with no patient id kept.

A sync that reads the whole history (the first one, then one a night: ``[privacy]
patient_pass_every_hours``) hands each appointment and invoice it reads to a ``PatientTap``,
which keeps a fact per record (``aiq.ar.patients``: the record's business fields and its
patient's id) in memory. When every window has been read, ``compute`` follows each patient
through their facts and produces counts and sums per month and dimension; ``save`` replaces the
practice's figures with them in one transaction, and the facts are dropped with the tap. The
definitions are docs/reports.md's ("Patient figures"); a figure over fewer than ``min_cell``
patients is stored with no numbers at all (suppressed).
"""

from __future__ import annotations

import bisect
import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection

from aiq.ar.patients import (
    A_BOOKED,
    A_CANCELED,
    A_CLINIC,
    A_COMPLETED,
    A_DAY,
    A_ID,
    A_NEW,
    A_PATIENT,
    A_PROVIDER,
    A_START,
    I_COUNTED,
    I_DAY,
    I_MEMBER,
    I_MEMBERSHIP_CENTS,
    I_PARTS,
    I_PATIENT,
    AppointmentFact,
    InvoiceFact,
)
from aiq.store.models import PatientFigure, PatientPass, table_of

RETURN_DAYS = (30, 90, 180)
COHORT_MONTHS = 12
FIGURES = (
    "rebooking",
    *(f"return_{n}" for n in RETURN_DAYS),
    "cohort",
    "revenue_new",
    "revenue_returning",
    "members",
    "new_members",
    "churned_members",
    "membership_revenue",
)
PRACTICE, CLINIC, PROVIDER = "practice", "clinic", "provider"


@functools.lru_cache(maxsize=16384)
def month_of(day: date) -> date:
    """The first day of ``day``'s month (kept: a pass asks for the same days again and again)."""
    return day.replace(day=1)


def add_months(month: date, k: int) -> date:
    """The first day of the month ``k`` months after ``month``'s."""
    y, m = divmod(month.year * 12 + month.month - 1 + k, 12)
    return date(y, m + 1, 1)


def month_end(month: date) -> date:
    """The last day of ``month``'s month."""
    return add_months(month, 1) - timedelta(days=1)


@functools.lru_cache(maxsize=4096)
def _months_from(month: date) -> tuple[date, ...]:
    """``month`` and the ``COHORT_MONTHS`` months after it."""
    return tuple(add_months(month, k) for k in range(COHORT_MONTHS + 1))


@dataclass(frozen=True)
class FigureRow:
    """One row of ``patient_figure`` (see the model for what each column holds)."""

    month: date
    figure: str
    scope: str = PRACTICE
    scope_id: int = 0
    months_after: int = 0
    count: int | None = None
    base: int | None = None
    patients: int | None = None
    amount_cents: int | None = None
    suppressed: bool = False
    pending: bool = False


@dataclass(frozen=True)
class PassInfo:
    """What one pass read, and when (``patient_pass``)."""

    computed_at: datetime
    as_of: date
    history_from: date
    appointments_until: date
    appointments: int
    invoices: int
    min_cell: int


class PatientTap:
    """The facts of one run's records, by record id (a record read twice counts once)."""

    def __init__(self) -> None:
        self.appointments: dict[int, AppointmentFact] = {}
        self.invoices: dict[int, InvoiceFact] = {}
        self.complete = True  # False once a window could not be read: the pass is not saved

    def add(self, stream: str, facts: Iterable[Any]) -> None:
        """Keep the facts of one window (called by the sync's writing thread)."""
        into: dict[int, Any] = self.appointments if stream == "appointments" else self.invoices
        for fact in facts:
            into[fact[0]] = fact  # A_ID, I_ID


def compute(
    appointments: Iterable[AppointmentFact],
    invoices: Iterable[InvoiceFact],
    *,
    history_from: date,
    until: date,
    today: date,
    min_cell: int,
) -> list[FigureRow]:
    """Every patient figure of every month from ``history_from``'s to ``today``'s.

    Appointments count when their local date is in ``[history_from, until]``, invoices when
    created in ``[history_from, today]``; a month's figure is pending until the window it waits
    for has ended before ``today``.
    """
    first, last = month_of(history_from), month_of(today)
    months: list[date] = []
    m = first
    while m <= last:
        months.append(m)
        m = add_months(m, 1)
    visits: dict[int, list[AppointmentFact]] = defaultdict(list)
    for a in appointments:
        if history_from <= a[A_DAY] <= until:
            visits[a[A_PATIENT]].append(a)
    for appts in visits.values():
        appts.sort(key=lambda a: (a[A_START], a[A_ID]))
    cohorts = _cohorts(visits)
    rows = _rebooking(visits, min_cell)
    rows += _returns(visits, months, today, min_cell)
    rows += _retention(visits, cohorts, months, today, min_cell)
    inside = [i for i in invoices if history_from <= i[I_DAY] <= today]
    rows += _revenue(inside, cohorts, months, min_cell)
    rows += _memberships(inside, months, history_from, min_cell)
    return rows


def _cohorts(visits: dict[int, list[AppointmentFact]]) -> dict[int, date]:
    """Each new patient's cohort: the month of their first completed appointment."""
    out: dict[int, date] = {}
    for pid, appts in visits.items():
        if not any(a[A_NEW] for a in appts):
            continue
        days = [a[A_DAY] for a in appts if a[A_COMPLETED]]
        if days:
            out[pid] = month_of(min(days))
    return out


def _small(patients: int, min_cell: int) -> bool:
    """Whether a count of patients is too small to show (zero gives nobody away)."""
    return 0 < patients < min_cell


def _rebooking(visits: dict[int, list[AppointmentFact]], min_cell: int) -> list[FigureRow]:
    cells: dict[tuple[date, str, int], list[Any]] = {}

    def cell(key: tuple[date, str, int]) -> list[Any]:
        c = cells.get(key)
        if c is None:
            c = cells[key] = [0, 0, set()]
        return c

    for pid, appts in visits.items():
        for i, a in enumerate(appts):
            if not a[A_COMPLETED]:
                continue
            day, start = a[A_DAY], a[A_START]
            rebooked = False
            for b in appts[i + 1 :]:  # later or at the same time: the visits are sorted
                canceled = b[A_CANCELED]
                if (
                    b[A_START] > start
                    and b[A_BOOKED] <= day
                    and (canceled is None or canceled > day)
                ):
                    rebooked = True
                    break
            month = month_of(day)
            keys = [(month, PRACTICE, 0), (month, CLINIC, a[A_CLINIC])]
            if a[A_PROVIDER] is not None:
                keys.append((month, PROVIDER, a[A_PROVIDER]))
            for key in keys:
                c = cell(key)
                c[0] += 1
                c[1] += rebooked
                c[2].add(pid)
    hidden = {k for k, c in cells.items() if len(c[2]) < min_cell}
    hidden |= _complementary(cells, hidden)
    rows = []
    for (month, scope, sid), (completed, rebooked, pids) in sorted(cells.items()):
        if (month, scope, sid) in hidden:
            rows.append(FigureRow(month, "rebooking", scope, sid, suppressed=True))
        else:
            rows.append(
                FigureRow(
                    month,
                    "rebooking",
                    scope,
                    sid,
                    count=rebooked,
                    base=completed,
                    patients=len(pids),
                )
            )
    return rows


def _complementary(
    cells: dict[tuple[date, str, int], list[Any]], hidden: set[tuple[date, str, int]]
) -> set[tuple[date, str, int]]:
    """Cells to hide as well, so that no hidden cell follows from the practice's total less the
    others: where a month's clinics (or providers) have exactly one hidden, hide the smallest
    other one too."""
    more: set[tuple[date, str, int]] = set()
    families: dict[tuple[date, str], list[tuple[date, str, int]]] = defaultdict(list)
    for key in cells:
        if key[1] != PRACTICE:
            families[(key[0], key[1])].append(key)
    for keys in families.values():
        shut = [k for k in keys if k in hidden]
        if len(shut) != 1:
            continue
        others = [k for k in keys if k not in hidden]
        if others:
            more.add(min(others, key=lambda k: (len(cells[k][2]), k[2])))
    return more


def _returns(
    visits: dict[int, list[AppointmentFact]], months: list[date], today: date, min_cell: int
) -> list[FigureRow]:
    counts: dict[tuple[date, int], list[int]] = defaultdict(lambda: [0, 0])
    for appts in visits.values():
        days = sorted({a[A_DAY] for a in appts if a[A_COMPLETED]})
        last_in: dict[date, date] = {}
        for d in days:
            last_in[month_of(d)] = d  # days are sorted: the month's last one stays
        for month, last_day in last_in.items():
            after = bisect.bisect_right(days, last_day)
            nxt = days[after] if after < len(days) else None
            for n in RETURN_DAYS:
                c = counts[(month, n)]
                c[0] += 1
                c[1] += nxt is not None and (nxt - last_day).days <= n
    rows = []
    for month in months:
        for n in RETURN_DAYS:
            patients, returned = counts.get((month, n), (0, 0))
            pending = month_end(month) + timedelta(days=n) >= today
            if _small(patients, min_cell):
                rows.append(FigureRow(month, f"return_{n}", suppressed=True, pending=pending))
                continue
            rows.append(
                FigureRow(
                    month,
                    f"return_{n}",
                    count=None if pending or not patients else returned,
                    base=patients,
                    patients=patients,
                    pending=pending,
                )
            )
    return rows


def _retention(
    visits: dict[int, list[AppointmentFact]],
    cohorts: dict[int, date],
    months: list[date],
    today: date,
    min_cell: int,
) -> list[FigureRow]:
    size: dict[date, int] = defaultdict(int)
    active: dict[tuple[date, int], int] = defaultdict(int)
    for pid, cohort in cohorts.items():
        size[cohort] += 1
        seen = {month_of(a[A_DAY]) for a in visits[pid] if a[A_COMPLETED]}
        for k, month in enumerate(_months_from(cohort)):
            if month in seen:
                active[(cohort, k)] += 1
    rows = []
    for cohort in months:
        n = size.get(cohort, 0)
        hide = _small(n, min_cell)
        for k in range(COHORT_MONTHS + 1):
            pending = month_end(add_months(cohort, k)) >= today
            if hide:
                rows.append(FigureRow(cohort, "cohort", months_after=k, suppressed=True))
                continue
            rows.append(
                FigureRow(
                    cohort,
                    "cohort",
                    months_after=k,
                    count=None if pending else active.get((cohort, k), 0),
                    base=n,
                    patients=n,
                    pending=pending,
                )
            )
    return rows


def _revenue(
    invoices: list[InvoiceFact], cohorts: dict[int, date], months: list[date], min_cell: int
) -> list[FigureRow]:
    new: dict[date, int] = defaultdict(int)
    returning: dict[date, int] = defaultdict(int)
    new_patients: dict[date, set[int]] = defaultdict(set)
    for inv in invoices:
        pid = inv[I_PATIENT]
        cohort = None if pid is None else cohorts.get(pid)
        for day, cents in inv[I_PARTS]:
            month = month_of(day)
            if pid is not None and cohort == month:
                new[month] += cents
                new_patients[month].add(pid)
            else:
                returning[month] += cents
    rows = []
    for month in months:
        patients = len(new_patients.get(month, ()))
        if _small(patients, min_cell):
            # New and returning add up to net sales: neither can show without the other.
            rows.append(FigureRow(month, "revenue_new", suppressed=True))
            rows.append(FigureRow(month, "revenue_returning", suppressed=True))
            continue
        rows.append(
            FigureRow(month, "revenue_new", patients=patients, amount_cents=new.get(month, 0))
        )
        rows.append(FigureRow(month, "revenue_returning", amount_cents=returning.get(month, 0)))
    return rows


def _memberships(
    invoices: list[InvoiceFact], months: list[date], history_from: date, min_cell: int
) -> list[FigureRow]:
    members: dict[date, set[int]] = defaultdict(set)
    revenue: dict[date, int] = defaultdict(int)
    for inv in invoices:
        if not inv[I_COUNTED]:
            continue
        month = month_of(inv[I_DAY])
        revenue[month] += inv[I_MEMBERSHIP_CENTS]
        pid = inv[I_PATIENT]
        if inv[I_MEMBER] and pid is not None:
            members[month].add(pid)
    # The first whole month of the history has no month before it to compare with.
    first_whole = history_from if history_from.day == 1 else add_months(month_of(history_from), 1)
    rows = []
    for month in months:
        now = members.get(month, set())
        rows.append(FigureRow(month, "membership_revenue", amount_cents=revenue.get(month, 0)))
        if _small(len(now), min_cell):
            rows.append(FigureRow(month, "members", suppressed=True))
        else:
            rows.append(FigureRow(month, "members", count=len(now), patients=len(now)))
        if month <= first_whole:
            continue
        before = members.get(add_months(month, -1), set())
        joined, left = len(now - before), len(before - now)
        if any(_small(n, min_cell) for n in (joined, left, len(now), len(before))):
            # Either follows from the other and two months' members: both go, or neither.
            rows.append(FigureRow(month, "new_members", suppressed=True))
            rows.append(FigureRow(month, "churned_members", suppressed=True))
            continue
        rows.append(FigureRow(month, "new_members", count=joined, patients=joined))
        rows.append(FigureRow(month, "churned_members", count=left, patients=left))
    return rows


def save(conn: Connection, org_id: int, rows: list[FigureRow], info: PassInfo) -> None:
    """Replace the practice's patient figures with a pass's (in the caller's transaction)."""
    figures, passes = table_of(PatientFigure), table_of(PatientPass)
    conn.execute(delete(figures).where(figures.c.org_id == org_id))
    conn.execute(delete(passes).where(passes.c.org_id == org_id))
    if rows:
        conn.execute(insert(figures), [{"org_id": org_id, **asdict(r)} for r in rows])
    conn.execute(insert(passes).values(org_id=org_id, **asdict(info)))


def last_pass_at(conn: Connection, org_id: int) -> datetime | None:
    """When the practice's last patient pass was computed (None: never)."""
    t = table_of(PatientPass)
    value = conn.execute(select(t.c.computed_at).where(t.c.org_id == org_id)).scalar()
    return value if isinstance(value, datetime) else None
