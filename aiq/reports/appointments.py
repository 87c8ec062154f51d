"""`aiq report appointments`: counts by status, rates, their comparisons with the previous period
and a year earlier, and their breakdowns (docs/reports.md).

Counts come from ``rollup_appointments_daily`` (out-of-office entries are already left out);
only the split of still-open appointments into *upcoming* (start in the future) and *unresolved*
(start in the past) reads the facts, because it depends on the hour, not the date.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from aiq.reports.sales import change, period_case
from aiq.reports.sync_health import Coverage, Freshness, data_coverage, data_freshness
from aiq.store.reader import as_date, in_list
from aiq.store.statuses import PENDING_STATUSES

if TYPE_CHECKING:
    from aiq.reports.period import Period
    from aiq.reports.scope import Scope
    from aiq.store.reader import Reader

_KEYS = {"clinic": "clinic_id", "provider": "provider_id", "day": "local_date"}


def ratio(part: int, whole: int) -> float | None:
    """``part / whole``, or None when ``whole`` is zero."""
    return part / whole if whole else None


@dataclass
class AppointmentFigures:
    """The appointment figures of docs/reports.md for one period or one group."""

    booked: int = 0
    completed: int = 0
    canceled: int = 0
    no_shows: int = 0
    upcoming: int = 0
    unresolved: int = 0
    late_cancellations: int = 0
    new_patients: int = 0
    online_booked: int = 0
    completed_minutes: int = 0

    @property
    def resolved(self) -> int:
        return self.completed + self.canceled + self.no_shows

    @property
    def completion_rate(self) -> float | None:
        return ratio(self.completed, self.resolved)

    @property
    def cancellation_rate(self) -> float | None:
        return ratio(self.canceled, self.resolved)

    @property
    def no_show_rate(self) -> float | None:
        return ratio(self.no_shows, self.resolved)

    @property
    def new_patient_share(self) -> float | None:
        return ratio(self.new_patients, self.completed)

    @property
    def online_booking_share(self) -> float | None:
        return ratio(self.online_booked, self.booked)

    @property
    def completed_hours(self) -> float:
        """The length of completed appointments, in hours (not of every booking)."""
        return self.completed_minutes / 60

    def add(self, other: AppointmentFigures) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in (
            "resolved",
            "completion_rate",
            "cancellation_rate",
            "no_show_rate",
            "new_patient_share",
            "online_booking_share",
            "completed_hours",
        ):
            d[name] = getattr(self, name)
        return d


RATES = frozenset(
    {
        "completion_rate",
        "cancellation_rate",
        "no_show_rate",
        "new_patient_share",
        "online_booking_share",
    }
)
"""The figures that are fractions: their change is read as a difference in percentage points."""

COMPARED = (
    "completed",
    "completion_rate",
    "cancellation_rate",
    "no_show_rate",
    "booked",
    "canceled",
    "no_shows",
    "late_cancellations",
    "new_patients",
    "new_patient_share",
    "online_booked",
    "online_booking_share",
    "completed_minutes",
)
"""The figures compared with earlier periods, the owner's first figures first. Upcoming and
unresolved are not: they depend on the hour the report is made, not on the period."""


@dataclass
class AppointmentComparison:
    """The same figures over another period (the previous one, or a year earlier)."""

    name: str  # "previous" | "year_ago"
    period: Period
    figures: AppointmentFigures

    def change_of(
        self, figure: str, current: AppointmentFigures
    ) -> tuple[int | float | None, float | None]:
        """(difference, change as a fraction) of ``figure`` against this period.

        For a rate the difference is in points (0.02 is 2 points); either is None when a side
        has nothing to divide by.
        """
        now, then = getattr(current, figure), getattr(self.figures, figure)
        if now is None or then is None:
            return None, None
        return now - then, change(now, then)


@dataclass
class AppointmentRow:
    """One row of a breakdown."""

    key: Any
    label: str
    figures: AppointmentFigures


@dataclass
class AppointmentsReport:
    """The answer to "how many appointments, and how did they go?"."""

    scope: Scope
    period: Period
    today: date
    as_of: datetime
    summary: AppointmentFigures
    freshness: Freshness
    coverage: Coverage | None = None
    """Which dates of the period the sync has read (None: not looked at)."""
    by: str | None = None
    rows: list[AppointmentRow] = field(default_factory=list)
    comparisons: list[AppointmentComparison] = field(default_factory=list)
    to_date: AppointmentFigures | None = None
    """The figures up to today when the period runs past it (None otherwise): what the
    comparisons compare, since the earlier periods have no bookings ahead of them."""

    @property
    def has_data(self) -> bool:
        return self.summary.booked > 0

    @property
    def compared(self) -> AppointmentFigures:
        """The figures the comparisons are made against: to date, or the whole period."""
        return self.to_date if self.to_date is not None else self.summary

    @property
    def compared_period(self) -> Period:
        return self.period.to_date(self.today)


def _norm(key: str | None, value: Any) -> Any:
    if key == "day":
        return as_date(value)
    return None if key is None else int(value)


_ROLLUP_SUMS = (
    "sum(booked), sum(completed), sum(canceled), sum(no_show), sum(late_canceled),"
    " sum(new_patient_completed), sum(online_booked), sum(completed_minutes)"
)


def _fill(f: AppointmentFigures, sums: Sequence[Any]) -> None:
    """Set ``f``'s counts from a row of ``_ROLLUP_SUMS``."""
    (
        f.booked,
        f.completed,
        f.canceled,
        f.no_shows,
        f.late_cancellations,
        f.new_patients,
        f.online_booked,
        f.completed_minutes,
    ) = (int(v or 0) for v in sums)


def appointment_figures_by_period(
    db: Reader, scope: Scope, periods: Sequence[Period]
) -> list[AppointmentFigures]:
    """The figures of each of ``periods`` (which must not overlap) in one query of the rollup.

    Upcoming and unresolved are left at 0: they depend on the hour, not on the period, and need
    the facts (see ``appointment_figures``). The rates (of resolved appointments) are whole.
    """
    out = [AppointmentFigures() for _ in periods]
    if not periods:
        return out
    bucket, buckets = period_case("local_date", periods)
    start, end = min(p.start for p in periods), max(p.end for p in periods)
    filters = ""
    if scope.clinic_id is not None:
        filters += " and clinic_id = :clinic"
    if scope.provider_id is not None:
        filters += " and provider_id = :provider"
    sql = (
        f"select {bucket} as period_no, {_ROLLUP_SUMS} from rollup_appointments_daily"
        f" where org_id = :org and local_date >= :start and local_date <= :end{filters}"
        " group by period_no"
    )
    for row in db.rows(sql, **scope.params(start, end), **buckets):
        if row[0] is not None:
            _fill(out[int(row[0])], row[1:])
    return out


def appointment_figures(
    db: Reader, scope: Scope, period: Period, as_of: datetime, key: str | None = None
) -> dict[Any, AppointmentFigures]:
    """The figures of ``period`` in ``scope`` grouped by ``key`` (clinic, provider, day or None).

    Open appointments (booked, confirmed, checked in) starting after ``as_of`` (naive UTC) are
    upcoming; the others are unresolved.
    """
    params = {**scope.params(period.start, period.end), "as_of": as_of}
    filters = ""
    if scope.clinic_id is not None:
        filters += " and clinic_id = :clinic"
    if scope.provider_id is not None:
        filters += " and provider_id = :provider"
    kc = f"{_KEYS[key]}, " if key else ""
    sql = (
        f"select {kc}{_ROLLUP_SUMS} from rollup_appointments_daily"
        f" where org_id = :org and local_date >= :start and local_date <= :end{filters}"
    )
    if key:
        sql += f" group by {_KEYS[key]}"
    out: dict[Any, AppointmentFigures] = defaultdict(AppointmentFigures)
    for row in db.rows(sql, **params):
        vals = list(row)
        k = _norm(key, vals.pop(0)) if key else None
        if vals[0] is None:
            continue  # no rows at all: SUM over nothing
        _fill(out[k], vals)

    kcol = {"clinic": "clinic_id", "provider": "coalesce(provider_id, 0)", "day": "local_date"}.get(
        key or ""
    )
    kc = f"{kcol}, " if kcol else ""
    sql = (
        f"select {kc}sum(case when start_at > :as_of then 1 else 0 end),"
        " sum(case when start_at > :as_of then 0 else 1 end) from appointment"
        " where org_id = :org and local_date >= :start and local_date <= :end"
        f" and kind <> 'out_of_office' and status in {in_list(PENDING_STATUSES)}{filters}"
    )
    if kcol:
        sql += f" group by {kcol}"
    for row in db.rows(sql, **params):
        vals = list(row)
        k = _norm(key, vals.pop(0)) if key else None
        if vals[0] is None:
            continue
        out[k].upcoming = int(vals[0])
        out[k].unresolved = int(vals[1])
    return dict(out)


def appointments_report(
    db: Reader,
    scope: Scope,
    period: Period,
    *,
    today: date,
    as_of: datetime,
    now: datetime,
    interval_minutes: int,
    by: str | None = None,
) -> AppointmentsReport:
    """The appointments report of ``period`` in ``scope``, split ``by`` clinic, provider or day."""
    summary = appointment_figures(db, scope, period, as_of).get(None, AppointmentFigures())
    report = AppointmentsReport(
        scope=scope,
        period=period,
        today=today,
        as_of=as_of,
        summary=summary,
        freshness=data_freshness(db, scope.org_id, now, interval_minutes),
        coverage=data_coverage(db, scope.org_id, period.start, period.end, today),
        by=by,
    )
    current = period.to_date(today)
    if current != period:
        report.to_date = appointment_figures(db, scope, current, as_of).get(
            None, AppointmentFigures()
        )
    for name, other in (("previous", current.previous()), ("year_ago", current.year_ago())):
        figures = appointment_figures(db, scope, other, as_of).get(None, AppointmentFigures())
        report.comparisons.append(AppointmentComparison(name, other, figures))
    if by is None:
        return report
    groups = appointment_figures(db, scope, period, as_of, by)
    if by == "day":
        report.rows = [
            AppointmentRow(d, d.isoformat(), groups.get(d, AppointmentFigures()))
            for d in period.dates()
        ]
    elif by == "clinic":
        ids = [scope.clinic_id] if scope.clinic_id is not None else sorted(scope.clinics)
        ids += sorted(set(groups) - set(ids))
        report.rows = [
            AppointmentRow(c, scope.clinic(c), groups.get(c, AppointmentFigures())) for c in ids
        ]
    else:
        ordered = sorted(groups.items(), key=lambda kv: (kv[0] == 0, -kv[1].booked))
        report.rows = [
            AppointmentRow(k, scope.staff_name(k) if k else "(no provider)", f) for k, f in ordered
        ]
    return report
