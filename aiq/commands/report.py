"""`aiq report ...`: revenue, appointments, providers, services, products, prepaid, trend,
sync, monthly.

Each command parses its options, calls one function of ``aiq.reports.api`` and renders the
result; the figures are defined in docs/reports.md.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aiq.commands.options import (
    FormatOpt,
    OrgOpt,
    OutputFormat,
    StatusFormat,
    StatusFormatOpt,
    parse_date,
)
from aiq.commands.state import AppState, get_state

if TYPE_CHECKING:
    from aiq.reports.api import ReportRequest
    from aiq.reports.sync_health import Coverage, Freshness

app = typer.Typer(
    help="Reports from the synced data: revenue, appointments, providers, services, products, "
    "prepaid liability, the 12-month trend, sync health, and the monthly owner's report.\n\n"
    "Example: aiq report revenue --month 2026-10 --by clinic",
    no_args_is_help=True,
)


class RevenueBy(StrEnum):
    """Dimensions of the revenue breakdown."""

    clinic = "clinic"
    provider = "provider"
    category = "category"
    payment_method = "payment-method"
    day = "day"


class AppointmentsBy(StrEnum):
    """Dimensions of the appointments breakdown."""

    clinic = "clinic"
    provider = "provider"
    day = "day"


class RetentionBy(StrEnum):
    """Dimensions of the rebooking rate's breakdown."""

    clinic = "clinic"
    provider = "provider"


class CatalogBy(StrEnum):
    """Rows of the services and products reports."""

    item = "item"
    category = "category"


MonthOpt = Annotated[
    str | None,
    typer.Option(
        "--month", "-m", metavar="YYYY-MM", help="The calendar month to report (default: this one)."
    ),
]
LastMonthOpt = Annotated[
    str | None,
    typer.Option(
        "--month",
        "-m",
        metavar="YYYY-MM",
        help="The calendar month to report (default: the last full month).",
    ),
]
LastShownOpt = Annotated[
    str | None,
    typer.Option(
        "--month",
        "-m",
        metavar="YYYY-MM",
        help="The last of the 12 months shown (default: the last full month).",
    ),
]
FromOpt = Annotated[
    str | None,
    typer.Option("--from", metavar="DATE", help="First day of the period (YYYY-MM-DD)."),
]
ToOpt = Annotated[
    str | None,
    typer.Option("--to", metavar="DATE", help="Last day of the period (YYYY-MM-DD), inclusive."),
]
ClinicOpt = Annotated[
    str | None,
    typer.Option("--clinic", "-c", metavar="NAME", help="Only this clinic (location)."),
]
ProviderOpt = Annotated[
    str | None,
    typer.Option("--provider", "-p", metavar="NAME", help="Only this provider."),
]
TodayOpt = Annotated[
    str | None,
    typer.Option("--today", metavar="DATE", hidden=True, help="Pretend today is DATE (testing)."),
]


def build_request(
    state: AppState,
    *,
    org: str | None,
    clinic: str | None = None,
    provider: str | None = None,
    month: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    today: str | None = None,
    allow_future: bool = False,
) -> ReportRequest:
    """The request a report command makes, from its options and the settings.

    The period is checked here, so bad input fails before any database is opened.
    """
    from aiq.reports.api import ReportRequest

    day = parse_date(today, "--today")
    settings = state.settings()
    configured = settings.report.currency.strip().upper()
    req = ReportRequest(
        org=org,
        clinic=clinic,
        provider=provider,
        month=month,
        date_from=date_from,
        date_to=date_to,
        today=day,
        # `[report] currency` overrides the practice's own when set to something else than USD.
        currency=configured if configured and configured != "USD" else None,
        interval_minutes=settings.daemon.interval_minutes,
        min_cell=settings.privacy.min_cell,
    )
    if settings.report.unit_kinds.strip():
        from aiq.reports.catalog import parse_unit_kinds

        req.unit_kinds = parse_unit_kinds(settings.report.unit_kinds)
    if month is not None or date_from is not None or date_to is not None:
        req.period(allow_future=allow_future)
    return req


def _note(state: AppState, freshness: Freshness, coverage: Coverage | None) -> None:
    from aiq.reports.sync_health import coverage_note, stale_note

    for note in (stale_note(freshness), coverage and coverage_note(coverage)):
        if note:
            state.say(note)


@app.command("revenue")
def revenue(
    ctx: typer.Context,
    month: MonthOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    clinic: ClinicOpt = None,
    provider: ProviderOpt = None,
    by: Annotated[
        RevenueBy | None,
        typer.Option("--by", "-b", help="Break the figures down by this dimension."),
    ] = None,
    org: OrgOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    today: TodayOpt = None,
) -> None:
    """The Sales Summary (AR's formulas) with comparisons, run rate and a daily trend chart."""
    from aiq.render.report_views import show_revenue
    from aiq.reports import api

    state = get_state(ctx)
    req = build_request(
        state,
        org=org,
        clinic=clinic,
        provider=provider,
        month=month,
        date_from=date_from,
        date_to=date_to,
        today=today,
    )
    result = api.revenue(state.source(), req, by=by.value if by else None)
    show_revenue(state.out(), result, fmt.value)
    _note(state, result.freshness, result.coverage)


@app.command("appointments")
def appointments(
    ctx: typer.Context,
    month: MonthOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    clinic: ClinicOpt = None,
    provider: ProviderOpt = None,
    by: Annotated[
        AppointmentsBy | None,
        typer.Option("--by", "-b", help="Break the figures down by this dimension."),
    ] = None,
    org: OrgOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    today: TodayOpt = None,
) -> None:
    """Appointments by status, with completion, cancellation and no-show rates."""
    from aiq.render.report_views import show_appointments
    from aiq.reports import api

    state = get_state(ctx)
    req = build_request(
        state,
        org=org,
        clinic=clinic,
        provider=provider,
        month=month,
        date_from=date_from,
        date_to=date_to,
        today=today,
        allow_future=True,
    )
    result = api.appointments(state.source(), req, by=by.value if by else None)
    show_appointments(state.out(), result, fmt.value)
    _note(state, result.freshness, result.coverage)


@app.command("providers")
def providers(
    ctx: typer.Context,
    month: MonthOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    clinic: ClinicOpt = None,
    provider: ProviderOpt = None,
    org: OrgOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    today: TodayOpt = None,
) -> None:
    """Providers ranked by sales: tips, appointments, rates, goals and estimated commission."""
    from aiq.render.report_views import show_providers
    from aiq.reports import api

    state = get_state(ctx)
    req = build_request(
        state,
        org=org,
        clinic=clinic,
        provider=provider,
        month=month,
        date_from=date_from,
        date_to=date_to,
        today=today,
    )
    result = api.providers(state.source(), req)
    show_providers(state.out(), result, fmt.value)
    _note(state, result.freshness, result.coverage)


def _catalog(
    ctx: typer.Context,
    kind: str,
    *,
    month: str | None,
    date_from: str | None,
    date_to: str | None,
    clinic: str | None,
    provider: str | None,
    by: CatalogBy,
    org: str | None,
    fmt: OutputFormat,
    today: str | None,
) -> None:
    from aiq.render.report_views import show_catalog
    from aiq.reports import api

    state = get_state(ctx)
    req = build_request(
        state,
        org=org,
        clinic=clinic,
        provider=provider,
        month=month,
        date_from=date_from,
        date_to=date_to,
        today=today,
    )
    result = api.catalog(state.source(), req, kind, by=by.value)
    show_catalog(state.out(), result, fmt.value)
    _note(state, result.freshness, result.coverage)


@app.command("services")
def services(
    ctx: typer.Context,
    month: MonthOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    clinic: ClinicOpt = None,
    provider: ProviderOpt = None,
    by: Annotated[
        CatalogBy, typer.Option("--by", "-b", help="One row per service, or per category.")
    ] = CatalogBy.item,
    org: OrgOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    today: TodayOpt = None,
) -> None:
    """Services sold: units, value, discounts, net and share; and the retail attach rate."""
    _catalog(
        ctx,
        "service",
        month=month,
        date_from=date_from,
        date_to=date_to,
        clinic=clinic,
        provider=provider,
        by=by,
        org=org,
        fmt=fmt,
        today=today,
    )


@app.command("products")
def products(
    ctx: typer.Context,
    month: MonthOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
    clinic: ClinicOpt = None,
    provider: ProviderOpt = None,
    by: Annotated[
        CatalogBy, typer.Option("--by", "-b", help="One row per product, or per category.")
    ] = CatalogBy.item,
    org: OrgOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    today: TodayOpt = None,
) -> None:
    """Retail products sold: units, value, discounts, net, share, cost, margin; attach rate."""
    _catalog(
        ctx,
        "retail",
        month=month,
        date_from=date_from,
        date_to=date_to,
        clinic=clinic,
        provider=provider,
        by=by,
        org=org,
        fmt=fmt,
        today=today,
    )


@app.command("retention")
def retention(
    ctx: typer.Context,
    month: LastMonthOpt = None,
    by: Annotated[
        RetentionBy | None,
        typer.Option("--by", "-b", help="Break the rebooking rate down by this dimension."),
    ] = None,
    org: OrgOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    today: TodayOpt = None,
) -> None:
    """Do patients come back: rebooking, return within 30/90/180 days, new and returning
    revenue, memberships, and the retention cohorts (no patient identifier is kept)."""
    from aiq.render.retention_views import show_retention
    from aiq.reports import api

    state = get_state(ctx)
    req = build_request(state, org=org, month=month, today=today)
    result = api.retention(state.source(), req, by=by.value if by else None)
    show_retention(state.out(), result, fmt.value)
    from aiq.reports.sync_health import stale_note

    note = stale_note(result.freshness)
    if note:
        state.say(note)


@app.command("prepaid")
def prepaid(
    ctx: typer.Context,
    month: LastShownOpt = None,
    clinic: ClinicOpt = None,
    org: OrgOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    today: TodayOpt = None,
) -> None:
    """Prepaid liability: what patients hold in wallets and gift cards, month by month."""
    from aiq.render.report_views import show_prepaid
    from aiq.reports import api

    state = get_state(ctx)
    req = build_request(state, org=org, clinic=clinic, month=month, today=today)
    result = api.prepaid(state.source(), req)
    show_prepaid(state.out(), result, fmt.value)
    _note(state, result.freshness, result.coverage)


@app.command("trend")
def trend(
    ctx: typer.Context,
    month: LastShownOpt = None,
    clinic: ClinicOpt = None,
    org: OrgOpt = None,
    fmt: FormatOpt = OutputFormat.table,
    today: TodayOpt = None,
) -> None:
    """Twelve months of net sales, completed appointments, completion rate and average ticket,
    each month against the same month a year earlier."""
    from aiq.render.report_views import show_trend
    from aiq.reports import api

    state = get_state(ctx)
    req = build_request(state, org=org, clinic=clinic, month=month, today=today)
    result = api.trend(state.source(), req)
    show_trend(state.out(), result, fmt.value)
    _note(state, result.freshness, result.coverage)


@app.command("sync")
def sync(
    ctx: typer.Context,
    runs: Annotated[
        int, typer.Option("--runs", min=0, metavar="N", help="How many recent runs to list.")
    ] = 10,
    org: OrgOpt = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Sync health: each stream's freshness (fresh / delayed / stale) and the run log."""
    from aiq.render.report_views import show_sync
    from aiq.reports import api

    state = get_state(ctx)
    req = build_request(state, org=org)
    result = api.sync(state.source(), req, runs=runs)
    show_sync(state.out(), result, fmt.value)


@app.command("monthly")
def monthly(
    ctx: typer.Context,
    month: LastMonthOpt = None,
    clinic: ClinicOpt = None,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="FILE",
            help="Write the one-page owner's report to FILE (- for standard output): "
            "self-contained HTML with charts.",
        ),
    ] = None,
    org: OrgOpt = None,
    fmt: StatusFormatOpt = StatusFormat.table,
    today: TodayOpt = None,
) -> None:
    """The month at a glance (default: the last full month), in the terminal or as HTML."""
    from aiq.render.report_views import show_monthly
    from aiq.reports import api

    state = get_state(ctx)
    if html is not None and str(html) == "-" and fmt is StatusFormat.json:
        from aiq.errors import UsageError

        raise UsageError(
            "--html - and --format json both write to standard output",
            hint="write the HTML to a file, or leave out --format json",
        )
    req = build_request(state, org=org, clinic=clinic, month=month, today=today)
    result = api.monthly(state.source(), req)
    if html is not None and str(html) == "-":
        import sys

        from aiq.render.html import render_monthly_html

        sys.stdout.write(render_monthly_html(result))
        sys.stdout.flush()
    elif html is not None:
        from aiq.render.html import write_monthly_html

        write_monthly_html(result, html)
        state.say(
            f"Wrote the {result.period.label} report for {result.scope.describe()} to {html}."
        )
        if fmt is StatusFormat.json:
            show_monthly(state.out(), result, fmt.value)
    else:
        show_monthly(state.out(), result, fmt.value)
    _note(state, result.revenue.freshness, result.revenue.coverage)
