"""Daily business figures per clinic from the rollups, and how far a day sits from normal.

The figures are those of ``docs/reports.md``: net sales (AR's Sales Summary formula, from
``rollup_sales_daily``), completed appointments and the cancellation rate (canceled / resolved,
from ``rollup_appointments_daily``). A day is compared with the same weekday of the trailing
weeks (8 by default): the median is the baseline and the median absolute deviation (scaled by
1.4826, so that it estimates a standard deviation) the spread. A day is anomalous when it sits at
least ``deviations`` spreads *and* ``percent`` per cent away from the baseline.

A day whose appointments are mostly not resolved yet (not checked out, or still to come) is not
judged. A clinic-day with no appointment at all (of any status) is a closed day: a holiday,
or a weekday the clinic does not open. Closed days are never anomalies and never part of a
baseline; a weekday on which the clinic was open fewer than half of the baseline weeks is one it
is normally closed, and is not judged.

The likely driver is the provider (or, for net sales, the category) whose own change against
their baseline explains the largest share of the day's deviation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from math import sqrt
from statistics import median

from sqlalchemy import select

from aiq.reports.sales import LineSums, line_net_sales
from aiq.store.db import Store
from aiq.store.models import RollupAppointmentsDaily, RollupSalesDaily, table_of

MAD_SCALE = 1.4826
FIGURES = ("net_sales", "completed", "cancellation_rate")
LABELS = {
    "net_sales": "net sales",
    "completed": "completed appointments",
    "cancellation_rate": "cancellation rate",
}
MIN_RESOLVED = 6  # fewer resolved appointments than this make no cancellation rate to judge
NET_SALES_FLOOR = 0.20  # a day's sales are lumpy: one filler or package moves them a lot


@dataclass
class ClinicDay:
    """One clinic's figures on one local date, with the parts a driver is looked for in."""

    net_sales: int = 0  # cents
    booked: int = 0
    completed: int = 0
    canceled: int = 0
    resolved: int = 0
    sales_by_provider: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    sales_by_category: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    completed_by_provider: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    canceled_by_provider: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def closed(self) -> bool:
        """No appointment of any status: the clinic did not open (sales may still be dated
        that day: membership dues, refunds, online gift cards)."""
        return self.booked == 0

    @property
    def settled(self) -> bool:
        """Most appointments resolved: a day not yet checked out (or in the future) is not
        judged."""
        return self.booked - self.resolved <= max(2, self.booked // 4)

    @property
    def cancellation_rate(self) -> float | None:
        return self.canceled / self.resolved if self.resolved else None

    def value(self, figure: str) -> float | None:
        if figure == "net_sales":
            return float(self.net_sales)
        if figure == "completed":
            return float(self.completed)
        if self.resolved < MIN_RESOLVED:
            return None
        return self.cancellation_rate

    def parts(self, figure: str) -> dict[tuple[str, int], float]:
        """The figure split by provider (and category for sales), keyed ("provider", id)."""
        if figure == "net_sales":
            out: dict[tuple[str, int], float] = {
                ("provider", k): float(v) for k, v in self.sales_by_provider.items()
            }
            out.update({("category", k): float(v) for k, v in self.sales_by_category.items()})
            return out
        if figure == "completed":
            return {("provider", k): float(v) for k, v in self.completed_by_provider.items()}
        # A rate does not split into a sum; the provider whose cancellations moved most drives it.
        return {("provider", k): float(v) for k, v in self.canceled_by_provider.items()}


Days = dict[tuple[int, date], ClinicDay]


def load_days(store: Store, org_id: int, first: date, last: date) -> Days:
    """Every clinic-day of ``org_id`` from ``first`` to ``last`` that the rollups hold."""
    s = table_of(RollupSalesDaily)
    a = table_of(RollupAppointmentsDaily)
    days: Days = defaultdict(ClinicDay)
    with store.connect() as conn:
        for row in conn.execute(
            select(
                s.c.local_date,
                s.c.clinic_id,
                s.c.employee_id,
                s.c.category_id,
                s.c.line,
                s.c.value_cents,
                s.c.discount_cents,
                s.c.fee_cents,
                s.c.tax_cents,
                s.c.tip_cents,
                s.c.wallet_debit_cents,
                s.c.amount_cents,
            ).where(s.c.org_id == org_id, s.c.local_date.between(first, last))
        ):
            d = days[(int(row.clinic_id), row.local_date)]
            part = line_net_sales(
                LineSums(
                    str(row.line),
                    value_cents=int(row.value_cents),
                    discount_cents=int(row.discount_cents),
                    tax_cents=int(row.tax_cents),
                    tip_cents=int(row.tip_cents),
                    fee_cents=int(row.fee_cents),
                    wallet_debit_cents=int(row.wallet_debit_cents),
                    amount_cents=int(row.amount_cents),
                )
            )
            d.net_sales += part
            d.sales_by_provider[int(row.employee_id)] += part
            if row.category_id:
                d.sales_by_category[int(row.category_id)] += part
        for arow in conn.execute(
            select(
                a.c.local_date,
                a.c.clinic_id,
                a.c.provider_id,
                a.c.booked,
                a.c.completed,
                a.c.canceled,
                a.c.no_show,
            ).where(a.c.org_id == org_id, a.c.local_date.between(first, last))
        ):
            d = days[(int(arow.clinic_id), arow.local_date)]
            pid = int(arow.provider_id)
            d.booked += int(arow.booked)
            d.completed += int(arow.completed)
            d.canceled += int(arow.canceled)
            d.resolved += int(arow.completed) + int(arow.canceled) + int(arow.no_show)
            d.completed_by_provider[pid] += int(arow.completed)
            d.canceled_by_provider[pid] += int(arow.canceled)
    return days


@dataclass(frozen=True)
class Thresholds:
    """How far from normal a figure must be to count as anomalous (both must hold)."""

    deviations: float = 4.5
    percent: float = 50.0
    weeks: int = 8
    both_ways: bool = False  # also flag unusually good days


@dataclass
class Deviation:
    """One figure of one clinic-day, far from its baseline."""

    figure: str
    value: float
    baseline: float
    spread: float
    deviations: float  # signed, in spreads
    percent: float | None  # signed; None when the baseline is zero
    driver: tuple[str, int] | None = None  # ("provider" | "category", id)
    driver_change: float = 0.0
    driver_share: float = 0.0  # share of the deviation the driver explains (0..1+)

    @property
    def direction(self) -> str:
        return "above" if self.value > self.baseline else "below"


def _floor(figure: str, baseline: float, today: ClinicDay, pooled: float) -> float:
    """The smallest spread a figure is given, so that chance alone is not an anomaly.

    A count of appointments varies by at least half its square root; a rate over ``n``
    resolved appointments by its binomial standard error; a day's sales by at least a fifth.
    """
    if figure == "net_sales":
        return max(abs(baseline) * NET_SALES_FLOOR, 5_000.0)  # at least $50
    if figure == "completed":
        return max(0.5 * sqrt(max(baseline, 0.0)), 1.0)
    p = min(max(baseline, pooled, 0.05), 0.95)
    return sqrt(p * (1 - p) / max(today.resolved, 1))


def baseline_days(day: date, weeks: int) -> list[date]:
    """The same weekday in each of the ``weeks`` weeks before ``day``."""
    return [day - timedelta(days=7 * k) for k in range(1, weeks + 1)]


def judge(days: Days, clinic_id: int, day: date, thresholds: Thresholds) -> list[Deviation] | None:
    """The anomalous figures of one clinic-day; None when the day is not judged (closed)."""
    today = days.get((clinic_id, day))
    if today is None or today.closed or not today.settled:
        return None
    base = [
        days[(clinic_id, b)]
        for b in baseline_days(day, thresholds.weeks)
        if (clinic_id, b) in days and not days[(clinic_id, b)].closed
    ]
    if len(base) < max(3, (thresholds.weeks + 1) // 2):
        return None  # normally closed on this weekday, or too new to know what normal is
    resolved = sum(b.resolved for b in base)
    pooled = sum(b.canceled for b in base) / resolved if resolved else 0.0
    found = []
    for figure in FIGURES:
        x = today.value(figure)
        values = [v for v in (b.value(figure) for b in base) if v is not None]
        if x is None or len(values) < 3:
            continue
        med = median(values)
        mad = median(abs(v - med) for v in values)
        spread = max(MAD_SCALE * mad, _floor(figure, med, today, pooled))
        dev = (x - med) / spread
        pct = (x - med) / abs(med) * 100 if med else None
        if abs(dev) < thresholds.deviations:
            continue
        if not thresholds.both_ways and (dev > 0) != (figure == "cancellation_rate"):
            continue  # a good day: more sales, more visits, fewer cancellations
        if pct is not None and abs(pct) < thresholds.percent:
            continue
        d = Deviation(figure, x, med, spread, dev, pct)
        _find_driver(d, today, base)
        found.append(d)
    return found


def _find_driver(d: Deviation, today: ClinicDay, base: list[ClinicDay]) -> None:
    gap = d.value - d.baseline
    if figure_is_rate(d.figure):
        # The rate's gap is a share; compare counts of cancellations instead.
        gap = today.canceled - median(b.canceled for b in base)
    if not gap:
        return
    now = today.parts(d.figure)
    keys: set[tuple[str, int]] = set(now)
    for b in base:
        keys.update(b.parts(d.figure))
    best: tuple[float, tuple[str, int]] | None = None
    for key in keys:
        if key[1] == 0:
            continue  # no provider or no category: nobody to name
        usual = median(b.parts(d.figure).get(key, 0.0) for b in base)
        change = now.get(key, 0.0) - usual
        share = change / gap
        if share > 0 and (best is None or share > best[0]):
            best = (share, key)
            d.driver_change = change
    if best is not None:
        d.driver_share, d.driver = best


def figure_is_rate(figure: str) -> bool:
    return figure == "cancellation_rate"


def scan(
    store: Store,
    org_id: int,
    days_to_judge: Iterable[tuple[int, date]],
    thresholds: Thresholds,
) -> dict[tuple[int, date], list[Deviation]]:
    """Judge each (clinic, day); returns the anomalous ones with their deviations."""
    wanted = sorted(set(days_to_judge), key=lambda k: k[1])
    if not wanted:
        return {}
    first = wanted[0][1] - timedelta(days=7 * thresholds.weeks)
    last = wanted[-1][1]
    days = load_days(store, org_id, first, last)
    out = {}
    for clinic_id, day in wanted:
        found = judge(days, clinic_id, day, thresholds)
        if found:
            out[(clinic_id, day)] = found
    return out
