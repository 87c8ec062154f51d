"""The entry points `aiq report ...` calls: one function per question, from a source and a request.

The source is a ``Store`` or a ``UrlSource`` (``aiq.store.reader``): reports read with plain SQL
in one read-only snapshot, without loading SQLAlchemy. Each function checks the period first
(bad input fails before the database is touched), then resolves the practice, clinic and
provider (an empty database says "run aiq sync first"), then computes its report and returns it.
Nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING

from aiq.reports.period import Period, last_full_month, resolve_period

# Each entry point imports only the report it computes: a command pays for what it runs.
if TYPE_CHECKING:
    from aiq.reports.appointments import AppointmentsReport
    from aiq.reports.catalog import CatalogReport
    from aiq.reports.monthly import MonthlyReport
    from aiq.reports.prepaid import PrepaidReport
    from aiq.reports.providers import ProvidersReport
    from aiq.reports.retention import RetentionReport
    from aiq.reports.revenue import RevenueReport
    from aiq.reports.scope import Scope
    from aiq.reports.sync_health import SyncHealth
    from aiq.reports.trend import TrendReport
    from aiq.store.reader import Reader, ReadSource


@dataclass
class ReportRequest:
    """What a person asked for: the practice, filters, the period and the clock.

    ``today`` is the business date reports count to (default: the real date); with it set, "now"
    for upcoming appointments is noon UTC of that day. Freshness always uses the real clock,
    since sync times are real.
    """

    org: str | None = None
    clinic: str | None = None
    provider: str | None = None
    month: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    today: date | None = None
    currency: str | None = None
    interval_minutes: int = 30
    unit_kinds: dict[str, str] = field(default_factory=dict)
    """``[report] unit_kinds``: a name part, and the kind of unit such services are counted in."""
    min_cell: int = 11  # [privacy] min_cell: patient figures over fewer patients are hidden

    @property
    def now(self) -> datetime:
        """The real time, naive UTC like the store's timestamps."""
        return datetime.now(UTC).replace(tzinfo=None)

    @property
    def day(self) -> date:
        return self.today or date.today()

    @property
    def as_of(self) -> datetime:
        if self.today is None:
            return self.now
        return datetime.combine(self.today, time(12))

    def period(self, *, allow_future: bool = False) -> Period:
        return resolve_period(
            self.month, self.date_from, self.date_to, self.day, allow_future=allow_future
        )

    def scope(self, db: Reader) -> Scope:
        from aiq.reports.scope import load_scope

        return load_scope(db, self.org, self.clinic, self.provider, currency=self.currency)


def revenue(source: ReadSource, req: ReportRequest, *, by: str | None = None) -> RevenueReport:
    """The revenue report (`aiq report revenue`)."""
    from aiq.reports.revenue import revenue_report

    period = req.period()
    with source.reader() as db:
        return revenue_report(
            db,
            req.scope(db),
            period,
            today=req.day,
            now=req.now,
            interval_minutes=req.interval_minutes,
            by=by,
        )


def appointments(
    source: ReadSource, req: ReportRequest, *, by: str | None = None
) -> AppointmentsReport:
    """The appointments report (`aiq report appointments`); future periods are allowed."""
    from aiq.reports.appointments import appointments_report

    period = req.period(allow_future=True)
    with source.reader() as db:
        return appointments_report(
            db,
            req.scope(db),
            period,
            today=req.day,
            as_of=req.as_of,
            now=req.now,
            interval_minutes=req.interval_minutes,
            by=by,
        )


def providers(source: ReadSource, req: ReportRequest) -> ProvidersReport:
    """The providers report (`aiq report providers`)."""
    from aiq.reports.providers import providers_report

    period = req.period()
    with source.reader() as db:
        return providers_report(
            db,
            req.scope(db),
            period,
            today=req.day,
            as_of=req.as_of,
            now=req.now,
            interval_minutes=req.interval_minutes,
        )


def catalog(
    source: ReadSource, req: ReportRequest, kind: str, *, by: str = "item"
) -> CatalogReport:
    """The services (``kind="service"``) or products (``kind="retail"``) report."""
    from aiq.reports.catalog import catalog_report

    period = req.period()
    with source.reader() as db:
        return catalog_report(
            db,
            req.scope(db),
            period,
            kind,
            today=req.day,
            now=req.now,
            interval_minutes=req.interval_minutes,
            by=by,
            unit_kinds=req.unit_kinds,
        )


def sync(source: ReadSource, req: ReportRequest, *, runs: int = 10) -> SyncHealth:
    """The sync health report (`aiq report sync`)."""
    from aiq.reports.sync_health import sync_health

    with source.reader() as db:
        health = sync_health(db, req.scope(db), req.now, req.interval_minutes, runs=runs)
    record_interrupted(source, health)
    return health


def monthly(source: ReadSource, req: ReportRequest) -> MonthlyReport:
    """The monthly owner's report; without a month, the last full month."""
    from aiq.reports.monthly import monthly_report

    period = req.period() if req.month or req.date_from or req.date_to else last_full_month(req.day)
    with source.reader() as db:
        report = monthly_report(
            db,
            req.scope(db),
            period,
            today=req.day,
            as_of=req.as_of,
            now=req.now,
            interval_minutes=req.interval_minutes,
            unit_kinds=req.unit_kinds,
            min_cell=req.min_cell,
        )
    record_interrupted(source, report.sync)
    return report


def retention(source: ReadSource, req: ReportRequest, *, by: str | None = None) -> RetentionReport:
    """The patient figures of a month (`aiq report retention`); without one, the last full
    month. A whole month only: the figures are counted by month."""
    from aiq.reports.retention import retention_report

    if req.date_from or req.date_to:
        from aiq.errors import UsageError

        raise UsageError(
            "patient figures are counted by calendar month", hint="give --month YYYY-MM"
        )
    period = req.period() if req.month else last_full_month(req.day)
    with source.reader() as db:
        return retention_report(
            db,
            req.scope(db),
            period.start,
            today=req.day,
            now=req.now,
            interval_minutes=req.interval_minutes,
            min_cell=req.min_cell,
            by=by,
        )


def prepaid(source: ReadSource, req: ReportRequest) -> PrepaidReport:
    """Prepaid liability (`aiq report prepaid`): wallets and gift cards, the 12 months up to
    ``--month`` (by default the last full month)."""
    from aiq.reports.prepaid import prepaid_report

    last = req.period() if req.month else last_full_month(req.day)
    with source.reader() as db:
        return prepaid_report(
            db,
            req.scope(db),
            last,
            today=req.day,
            now=req.now,
            interval_minutes=req.interval_minutes,
        )


def trend(source: ReadSource, req: ReportRequest) -> TrendReport:
    """The 12-month trend (`aiq report trend`): the 12 months up to ``--month`` (by default the
    last full month), each against the same month a year earlier."""
    from aiq.reports.trend import trend_report

    last = req.period() if req.month else last_full_month(req.day)
    with source.reader() as db:
        return trend_report(
            db,
            req.scope(db),
            last,
            today=req.day,
            now=req.now,
            interval_minutes=req.interval_minutes,
            min_cell=req.min_cell,
        )


def record_interrupted(source: ReadSource, health: SyncHealth) -> None:
    """Write down the runs a report found interrupted (their process is gone), so the run log
    says so too. Reports read in a read-only snapshot, so this takes a store of its own, only
    when there is something to write. A role that may not write the run log (a MEMBER) leaves
    it to the next sync: the report shows them interrupted all the same."""
    if not health.interrupted:
        return
    import logging

    from sqlalchemy.exc import SQLAlchemyError

    from aiq.errors import AiqError
    from aiq.store.db import Store, open_store
    from aiq.store.reader import UrlSource
    from aiq.store.runlog import settle_interrupted

    store = open_store(source.url) if isinstance(source, UrlSource) else source
    if not isinstance(store, Store):
        return
    try:
        settle_interrupted(store, health.org_id, health.interrupted)
    except (AiqError, SQLAlchemyError) as exc:
        logging.getLogger(__name__).debug("the interrupted runs were not recorded: %s", exc)
    finally:
        if store is not source:
            store.dispose()
