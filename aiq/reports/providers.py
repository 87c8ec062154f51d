"""`aiq report providers`: each provider's sales, tips, appointments, goals and commission.

Definitions (docs/reports.md), per staff member with ``is_provider``:

- sales: item value minus item discount of the items that are theirs (``employee_id``) on
  counted invoices; tips: the tips of invoices that are theirs;
- average ticket: their sales / the counted invoices holding one of their items;
- sales per completed hour: sales / hours of their completed appointments;
- goal attainment: sales and completed appointments against their monthly goals, pro-rated by
  the days of each month the period covers (up to today, for a period still running);
- estimated commission: sales of their ``service`` items * their commission rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from aiq.reports.appointments import AppointmentFigures, appointment_figures
from aiq.reports.period import Period, days_in_month, month_end
from aiq.reports.sales import INVOICE_LINE, PROCEDURES, divide_round, sales_lines
from aiq.reports.sync_health import Coverage, Freshness, data_coverage, data_freshness
from aiq.store.reader import in_list
from aiq.store.statuses import COUNTED_STATUSES

if TYPE_CHECKING:
    from aiq.reports.scope import Scope
    from aiq.store.reader import Reader


@dataclass
class ProviderRow:
    """One provider's figures over the period."""

    rank: int
    provider_id: int
    name: str
    sales_cents: int
    service_sales_cents: int
    tips_cents: int
    invoices: int
    average_ticket_cents: int | None
    appointments: AppointmentFigures
    sales_per_completed_hour_cents: int | None
    goal_sales_cents: int | None
    sales_attainment: float | None
    goal_completed: float | None
    completed_attainment: float | None
    commission_bp: int | None
    commission_cents: int | None

    @property
    def completed(self) -> int:
        return self.appointments.completed


@dataclass
class ProvidersReport:
    """Providers ranked by sales."""

    scope: Scope
    period: Period
    today: date
    goal_share: float
    freshness: Freshness
    coverage: Coverage | None = None
    """Which dates of the period the sync has read (None: not looked at)."""
    rows: list[ProviderRow] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return any(r.sales_cents or r.appointments.booked or r.tips_cents for r in self.rows)


def goal_share(period: Period, today: date) -> Fraction:
    """How many months' worth of goals the period holds (up to today): 1 for a whole month."""
    end = min(period.end, today)
    share = Fraction(0)
    day = period.start
    while day <= end:
        last = min(month_end(day), end)
        share += Fraction((last - day).days + 1, days_in_month(day))
        day = last + timedelta(days=1)
    return share


def _provider_invoices(db: Reader, scope: Scope, period: Period) -> dict[int, int]:
    """Per employee: the counted invoices holding one of their items."""
    where = (
        "i.org_id = :org and i.local_date >= :start and i.local_date <= :end"
        f" and i.status in {in_list(COUNTED_STATUSES)} and t.employee_id is not null"
    )
    if scope.clinic_id is not None:
        where += " and i.clinic_id = :clinic"
    if scope.provider_id is not None:
        where += " and t.employee_id = :provider"
    rows = db.rows(
        "select t.employee_id, count(distinct i.id) from invoice i join invoice_item t"
        f" on t.org_id = i.org_id and t.invoice_id = i.id where {where} group by t.employee_id",
        **scope.params(period.start, period.end),
    )
    return {int(e): int(n) for e, n in rows}


def providers_report(
    db: Reader,
    scope: Scope,
    period: Period,
    *,
    today: date,
    as_of: datetime,
    now: datetime,
    interval_minutes: int,
) -> ProvidersReport:
    """Every provider with activity in the period (and every active one of the clinic), ranked."""
    groups = sales_lines(db, scope, period.start, period.end, "employee")
    sales: dict[int, int] = {}
    service_sales: dict[int, int] = {}
    tips: dict[int, int] = {}
    for emp, lines in groups.items():
        for ln in lines:
            if ln.is_item:
                net = ln.value_cents - ln.discount_cents
                sales[emp] = sales.get(emp, 0) + net
                if ln.line in PROCEDURES:
                    service_sales[emp] = service_sales.get(emp, 0) + net
            elif ln.line == INVOICE_LINE:
                tips[emp] = tips.get(emp, 0) + ln.tip_cents
    appts = appointment_figures(db, scope, period, as_of, "provider")
    invoices = _provider_invoices(db, scope, period)
    share = goal_share(period, today)

    wanted: set[int] = set()
    for pid, info in scope.staff.items():
        if not info.is_provider:
            continue
        if scope.provider_id is not None and pid != scope.provider_id:
            continue
        active_here = info.is_active and (
            scope.clinic_id is None or scope.clinic_id in info.clinic_ids
        )
        if active_here or sales.get(pid) or tips.get(pid) or pid in appts:
            wanted.add(pid)

    rows: list[ProviderRow] = []
    for pid in wanted:
        info = scope.staff[pid]
        s = sales.get(pid, 0)
        f = appts.get(pid, AppointmentFigures())
        n = invoices.get(pid, 0)
        goal_sales = (
            None
            if not info.goal_sales_cents or not share
            else divide_round_fraction(info.goal_sales_cents * share)
        )
        goal_completed = (
            None if not info.goal_procedures or not share else float(info.goal_procedures * share)
        )
        svc = service_sales.get(pid, 0)
        rows.append(
            ProviderRow(
                rank=0,
                provider_id=pid,
                name=info.name,
                sales_cents=s,
                service_sales_cents=svc,
                tips_cents=tips.get(pid, 0),
                invoices=n,
                average_ticket_cents=divide_round(s, n) if n else None,
                appointments=f,
                sales_per_completed_hour_cents=(
                    divide_round(s * 60, f.completed_minutes) if f.completed_minutes else None
                ),
                goal_sales_cents=goal_sales,
                sales_attainment=s / goal_sales if goal_sales else None,
                goal_completed=goal_completed,
                completed_attainment=f.completed / goal_completed if goal_completed else None,
                commission_bp=info.commission_bp,
                commission_cents=(
                    None
                    if info.commission_bp is None
                    else divide_round(svc * info.commission_bp, 10_000)
                ),
            )
        )
    rows.sort(key=lambda r: (-r.sales_cents, -r.completed, r.name))
    for i, r in enumerate(rows, 1):
        r.rank = i
    return ProvidersReport(
        scope=scope,
        period=period,
        today=today,
        goal_share=float(share),
        freshness=data_freshness(db, scope.org_id, now, interval_minutes),
        coverage=data_coverage(db, scope.org_id, period.start, period.end, today),
        rows=rows,
    )


def divide_round_fraction(value: Fraction | Any) -> int:
    """A fraction of cents rounded half away from zero."""
    v = Fraction(value)
    return divide_round(v.numerator, v.denominator)
