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
import itertools
import logging
import sys
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

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
    I_ID,
    I_MEMBER,
    I_MEMBERSHIP_CENTS,
    I_PARTS,
    I_PATIENT,
    AppointmentFact,
    InvoiceFact,
)
from aiq.store.models import PatientFigure, PatientPass, table_of

log = logging.getLogger(__name__)

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
    """The facts of one run's records, packed into arrays until the pass computes its figures.

    A large practice's pass holds a fact per appointment and invoice (225,000 for ten clinics
    over three years). As tuples of Python objects they weighed some 300 bytes each; packed as
    64-bit integers an appointment takes 80 bytes and an invoice about 75. Patients are numbered
    as they come (AR's ids stay in the numbering dict, for this run only), and the facts are
    unpacked a patient at a time when the figures are computed. A record read twice (a window
    read again) counts once, as last read.
    """

    def __init__(self) -> None:
        self._numbers: dict[int, int] = {}  # AR's patient id -> its number in this pass
        self._appointments = array("q")  # _A_WIDTH values a fact; no provider: _NONE
        self._invoices = array("q")  # _I_WIDTH values a fact; no patient: _NONE
        self._parts = array("q")  # the invoices' (day, cents) parts, flat
        self._latest: tuple[array[int], array[int]] | None = None
        self.complete = True  # False once a window could not be read: the pass is not saved

    def add(self, stream: str, facts: Iterable[Any]) -> None:
        """Keep the facts of one window (called by the sync's writing thread)."""
        if not self.complete:
            return
        self._latest = None
        number = self._number
        try:
            if stream == "appointments":
                put = self._appointments.extend
                for a in facts:
                    provider = a[A_PROVIDER]
                    put((
                        a[A_ID], number(a[A_PATIENT]), a[A_START], a[A_DAY], a[A_BOOKED],
                        a[A_CANCELED], a[A_COMPLETED], a[A_CLINIC],
                        _NONE if provider is None else provider, a[A_NEW],
                    ))  # fmt: skip
                return
            put, parts = self._invoices.extend, self._parts
            for i in facts:
                pid = i[I_PATIENT]
                put((
                    i[I_ID], _NONE if pid is None else number(pid), i[I_DAY], i[I_COUNTED],
                    i[I_MEMBER], i[I_MEMBERSHIP_CENTS], len(parts), len(i[I_PARTS]),
                ))  # fmt: skip
                for part in i[I_PARTS]:
                    parts.extend(part)
        except OverflowError:
            # A sum beyond 64 bits: no real practice's, and no figure from it would mean anything.
            log.warning("patient pass: an amount out of range; the figures are not updated")
            self.complete = False

    def _number(self, pid: int) -> int:
        n = self._numbers.get(pid)
        if n is None:
            n = self._numbers[pid] = len(self._numbers)
        return n

    def _kept(self) -> tuple[array[int], array[int]]:
        """The positions of the appointments and invoices to count: each id's last reading."""
        if self._latest is None:
            self._latest = (
                _last_readings(self._appointments, _A_WIDTH),
                _last_readings(self._invoices, _I_WIDTH),
            )
        return self._latest

    @property
    def appointments(self) -> int:
        """How many appointments the tap holds (each counted once)."""
        return len(self._kept()[0])

    @property
    def invoices(self) -> int:
        """How many invoices the tap holds (each counted once)."""
        return len(self._kept()[1])

    def nbytes(self) -> dict[str, int]:
        """The bytes the facts take: each stream's arrays, and the patients' numbering."""
        numbers = sys.getsizeof(self._numbers) + sum(
            sys.getsizeof(k) + sys.getsizeof(v) for k, v in self._numbers.items()
        )
        return {
            "appointments": sys.getsizeof(self._appointments),
            "invoices": sys.getsizeof(self._invoices) + sys.getsizeof(self._parts),
            "patient numbers": numbers,
        }

    def visits(self) -> Iterator[list[AppointmentFact]]:
        """Each patient's appointments (in no particular order), one patient at a time."""
        values, w = self._appointments, _A_WIDTH

        def patient(j: int) -> int:
            return values[j * w + A_PATIENT]

        for _, positions in itertools.groupby(sorted(self._kept()[0], key=patient), key=patient):
            appts: list[AppointmentFact] = []
            for j in positions:
                f: list[int | None] = list(values[j * w : j * w + w])
                if f[A_PROVIDER] == _NONE:
                    f[A_PROVIDER] = None
                appts.append(cast(AppointmentFact, tuple(f)))
            yield appts

    def invoice_facts(self) -> Iterator[InvoiceFact]:
        """Every invoice, one at a time."""
        values, parts, w = self._invoices, self._parts, _I_WIDTH
        for j in self._kept()[1]:
            iid, pid, day, counted, member, membership, first, n = values[j * w : j * w + w]
            yield (
                iid,
                None if pid == _NONE else pid,
                day,
                bool(counted),
                bool(member),
                membership,
                tuple((parts[k], parts[k + 1]) for k in range(first, first + 2 * n, 2)),
            )


_NONE = -(2**63)  # no provider, no patient (an id AR sends fits 64 bits, and this is not one)
_A_WIDTH = 10  # an AppointmentFact's fields
_I_WIDTH = 8  # id, patient, day, counted, member, membership cents, first part's index, parts


def _last_readings(values: array[int], width: int) -> array[int]:
    """The positions of the facts to count in ``values`` (``width`` values each, the id first):
    for each id, its last reading."""
    n = len(values) // width
    order = sorted(range(n), key=lambda j: values[j * width])  # stable: readings stay in order
    kept = array("i")
    for k, j in enumerate(order):
        if k + 1 == n or values[order[k + 1] * width] != values[j * width]:
            kept.append(j)
    return kept


def compute(
    tap: PatientTap,
    *,
    history_from: date,
    until: date,
    today: date,
    min_cell: int,
) -> list[FigureRow]:
    """Every patient figure of every month from ``history_from``'s to ``today``'s.

    Appointments count when their local date is in ``[history_from, until]``, invoices when
    created in ``[history_from, today]``; a month's figure is pending until the window it waits
    for has ended before ``today``. Each patient's appointments are followed once, in turn,
    and leave only counts behind.
    """
    first, last = month_of(history_from), month_of(today)
    months: list[date] = []
    m = first
    while m <= last:
        months.append(m)
        m = add_months(m, 1)
    lo, hi = history_from.toordinal(), until.toordinal()
    rebooking, returns, retention = _Rebooking(), _Returns(), _Retention()
    cohorts: dict[int, date] = {}
    for appts in tap.visits():
        appts = [a for a in appts if lo <= a[A_DAY] <= hi]
        if not appts:
            continue
        appts.sort(key=lambda a: (a[A_START], a[A_ID]))
        cohort = _cohort(appts)
        if cohort is not None:
            cohorts[appts[0][A_PATIENT]] = cohort
            retention.add(appts, cohort)
        rebooking.add(appts)
        returns.add(appts)
    rows = rebooking.rows(min_cell)
    rows += returns.rows(months, today, min_cell)
    rows += retention.rows(months, today, min_cell)
    revenue, memberships = _Revenue(cohorts), _Memberships()
    lo, hi = history_from.toordinal(), today.toordinal()
    for inv in tap.invoice_facts():
        if lo <= inv[I_DAY] <= hi:
            revenue.add(inv)
            memberships.add(inv)
    rows += revenue.rows(months, min_cell)
    rows += memberships.rows(months, history_from, min_cell)
    return rows


@functools.lru_cache(maxsize=16384)
def _month(day: int) -> date:
    """The first day of the month of the date whose ordinal is ``day``."""
    return date.fromordinal(day).replace(day=1)


def _cohort(appts: list[AppointmentFact]) -> date | None:
    """A new patient's cohort: the month of their first completed appointment (None: not new,
    or none completed)."""
    if not any(a[A_NEW] for a in appts):
        return None
    days = [a[A_DAY] for a in appts if a[A_COMPLETED]]
    return _month(min(days)) if days else None


def _small(patients: int, min_cell: int) -> bool:
    """Whether a count of patients is too small to show (zero gives nobody away)."""
    return 0 < patients < min_cell


class _Rebooking:
    """Completed appointments, and those rebooked, per month and clinic and provider."""

    def __init__(self) -> None:
        # (month, scope, id) -> [completed, rebooked, patients]
        self.cells: dict[tuple[date, str, int], list[int]] = {}

    def add(self, appts: list[AppointmentFact]) -> None:
        """Count one patient's appointments (sorted by start)."""
        cells = self.cells
        touched: set[tuple[date, str, int]] = set()
        n = len(appts)
        for i, a in enumerate(appts):
            if not a[A_COMPLETED]:
                continue
            day, start = a[A_DAY], a[A_START]
            rebooked = False
            for j in range(i + 1, n):  # later or at the same time: the visits are sorted
                b = appts[j]
                if b[A_START] > start and b[A_BOOKED] <= day < b[A_CANCELED]:
                    rebooked = True
                    break
            month = _month(day)
            keys = [(month, PRACTICE, 0), (month, CLINIC, a[A_CLINIC])]
            provider = a[A_PROVIDER]
            if provider is not None:
                keys.append((month, PROVIDER, provider))
            for key in keys:
                c = cells.get(key)
                if c is None:
                    c = cells[key] = [0, 0, 0]
                c[0] += 1
                c[1] += rebooked
                touched.add(key)
        for key in touched:
            cells[key][2] += 1

    def rows(self, min_cell: int) -> list[FigureRow]:
        cells = self.cells
        hidden = {k for k, c in cells.items() if c[2] < min_cell}
        hidden |= _complementary(cells, hidden)
        rows = []
        for (month, scope, sid), (completed, rebooked, patients) in sorted(cells.items()):
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
                        patients=patients,
                    )
                )
        return rows


def _complementary(
    cells: dict[tuple[date, str, int], list[int]], hidden: set[tuple[date, str, int]]
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
            more.add(min(others, key=lambda k: (cells[k][2], k[2])))
    return more


class _Returns:
    """Patients seen in a month, and those back within N days of their last visit in it."""

    def __init__(self) -> None:
        self.counts: dict[tuple[date, int], list[int]] = defaultdict(lambda: [0, 0])

    def add(self, appts: list[AppointmentFact]) -> None:
        """Count one patient's appointments."""
        days = sorted({a[A_DAY] for a in appts if a[A_COMPLETED]})
        last_in: dict[date, int] = {}
        for d in days:
            last_in[_month(d)] = d  # days are sorted: the month's last one stays
        for month, last_day in last_in.items():
            after = bisect.bisect_right(days, last_day)
            gap = days[after] - last_day if after < len(days) else None
            for n in RETURN_DAYS:
                c = self.counts[(month, n)]
                c[0] += 1
                c[1] += gap is not None and gap <= n

    def rows(self, months: list[date], today: date, min_cell: int) -> list[FigureRow]:
        rows = []
        for month in months:
            for n in RETURN_DAYS:
                patients, returned = self.counts.get((month, n), (0, 0))
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


class _Retention:
    """Each cohort's size, and its patients seen in each of the months after."""

    def __init__(self) -> None:
        self.size: dict[date, int] = defaultdict(int)
        self.active: dict[tuple[date, int], int] = defaultdict(int)

    def add(self, appts: list[AppointmentFact], cohort: date) -> None:
        """Count one new patient's appointments."""
        self.size[cohort] += 1
        seen = {_month(a[A_DAY]) for a in appts if a[A_COMPLETED]}
        for k, month in enumerate(_months_from(cohort)):
            if month in seen:
                self.active[(cohort, k)] += 1

    def rows(self, months: list[date], today: date, min_cell: int) -> list[FigureRow]:
        rows = []
        for cohort in months:
            n = self.size.get(cohort, 0)
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
                        count=None if pending else self.active.get((cohort, k), 0),
                        base=n,
                        patients=n,
                        pending=pending,
                    )
                )
        return rows


class _Revenue:
    """Net sales by month, from new patients (in their cohort's month) and from the rest."""

    def __init__(self, cohorts: dict[int, date]) -> None:
        self.cohorts = cohorts
        self.new: dict[date, int] = defaultdict(int)
        self.returning: dict[date, int] = defaultdict(int)
        self.new_patients: dict[date, set[int]] = defaultdict(set)

    def add(self, inv: InvoiceFact) -> None:
        pid = inv[I_PATIENT]
        cohort = None if pid is None else self.cohorts.get(pid)
        for day, cents in inv[I_PARTS]:
            month = _month(day)
            if pid is not None and cohort == month:
                self.new[month] += cents
                self.new_patients[month].add(pid)
            else:
                self.returning[month] += cents

    def rows(self, months: list[date], min_cell: int) -> list[FigureRow]:
        rows = []
        for month in months:
            patients = len(self.new_patients.get(month, ()))
            if _small(patients, min_cell):
                # New and returning add up to net sales: neither can show without the other.
                rows.append(FigureRow(month, "revenue_new", suppressed=True))
                rows.append(FigureRow(month, "revenue_returning", suppressed=True))
                continue
            rows.append(
                FigureRow(
                    month, "revenue_new", patients=patients, amount_cents=self.new.get(month, 0)
                )
            )
            rows.append(
                FigureRow(month, "revenue_returning", amount_cents=self.returning.get(month, 0))
            )
        return rows


class _Memberships:
    """Members (patients charged a membership item) and membership revenue by month."""

    def __init__(self) -> None:
        self.members: dict[date, set[int]] = defaultdict(set)
        self.revenue: dict[date, int] = defaultdict(int)

    def add(self, inv: InvoiceFact) -> None:
        if not inv[I_COUNTED]:
            return
        month = _month(inv[I_DAY])
        self.revenue[month] += inv[I_MEMBERSHIP_CENTS]
        pid = inv[I_PATIENT]
        if inv[I_MEMBER] and pid is not None:
            self.members[month].add(pid)

    def rows(self, months: list[date], history_from: date, min_cell: int) -> list[FigureRow]:
        # The first whole month of the history has no month before it to compare with.
        first_whole = (
            history_from if history_from.day == 1 else add_months(month_of(history_from), 1)
        )
        rows = []
        for month in months:
            now = self.members.get(month, set())
            rows.append(
                FigureRow(month, "membership_revenue", amount_cents=self.revenue.get(month, 0))
            )
            if _small(len(now), min_cell):
                rows.append(FigureRow(month, "members", suppressed=True))
            else:
                rows.append(FigureRow(month, "members", count=len(now), patients=len(now)))
            if month <= first_whole:
                continue
            before = self.members.get(add_months(month, -1), set())
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
