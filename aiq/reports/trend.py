"""`aiq report trend`: twelve months of the owner's first figures, each month beside the same
month a year earlier (docs/reports.md).

The figures are the other reports' own: net sales is the Sales Summary's (``summarize``),
completed appointments and the completion rate the appointments report's
(``AppointmentFigures``), the average ticket the revenue report's (``average_tickets``). All 24
months are computed at once: one query of each rollup and two of the invoices for the tickets,
not a report per month.

A figure is one entry of ``FIGURES``: its key, its label, its kind and how to read its value for
one period from ``TrendData``, which loads what the figures need (each source once, when a figure
first asks for it). Another figure is another entry, and a loader in ``TrendData`` if it needs
data the others do not read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from aiq.reports.appointments import AppointmentFigures, appointment_figures_by_period
from aiq.reports.period import Period, months_up_to
from aiq.reports.sales import (
    SalesSummary,
    TicketStats,
    average_tickets,
    change,
    sales_lines_by_period,
    summarize,
)
from aiq.reports.sync_health import Coverage, Freshness, data_coverage, data_freshness

if TYPE_CHECKING:
    from aiq.reports.scope import Scope
    from aiq.store.reader import Reader

MONTHS = 12
"""Months shown, the last being the one asked for (by default the last full month)."""

Value = int | float | None


class TrendData:
    """What the figures are read from, for each of ``periods``, loaded on first use."""

    def __init__(
        self, db: Reader, scope: Scope, periods: list[Period], *, min_cell: int = 11
    ) -> None:
        self.db = db
        self.scope = scope
        self.periods = periods
        self.min_cell = min_cell

    @cached_property
    def sales(self) -> list[SalesSummary]:
        """The Sales Summary of each period (one query of ``rollup_sales_daily``)."""
        return [
            summarize(lines) for lines in sales_lines_by_period(self.db, self.scope, self.periods)
        ]

    @cached_property
    def appointments(self) -> list[AppointmentFigures]:
        """The appointment counts of each period (one query of ``rollup_appointments_daily``)."""
        return appointment_figures_by_period(self.db, self.scope, self.periods)

    @cached_property
    def rebooking(self) -> list[float | None]:
        """The rebooking rate of each period's month, from the patient pass (None: suppressed,
        not computed, or no pass yet): a whole month's figure, a month in progress to the pass."""
        from aiq.reports.retention import rebooking_by_month

        months = [p.start.replace(day=1) for p in self.periods]
        found = rebooking_by_month(self.db, self.scope, sorted(set(months)), self.min_cell)
        return [found[m].share if m in found else None for m in months]

    @cached_property
    def tickets(self) -> list[TicketStats]:
        """The average ticket of each period (two queries of the invoices)."""
        return average_tickets(self.db, self.scope, self.periods)


@dataclass(frozen=True)
class TrendFigure:
    """One figure of the trend."""

    key: str
    """Its name in JSON and CSV (``net_sales_cents``)."""
    label: str
    kind: str
    """``money`` (cents), ``count`` or ``rate`` (a fraction: its change is in points)."""
    read: Callable[[TrendData, int], Value]
    """Its value in the ``i``-th period of the data."""
    good_when_up: bool = True
    short: str = ""
    """A shorter label for a table's header (else the label)."""
    secondary: bool = False
    """A narrow table drops its columns before the others' changes (a patient figure)."""


FIGURES: tuple[TrendFigure, ...] = (
    TrendFigure("net_sales_cents", "Net sales", "money", lambda d, i: d.sales[i].net_sales),
    TrendFigure(
        "completed",
        "Completed appointments",
        "count",
        lambda d, i: d.appointments[i].completed,
        short="Completed",
    ),
    TrendFigure(
        "completion_rate",
        "Completion rate",
        "rate",
        lambda d, i: d.appointments[i].completion_rate,
        short="Completion",
    ),
    TrendFigure(
        "average_ticket_cents",
        "Average ticket",
        "money",
        lambda d, i: d.tickets[i].average_cents,
        short="Avg ticket",
    ),
    TrendFigure(
        "rebooking_rate",
        "Rebooking rate",
        "rate",
        lambda d, i: d.rebooking[i],
        short="Rebooking",
        secondary=True,
    ),
)


@dataclass
class TrendValue:
    """A figure in one month, and in the same month a year earlier."""

    value: Value
    year_ago: Value

    @property
    def difference(self) -> Value:
        """value - year_ago (for a rate, in points: 0.02 is 2 points); None without both."""
        if self.value is None or self.year_ago is None:
            return None
        return self.value - self.year_ago

    @property
    def change(self) -> float | None:
        """The change as a fraction of the year-earlier value; None from zero or without both."""
        if self.value is None or self.year_ago is None:
            return None
        return change(self.value, self.year_ago)


@dataclass
class TrendMonth:
    """One month of the trend."""

    month: Period
    """The calendar month."""
    counted: Period
    """Its dates counted: up to today for the current month."""
    year_ago: Period
    """The same dates a year earlier."""
    year_ago_synced: bool
    """Whether the sync has read every date of ``year_ago`` (if not, its values are None)."""
    values: dict[str, TrendValue]

    @property
    def partial(self) -> bool:
        return self.counted != self.month


@dataclass
class TrendReport:
    """The answer to "how are we doing, month by month, against last year?"."""

    scope: Scope
    period: Period
    """From the first month's first day to the last month's last."""
    today: date
    figures: tuple[TrendFigure, ...]
    months: list[TrendMonth]
    freshness: Freshness
    coverage: Coverage | None = None
    """Which dates of the twelve months the sync has read (None: not looked at)."""

    @property
    def has_data(self) -> bool:
        """Any sale or appointment in the twelve months (a rate alone is not data)."""
        return any(
            m.values[f.key].value for m in self.months for f in self.figures if f.kind != "rate"
        )

    def series(self, key: str) -> list[Value]:
        """One figure's values, month by month."""
        return [m.values[key].value for m in self.months]

    def year_ago_series(self, key: str) -> list[Value]:
        """One figure's year-earlier values, month by month."""
        return [m.values[key].year_ago for m in self.months]


def _missed(period: Period, coverage: Coverage) -> bool:
    return any(lo <= period.end and hi >= period.start for lo, hi in coverage.missing)


def trend_report(
    db: Reader,
    scope: Scope,
    last: Period,
    *,
    today: date,
    now: datetime,
    interval_minutes: int,
    months: int = MONTHS,
    figures: tuple[TrendFigure, ...] = FIGURES,
    min_cell: int = 11,
) -> TrendReport:
    """``figures`` for the ``months`` months up to ``last``'s month, each against a year earlier.

    The current month counts to ``today`` and is set against the same days a year earlier. A
    year-earlier month the sync has not wholly read has no values (None), rather than zeros.
    """
    calendar = months_up_to(last, months)
    counted = [m.to_date(today) for m in calendar]
    earlier = [c.year_ago() for c in counted]
    data = TrendData(db, scope, [*counted, *earlier], min_cell=min_cell)
    ago_read = data_coverage(db, scope.org_id, earlier[0].start, earlier[-1].end, today)
    rows = []
    for i, (month, c, y) in enumerate(zip(calendar, counted, earlier, strict=True)):
        synced = not _missed(y, ago_read)
        values = {
            f.key: TrendValue(f.read(data, i), f.read(data, months + i) if synced else None)
            for f in figures
        }
        rows.append(TrendMonth(month, c, y, synced, values))
    period = Period(calendar[0].start, calendar[-1].end)
    return TrendReport(
        scope=scope,
        period=period,
        today=today,
        figures=figures,
        months=rows,
        freshness=data_freshness(db, scope.org_id, now, interval_minutes),
        coverage=data_coverage(db, scope.org_id, period.start, period.end, today),
    )
