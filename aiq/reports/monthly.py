"""`aiq report monthly`: every report of one month, at a glance, for the owner's one-pager.

With the month: the 12-month trend up to it (its net sales chart against a year earlier) and the
prepaid liability at its end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from aiq.reports.appointments import AppointmentsReport, appointments_report
from aiq.reports.catalog import CatalogReport, catalog_report
from aiq.reports.period import Period
from aiq.reports.prepaid import PrepaidReport, prepaid_report
from aiq.reports.providers import ProvidersReport, providers_report
from aiq.reports.retention import RetentionReport, retention_report
from aiq.reports.revenue import Breakdown, DayPoint, RevenueReport, breakdown, daily_trend
from aiq.reports.revenue import revenue_report as _revenue_report
from aiq.reports.sales import sales_lines
from aiq.reports.scope import Scope
from aiq.reports.sync_health import SyncHealth, sync_health
from aiq.reports.trend import TrendReport, trend_report

if TYPE_CHECKING:
    from aiq.store.reader import Reader


@dataclass
class MonthlyReport:
    """Revenue, appointments, providers, services, products and sync health of one month."""

    scope: Scope
    period: Period
    today: date
    generated_at: datetime
    revenue: RevenueReport
    categories: Breakdown
    payments: Breakdown
    previous_trend: list[DayPoint]
    appointments: AppointmentsReport
    providers: ProvidersReport
    services: CatalogReport
    products: CatalogReport
    sync: SyncHealth
    trend: TrendReport
    """The 12 months up to this one, each against a year earlier."""
    prepaid: PrepaidReport
    """Wallet and gift card balances, the 12 months up to this one."""
    retention: RetentionReport | None = None
    """The month's patient figures (the whole practice's); None before any patient pass, or for
    a period that is not a calendar month."""

    @property
    def has_data(self) -> bool:
        return self.revenue.has_data or self.appointments.has_data


def weekday_aligned(
    days: list[date], previous: list[DayPoint]
) -> tuple[int, list[DayPoint | None]]:
    """The previous period's days set beside ``days`` on the same weekdays.

    Every day is compared with the day a whole number of weeks earlier (28 or 35 days, or more
    for a longer period), the one shift that lines up the most days of ``previous``; a day whose
    counterpart is outside ``previous`` gets None. Returns (the shift in days, the days).
    """
    by_day = {p.day: p for p in previous}
    if not days or not by_day:
        return 0, [None] * len(days)
    first = min(by_day)
    # Candidate shifts: whole weeks putting ``days[0]`` within a week either side of ``first``.
    base = (days[0] - first).days
    shifts = [w * 7 for w in range(max(base // 7 - 1, 1), base // 7 + 3)]
    shift = max(shifts, key=lambda k: (sum(d - timedelta(days=k) in by_day for d in days), -k))
    return shift, [by_day.get(d - timedelta(days=shift)) for d in days]


def monthly_report(
    db: Reader,
    scope: Scope,
    period: Period,
    *,
    today: date,
    as_of: datetime,
    now: datetime,
    interval_minutes: int,
    unit_kinds: Mapping[str, str] = {},
    min_cell: int = 11,
) -> MonthlyReport:
    """The month's reports, each as its own command computes it."""
    rev = _revenue_report(
        db, scope, period, today=today, now=now, interval_minutes=interval_minutes, by="clinic"
    )
    # The chart sets the whole previous month beside this one (aligned by weekday).
    prev = period.previous() if period.month else period.to_date(today).previous()
    prev_days = sales_lines(db, scope, prev.start, prev.end, "day")
    appts = appointments_report(
        db,
        scope,
        period,
        today=today,
        as_of=as_of,
        now=now,
        interval_minutes=interval_minutes,
        by="clinic",
    )
    providers = providers_report(
        db, scope, period, today=today, as_of=as_of, now=now, interval_minutes=interval_minutes
    )
    services, products = (
        catalog_report(
            db,
            scope,
            period,
            kind,
            today=today,
            now=now,
            interval_minutes=interval_minutes,
            unit_kinds=unit_kinds,
        )
        for kind in ("service", "retail")
    )
    return MonthlyReport(
        scope=scope,
        period=period,
        today=today,
        generated_at=now,
        revenue=rev,
        categories=breakdown(db, scope, period, "category", rev.summary),
        payments=breakdown(db, scope, period, "payment-method", rev.summary),
        previous_trend=daily_trend(prev_days, prev),
        appointments=appts,
        providers=providers,
        services=services,
        products=products,
        sync=sync_health(db, scope, now, interval_minutes, runs=5),
        trend=trend_report(
            db,
            scope,
            period,
            today=today,
            now=now,
            interval_minutes=interval_minutes,
            min_cell=min_cell,
        ),
        prepaid=prepaid_report(
            db, scope, period, today=today, now=now, interval_minutes=interval_minutes
        ),
        retention=_retention(db, scope, period, today, now, interval_minutes, min_cell),
    )


def _retention(
    db: Reader,
    scope: Scope,
    period: Period,
    today: date,
    now: datetime,
    interval_minutes: int,
    min_cell: int,
) -> RetentionReport | None:
    """The month's patient figures, if a patient pass has made them."""
    from aiq.errors import DataMissing

    if not period.month:
        return None
    try:
        return retention_report(
            db,
            scope,
            period.start,
            today=today,
            now=now,
            interval_minutes=interval_minutes,
            min_cell=min_cell,
        )
    except DataMissing:
        return None
