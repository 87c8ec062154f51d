"""`aiq report revenue`: the Sales Summary with its breakdowns, comparisons and run rate.

Everything comes from ``rollup_sales_daily`` (a month reads a few hundred rows however long the
history) except the average ticket, which needs distinct invoices, and the open days of the run
rate, which come from ``rollup_appointments_daily``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiq.reports.period import Period, days_in_month, month_start
from aiq.reports.sales import (
    LineSums,
    SalesSummary,
    TicketStats,
    average_ticket,
    change,
    divide_round,
    lines_by,
    sales_lines,
    summarize,
)
from aiq.reports.sync_health import Coverage, Freshness, data_coverage, data_freshness
from aiq.store.reader import as_date

if TYPE_CHECKING:
    from aiq.reports.scope import Scope
    from aiq.store.reader import Reader

UNATTRIBUTED = -1
"""The key of a breakdown row holding what items do not carry (invoice-level adjustments)."""

OPEN_DAY_WEEKS = 8


@dataclass
class Comparison:
    """The same figures over another period."""

    name: str  # "previous" | "year_ago"
    period: Period
    summary: SalesSummary

    def change_of(self, figure: str, current: SalesSummary) -> tuple[int, float | None]:
        """(difference in cents, change as a fraction) of ``figure`` against this period."""
        now, then = getattr(current, figure), getattr(self.summary, figure)
        return now - then, change(now, then)


@dataclass
class BreakdownRow:
    """One row of a breakdown: its key, its label and its figures."""

    key: Any
    label: str
    summary: SalesSummary


@dataclass
class PaymentRow:
    """Payments received by one method in the period (by the payment's date)."""

    method: str
    amount_cents: int
    share: float | None


@dataclass
class Breakdown:
    """The Sales Summary split by one dimension; the rows add up to ``total`` to the cent."""

    by: str
    rows: list[BreakdownRow] = field(default_factory=list)
    payments: list[PaymentRow] = field(default_factory=list)


@dataclass
class ClinicRunRate:
    """One clinic's month-to-date net sales and its projection for the month."""

    clinic_id: int
    net_sales_cents: int
    elapsed_open_days: int
    open_days: int
    projection_cents: int


@dataclass
class MonthToDate:
    """Month to date, and the run-rate projection for the whole month."""

    period: Period
    net_sales_cents: int
    projection_cents: int
    elapsed_open_days: int
    open_days: int
    clinics: list[ClinicRunRate] = field(default_factory=list)


@dataclass
class DayPoint:
    """One day of the trend."""

    day: date
    total_sales_cents: int
    net_sales_cents: int


@dataclass
class RevenueReport:
    """The answer to "how much did we make, and how does it compare?"."""

    scope: Scope
    period: Period
    today: date
    summary: SalesSummary
    ticket: TicketStats
    comparisons: list[Comparison]
    trend: list[DayPoint]
    freshness: Freshness
    coverage: Coverage | None = None
    """Which dates of the period the sync has read (None: not looked at)."""
    breakdown: Breakdown | None = None
    month_to_date: MonthToDate | None = None

    @property
    def has_data(self) -> bool:
        return not self.summary.is_empty

    @property
    def partial(self) -> bool:
        """The period is still running: its figures are to date."""
        return self.period.is_current(self.today)


def category_names(db: Reader, org_id: int) -> dict[int, str]:
    """Category names by id."""
    return {
        int(cid): str(name)
        for cid, name in db.rows("select id, name from category where org_id = :org", org=org_id)
    }


def _attributed(groups: dict[Any, SalesSummary], total: SalesSummary) -> dict[Any, SalesSummary]:
    """Add the row that makes item-level discounts and tax add up to the invoice-level ones."""
    items = SalesSummary()
    for s in groups.values():
        items.add(s)
    rest = SalesSummary(discounts=total.discounts - items.discounts, tax=total.tax - items.tax)
    if rest.discounts or rest.tax:
        groups[UNATTRIBUTED] = rest
    return groups


def breakdown(
    db: Reader,
    scope: Scope,
    period: Period,
    by: str,
    total: SalesSummary,
    *,
    by_day: dict[Any, list[LineSums]] | None = None,
) -> Breakdown:
    """``total`` split by ``by`` (clinic, provider, category, payment-method or day).

    ``by_day`` saves a query for ``day``.
    """
    if by == "payment-method":
        paid = sum(total.payments.values())
        return Breakdown(
            by,
            payments=[
                PaymentRow(m, v, v / paid if paid else None)
                for m, v in sorted(total.payments.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
        )
    key = {"clinic": "clinic", "provider": "employee", "category": "category", "day": "day"}[by]
    groups = (
        by_day
        if by == "day" and by_day is not None
        else sales_lines(db, scope, period.start, period.end, key)
    )
    # Items belong to their own employee and category; the invoice-level discount and tax are
    # then attributed through the items, and what the items do not carry stays unattributed.
    item_level = by in ("provider", "category")
    summaries = lines_by(groups, item_level=item_level)
    if item_level:
        summaries = _attributed(summaries, total)
    rows: list[BreakdownRow] = []
    if by == "day":
        for d in period.dates():
            rows.append(BreakdownRow(d, d.isoformat(), summaries.get(d, SalesSummary())))
    elif by == "clinic":
        ids = [scope.clinic_id] if scope.clinic_id is not None else sorted(scope.clinics)
        ids += sorted(set(summaries) - set(ids))
        for cid in ids:
            rows.append(BreakdownRow(cid, scope.clinic(cid), summaries.get(cid, SalesSummary())))
    else:
        names = category_names(db, scope.org_id) if by == "category" else {}

        def label(k: int) -> str:
            if k == UNATTRIBUTED:
                return "(invoice-level adjustments)"
            if by == "provider":
                return scope.staff_name(k) if k else "(no employee)"
            return names.get(k, f"category {k}") if k else "(no category)"

        ordered = sorted(
            summaries.items(), key=lambda kv: (kv[0] in (0, UNATTRIBUTED), -kv[1].net_sales)
        )
        rows = [BreakdownRow(k, label(k), s) for k, s in ordered]
    return Breakdown(by, rows)


def daily_trend(
    groups: dict[Any, list[LineSums]], period: Period, until: date | None = None
) -> list[DayPoint]:
    """Total and net sales per day of ``period`` (up to ``until``), zero on days with none."""
    out = []
    for d in period.dates():
        if until is not None and d > until:
            break
        s = summarize(groups.get(d, []))
        out.append(DayPoint(d, s.total_sales, s.net_sales))
    return out


def open_weekdays(db: Reader, scope: Scope, today: date) -> dict[int, set[int]]:
    """Per clinic, the weekdays (0 = Monday) with a completed appointment in the past 8 weeks."""
    where = "org_id = :org and local_date >= :since and local_date < :today and completed > 0"
    if scope.clinic_id is not None:
        where += " and clinic_id = :clinic"
    rows = db.rows(
        f"select distinct clinic_id, local_date from rollup_appointments_daily where {where}",
        org=scope.org_id,
        since=today - timedelta(weeks=OPEN_DAY_WEEKS),
        today=today,
        clinic=scope.clinic_id,
    )
    out: dict[int, set[int]] = defaultdict(set)
    for cid, d in rows:
        out[int(cid)].add(as_date(d).weekday())
    return dict(out)


def month_to_date(db: Reader, scope: Scope, today: date) -> MonthToDate:
    """Net sales of this month to date and the run-rate projection for the month (docs/reports.md).

    Per clinic: month-to-date net sales / elapsed open days * open days in the month, where an
    open day is a weekday on which the clinic had a completed appointment in the past 8 weeks;
    elapsed days run from the 1st through today. A clinic with no open day yet keeps its
    month-to-date figure. The practice's projection is the sum of its clinics'.
    """
    first = month_start(today)
    mtd = Period(first, today)
    by_clinic = lines_by(sales_lines(db, scope, first, today, "clinic"), item_level=False)
    weekdays = open_weekdays(db, scope, today)
    month_days = [first + timedelta(days=i) for i in range(days_in_month(first))]
    clinics = []
    for cid in sorted(set(by_clinic) | set(weekdays)):
        net = by_clinic[cid].net_sales if cid in by_clinic else 0
        wd = weekdays.get(cid, set())
        elapsed = sum(1 for d in month_days if d <= today and d.weekday() in wd)
        total = sum(1 for d in month_days if d.weekday() in wd)
        projection = divide_round(net * total, elapsed) if elapsed else net
        clinics.append(ClinicRunRate(cid, net, elapsed, total, projection))
    return MonthToDate(
        period=mtd,
        net_sales_cents=sum(c.net_sales_cents for c in clinics),
        projection_cents=sum(c.projection_cents for c in clinics),
        elapsed_open_days=max((c.elapsed_open_days for c in clinics), default=0),
        open_days=max((c.open_days for c in clinics), default=0),
        clinics=clinics,
    )


def revenue_report(
    db: Reader,
    scope: Scope,
    period: Period,
    *,
    today: date,
    now: datetime,
    interval_minutes: int,
    by: str | None = None,
) -> RevenueReport:
    """The revenue report of ``period`` in ``scope``: see the module docstring."""
    by_day = sales_lines(db, scope, period.start, period.end, "day")
    summary = summarize(ln for day_lines in by_day.values() for ln in day_lines)
    current = period.to_date(today)
    comparisons = []
    for name, other in (("previous", current.previous()), ("year_ago", current.year_ago())):
        s = summarize(sales_lines(db, scope, other.start, other.end).get(None, []))
        comparisons.append(Comparison(name, other, s))
    report = RevenueReport(
        scope=scope,
        period=period,
        today=today,
        summary=summary,
        ticket=average_ticket(db, scope, period),
        comparisons=comparisons,
        trend=daily_trend(by_day, period, until=today),
        freshness=data_freshness(db, scope.org_id, now, interval_minutes),
        coverage=data_coverage(db, scope.org_id, period.start, period.end, today),
    )
    if by is not None:
        report.breakdown = breakdown(db, scope, period, by, summary, by_day=by_day)
    if period.month and period.is_current(today):
        report.month_to_date = month_to_date(db, scope, today)
    return report
