"""Reports as data for scripts: one JSON document per report, and flat rows for NDJSON and CSV.

Money stays in integer cents (``*_cents``) so nothing is rounded on the way out; rates and shares
are fractions (0.25 is 25 %); dates are ISO 8601.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiq.reports.sales import SUMMARY_FIGURES, SalesSummary

if TYPE_CHECKING:
    from aiq.reports.appointments import AppointmentFigures, AppointmentsReport
    from aiq.reports.catalog import CatalogReport
    from aiq.reports.monthly import MonthlyReport
    from aiq.reports.prepaid import PrepaidMonth, PrepaidReport
    from aiq.reports.providers import ProviderRow, ProvidersReport
    from aiq.reports.retention import RetentionReport
    from aiq.reports.revenue import RevenueReport
    from aiq.reports.scope import Scope
    from aiq.reports.sync_health import Coverage, Freshness, SyncHealth
    from aiq.reports.trend import TrendMonth, TrendReport


@dataclass
class Rows:
    """Flat rows and their columns, for NDJSON and CSV."""

    rows: list[dict[str, Any]]
    columns: Sequence[str]


def _freshness(f: Freshness) -> dict[str, Any]:
    return {
        "status": f.status,
        "last_success_at": None
        if f.last_success_at is None
        else f.last_success_at.isoformat() + "Z",
        "age_seconds": None if f.age_seconds is None else round(f.age_seconds),
        "interval_minutes": f.interval_minutes,
    }


def _coverage(c: Coverage | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "complete": c.complete,
        "from": c.start.isoformat(),
        "to": c.end.isoformat(),
        "missing": [[lo.isoformat(), hi.isoformat()] for lo, hi in c.missing],
        "synced_from": None if c.synced_from is None else c.synced_from.isoformat(),
        "backfilling": c.backfilling,
    }


def _head(report: str, scope: Scope, **extra: Any) -> dict[str, Any]:
    return {
        "report": report,
        "practice": scope.org_name,
        "clinic": scope.clinic_name,
        "provider": scope.provider_name,
        "currency": scope.currency,
        **extra,
    }


def summary_cents(s: SalesSummary) -> dict[str, Any]:
    """The Sales Summary with ``_cents`` names."""
    d = s.as_dict()
    out = {f"{k}_cents": d[k] for k, _ in SUMMARY_FIGURES}
    out["invoices"] = s.invoices
    out["payments_cents"] = d["payments"]
    return out


# --- revenue -------------------------------------------------------------------------------------


def revenue_document(r: RevenueReport) -> dict[str, Any]:
    doc = _head(
        "revenue",
        r.scope,
        period=r.period.as_dict(),
        today=r.today.isoformat(),
        partial=r.partial,
        has_data=r.has_data,
        freshness=_freshness(r.freshness),
        coverage=_coverage(r.coverage),
        summary=summary_cents(r.summary),
        average_ticket={
            "invoices": r.ticket.invoices,
            "value_cents": r.ticket.value_cents,
            "average_cents": r.ticket.average_cents,
        },
        comparisons=[
            {
                "name": c.name,
                "period": c.period.as_dict(),
                "summary": summary_cents(c.summary),
                "changes": {
                    k: {
                        "difference_cents": c.change_of(k, r.summary)[0],
                        "change": c.change_of(k, r.summary)[1],
                    }
                    for k, _ in SUMMARY_FIGURES
                },
            }
            for c in r.comparisons
        ],
        month_to_date=None,
        breakdown=None,
        trend=[
            {
                "day": p.day.isoformat(),
                "total_sales_cents": p.total_sales_cents,
                "net_sales_cents": p.net_sales_cents,
            }
            for p in r.trend
        ],
    )
    if r.month_to_date is not None:
        m = r.month_to_date
        doc["month_to_date"] = {
            "period": m.period.as_dict(),
            "net_sales_cents": m.net_sales_cents,
            "projection_cents": m.projection_cents,
            "clinics": [
                {
                    "clinic": r.scope.clinic(c.clinic_id),
                    "net_sales_cents": c.net_sales_cents,
                    "elapsed_open_days": c.elapsed_open_days,
                    "open_days": c.open_days,
                    "projection_cents": c.projection_cents,
                }
                for c in m.clinics
            ],
        }
    if r.breakdown is not None:
        doc["breakdown"] = {"by": r.breakdown.by, "rows": revenue_rows(r).rows}
    return doc


def revenue_rows(r: RevenueReport) -> Rows:
    """The breakdown's rows when there is one, else one row per figure with its comparisons."""
    b = r.breakdown
    if b is not None and b.by == "payment-method":
        rows = [
            {"method": p.method, "amount_cents": p.amount_cents, "share": p.share}
            for p in b.payments
        ]
        return Rows(rows, ["method", "amount_cents", "share"])
    if b is not None:
        total = r.summary.net_sales
        rows = []
        for row in b.rows:
            key = row.key.isoformat() if hasattr(row.key, "isoformat") else row.key
            d = {b.by: row.label, "key": key, **summary_cents(row.summary)}
            d["share_of_net_sales"] = row.summary.net_sales / total if total else None
            rows.append(d)
        cols = [
            b.by,
            "key",
            *[f"{k}_cents" for k, _ in SUMMARY_FIGURES],
            "invoices",
            "share_of_net_sales",
        ]
        return Rows(rows, cols)
    prev = {c.name: c for c in r.comparisons}
    rows = []
    for key, label in SUMMARY_FIGURES:
        fig: dict[str, Any] = {"figure": key, "label": label, "cents": getattr(r.summary, key)}
        for name in ("previous", "year_ago"):
            c = prev.get(name)
            if c is not None:
                fig[f"{name}_cents"] = getattr(c.summary, key)
                fig[f"{name}_change"] = c.change_of(key, r.summary)[1]
        rows.append(fig)
    cols = [
        "figure",
        "label",
        "cents",
        "previous_cents",
        "previous_change",
        "year_ago_cents",
        "year_ago_change",
    ]
    return Rows(rows, cols)


# --- appointments --------------------------------------------------------------------------------

APPOINTMENT_COLUMNS = (
    "booked",
    "completed",
    "canceled",
    "no_shows",
    "upcoming",
    "unresolved",
    "resolved",
    "completion_rate",
    "cancellation_rate",
    "no_show_rate",
    "late_cancellations",
    "new_patients",
    "new_patient_share",
    "online_booked",
    "online_booking_share",
    "completed_minutes",
    "completed_hours",
)


def _appt(f: AppointmentFigures) -> dict[str, Any]:
    d = f.as_dict()
    return {k: d[k] for k in APPOINTMENT_COLUMNS}


def _appointment_comparisons(r: AppointmentsReport) -> list[dict[str, Any]]:
    from aiq.reports.appointments import COMPARED

    out = []
    for c in r.comparisons:
        changes = {}
        for k in COMPARED:
            diff, rel = c.change_of(k, r.compared)
            changes[k] = {"difference": diff, "change": rel}
        out.append(
            {
                "name": c.name,
                "period": c.period.as_dict(),
                "summary": _appt(c.figures),
                "changes": changes,
            }
        )
    return out


def appointments_document(r: AppointmentsReport) -> dict[str, Any]:
    return _head(
        "appointments",
        r.scope,
        period=r.period.as_dict(),
        today=r.today.isoformat(),
        has_data=r.has_data,
        freshness=_freshness(r.freshness),
        coverage=_coverage(r.coverage),
        summary=_appt(r.summary),
        to_date=None
        if r.to_date is None
        else {"period": r.compared_period.as_dict(), "summary": _appt(r.to_date)},
        comparisons=_appointment_comparisons(r),
        breakdown=None if r.by is None else {"by": r.by, "rows": appointments_rows(r).rows},
    )


APPOINTMENT_FIGURE_COLUMNS = (
    "figure",
    "value",
    "to_date",
    "previous",
    "previous_difference",
    "previous_change",
    "year_ago",
    "year_ago_difference",
    "year_ago_change",
)


def appointments_rows(r: AppointmentsReport) -> Rows:
    """The breakdown's rows when there is one, else one row per figure with its comparisons."""
    from aiq.reports.appointments import COMPARED

    if r.by is None:
        comps = {c.name: c for c in r.comparisons}
        summary, to_date = _appt(r.summary), None if r.to_date is None else _appt(r.to_date)
        rows = []
        for k in APPOINTMENT_COLUMNS:
            fig: dict[str, Any] = {"figure": k, "value": summary[k]}
            fig["to_date"] = None if to_date is None else to_date[k]
            for name in ("previous", "year_ago"):
                c = comps.get(name)
                compared = c is not None and k in COMPARED
                diff, rel = (
                    c.change_of(k, r.compared) if c is not None and compared else (None, None)
                )
                fig[name] = _appt(c.figures)[k] if c is not None and compared else None
                fig[f"{name}_difference"] = diff
                fig[f"{name}_change"] = rel
            rows.append(fig)
        return Rows(rows, APPOINTMENT_FIGURE_COLUMNS)
    rows = []
    for row in r.rows:
        key = row.key.isoformat() if hasattr(row.key, "isoformat") else row.key
        rows.append({r.by: row.label, "key": key, **_appt(row.figures)})
    return Rows(rows, [r.by, "key", *APPOINTMENT_COLUMNS])


# --- providers -----------------------------------------------------------------------------------

PROVIDER_COLUMNS = (
    "rank",
    "provider",
    "sales_cents",
    "service_sales_cents",
    "tips_cents",
    "invoices",
    "average_ticket_cents",
    "booked",
    "completed",
    "no_show_rate",
    "cancellation_rate",
    "completed_hours",
    "sales_per_completed_hour_cents",
    "goal_sales_cents",
    "sales_attainment",
    "goal_completed",
    "completed_attainment",
    "commission_rate",
    "commission_cents",
)


def _provider(p: ProviderRow) -> dict[str, Any]:
    a = p.appointments
    return {
        "rank": p.rank,
        "provider": p.name,
        "provider_id": p.provider_id,
        "sales_cents": p.sales_cents,
        "service_sales_cents": p.service_sales_cents,
        "tips_cents": p.tips_cents,
        "invoices": p.invoices,
        "average_ticket_cents": p.average_ticket_cents,
        "booked": a.booked,
        "completed": a.completed,
        "no_show_rate": a.no_show_rate,
        "cancellation_rate": a.cancellation_rate,
        "completed_hours": a.completed_hours,
        "sales_per_completed_hour_cents": p.sales_per_completed_hour_cents,
        "goal_sales_cents": p.goal_sales_cents,
        "sales_attainment": p.sales_attainment,
        "goal_completed": p.goal_completed,
        "completed_attainment": p.completed_attainment,
        "commission_rate": None if p.commission_bp is None else p.commission_bp / 10_000,
        "commission_cents": p.commission_cents,
    }


def providers_document(r: ProvidersReport) -> dict[str, Any]:
    return _head(
        "providers",
        r.scope,
        period=r.period.as_dict(),
        today=r.today.isoformat(),
        has_data=r.has_data,
        goal_share=r.goal_share,
        freshness=_freshness(r.freshness),
        coverage=_coverage(r.coverage),
        providers=providers_rows(r).rows,
    )


def providers_rows(r: ProvidersReport) -> Rows:
    return Rows([_provider(p) for p in r.rows], PROVIDER_COLUMNS)


# --- services and products -----------------------------------------------------------------------


def catalog_document(r: CatalogReport) -> dict[str, Any]:
    return _head(
        "services" if r.kind == "service" else "products",
        r.scope,
        period=r.period.as_dict(),
        today=r.today.isoformat(),
        has_data=r.has_data,
        freshness=_freshness(r.freshness),
        coverage=_coverage(r.coverage),
        by=r.by,
        rows=[row.as_dict() for row in r.rows],
        categories=[row.as_dict() for row in r.categories],
        total=r.total.as_dict(),
        attach_rate={
            "service_invoices": r.attach.service_invoices,
            "with_retail": r.attach.with_retail,
            "rate": r.attach.rate,
        },
    )


def catalog_rows(r: CatalogReport) -> Rows:
    cols = [
        "key",
        "name",
        "category",
        "units",
        "unit_kind",
        "units_by_kind",
        "value_cents",
        "discount_cents",
        "net_cents",
        "share",
    ]
    if r.kind == "retail":
        cols += ["cost_cents", "margin_cents", "margin_rate"]
    if r.by == "category":
        cols.remove("category")
        cols.remove("unit_kind")
    return Rows([row.as_dict() for row in r.rows], cols)


# --- prepaid liability ---------------------------------------------------------------------------


def _prepaid_month(m: PrepaidMonth) -> dict[str, Any]:
    w, g = m.wallet, m.gift_cards
    return {
        "from": m.counted.start.isoformat(),
        "to": m.counted.end.isoformat(),
        "partial": m.partial,
        "wallet": {
            "credits_cents": w.credits_cents,
            "refunds_cents": w.refunds_cents,
            "in_cents": w.in_cents,
            "debits_cents": w.debits_cents,
            "payments_cents": w.payments_cents,
            "out_cents": w.out_cents,
            "net_cents": w.net_cents,
            "balance_cents": w.balance_cents,
        },
        "gift_cards": {
            "in_cents": g.in_cents,
            "out_cents": g.out_cents,
            "net_cents": g.net_cents,
            "balance_cents": g.balance_cents,
        },
        "balance_cents": m.balance_cents,
    }


def prepaid_document(r: PrepaidReport) -> dict[str, Any]:
    closing = r.closing
    return _head(
        "prepaid",
        r.scope,
        period=r.period.as_dict(),
        since=r.since.isoformat(),
        today=r.today.isoformat(),
        has_data=r.has_data,
        freshness=_freshness(r.freshness),
        coverage=_coverage(r.coverage),
        opening=None
        if r.opening is None
        else {k: v for k, v in _prepaid_month(r.opening).items() if k != "partial"},
        months=[{"month": f"{m.month.start:%Y-%m}", **_prepaid_month(m)} for m in r.months],
        balance=None
        if closing is None
        else {
            "as_of": closing.counted.end.isoformat(),
            "wallet_cents": closing.wallet.balance_cents,
            "gift_cards_cents": closing.gift_cards.balance_cents,
            "total_cents": closing.balance_cents,
        },
    )


PREPAID_COLUMNS = (
    "month",
    "from",
    "to",
    "partial",
    "wallet_credits_cents",
    "wallet_refunds_cents",
    "wallet_in_cents",
    "wallet_debits_cents",
    "wallet_payments_cents",
    "wallet_out_cents",
    "wallet_net_cents",
    "wallet_balance_cents",
    "gift_cards_in_cents",
    "gift_cards_out_cents",
    "gift_cards_net_cents",
    "gift_cards_balance_cents",
    "balance_cents",
    "since",
)


def prepaid_rows(r: PrepaidReport) -> Rows:
    """One row per month shown, both balances' parts flattened (``wallet_in_cents``...)."""
    rows = []
    for m in r.months:
        d = _prepaid_month(m)
        row: dict[str, Any] = {"month": f"{m.month.start:%Y-%m}"}
        for key in ("from", "to", "partial"):
            row[key] = d[key]
        for part in ("wallet", "gift_cards"):
            for key, value in d[part].items():
                row[f"{part}_{key.removesuffix('_cents')}_cents"] = value
        row["balance_cents"] = m.balance_cents
        row["since"] = r.since.isoformat()
        rows.append(row)
    return Rows(rows, PREPAID_COLUMNS)


# --- trend -------------------------------------------------------------------------------------


def _trend_month(r: TrendReport, m: TrendMonth) -> dict[str, Any]:
    return {
        "month": f"{m.month.start:%Y-%m}",
        "from": m.counted.start.isoformat(),
        "to": m.counted.end.isoformat(),
        "partial": m.partial,
        "year_ago": {
            "from": m.year_ago.start.isoformat(),
            "to": m.year_ago.end.isoformat(),
            "synced": m.year_ago_synced,
        },
        "figures": {
            f.key: {
                "value": m.values[f.key].value,
                "year_ago": m.values[f.key].year_ago,
                "difference": m.values[f.key].difference,
                "change": m.values[f.key].change,
            }
            for f in r.figures
        },
    }


def trend_document(r: TrendReport) -> dict[str, Any]:
    return _head(
        "trend",
        r.scope,
        period=r.period.as_dict(),
        today=r.today.isoformat(),
        has_data=r.has_data,
        freshness=_freshness(r.freshness),
        coverage=_coverage(r.coverage),
        figures=[{"key": f.key, "label": f.label, "kind": f.kind} for f in r.figures],
        months=[_trend_month(r, m) for m in r.months],
    )


def trend_rows(r: TrendReport) -> Rows:
    """One row per month: each figure, its year-earlier value, difference and change."""
    cols = ["month", "from", "to", "partial", "year_ago_from", "year_ago_to", "year_ago_synced"]
    for f in r.figures:
        cols += [f.key, f"{f.key}_year_ago", f"{f.key}_difference", f"{f.key}_change"]
    rows = []
    for m in r.months:
        d = _trend_month(r, m)
        row: dict[str, Any] = {k: d[k] for k in ("month", "from", "to", "partial")}
        row["year_ago_from"] = d["year_ago"]["from"]
        row["year_ago_to"] = d["year_ago"]["to"]
        row["year_ago_synced"] = d["year_ago"]["synced"]
        for f in r.figures:
            v = d["figures"][f.key]
            row[f.key] = v["value"]
            row[f"{f.key}_year_ago"] = v["year_ago"]
            row[f"{f.key}_difference"] = v["difference"]
            row[f"{f.key}_change"] = v["change"]
        rows.append(row)
    return Rows(rows, cols)


# --- sync health ---------------------------------------------------------------------------------


def _ts(value: Any) -> str | None:
    return None if value is None else value.isoformat() + "Z"


def sync_document(h: SyncHealth) -> dict[str, Any]:
    return {
        "report": "sync",
        "practice": h.org_name,
        "now": _ts(h.now),
        "interval_minutes": h.interval_minutes,
        "freshness": _freshness(h.freshness),
        "patient_pass_at": _ts(h.patient_pass_at),
        "streams": sync_rows(h).rows,
        "backfill": [
            {
                "stream": b.stream,
                "complete": b.complete,
                "from": b.target_from.isoformat(),
                "until": b.until.isoformat(),
                "days": b.days,
                "days_read": b.days_read,
                "oldest_read": None if b.oldest_read is None else b.oldest_read.isoformat(),
                "missing": [[lo.isoformat(), hi.isoformat()] for lo, hi in b.missing],
            }
            for b in h.backfill
        ],
        "runs": [
            {
                "id": run.id,
                "started_at": _ts(run.started_at),
                "ended_at": _ts(run.ended_at),
                "status": run.status,
                "mode": run.mode,
                "duration_seconds": run.duration_seconds,
                "windows": run.windows,
                "requests": run.requests,
                "rows_inserted": run.rows_inserted,
                "rows_changed": run.rows_changed,
                "rows_removed": run.rows_removed,
                "rows_skipped": run.rows_skipped,
                "error": run.error,
            }
            for run in h.runs
        ],
    }


SYNC_COLUMNS = (
    "stream",
    "freshness",
    "last_success_at",
    "age_seconds",
    "last_status",
    "rows_inserted",
    "rows_changed",
    "rows_removed",
    "rows_skipped",
    "duration_seconds",
    "consecutive_failures",
    "last_error",
    "last_error_at",
)


def sync_rows(h: SyncHealth) -> Rows:
    rows = [
        {
            "stream": s.stream,
            "freshness": s.freshness.status,
            "last_success_at": _ts(s.last_success_at),
            "age_seconds": None
            if s.freshness.age_seconds is None
            else round(s.freshness.age_seconds),
            "last_status": s.last_status,
            "rows_inserted": s.rows_inserted,
            "rows_changed": s.rows_changed,
            "rows_removed": s.rows_removed,
            "rows_skipped": s.rows_skipped,
            "duration_seconds": s.duration_seconds,
            "consecutive_failures": s.consecutive_failures,
            "last_error": s.last_error,
            "last_error_at": _ts(s.last_error_at),
        }
        for s in h.streams
    ]
    return Rows(rows, SYNC_COLUMNS)


# --- monthly -------------------------------------------------------------------------------------


def monthly_document(m: MonthlyReport) -> dict[str, Any]:
    revenue = revenue_document(m.revenue)
    revenue["categories"] = [
        {"category": row.label, **summary_cents(row.summary)} for row in m.categories.rows
    ]
    revenue["payment_methods"] = [
        {"method": p.method, "amount_cents": p.amount_cents, "share": p.share}
        for p in m.payments.payments
    ]
    return _head(
        "monthly",
        m.scope,
        period=m.period.as_dict(),
        generated_at=_ts(m.generated_at),
        has_data=m.has_data,
        revenue=revenue,
        appointments=appointments_document(m.appointments),
        providers=providers_document(m.providers),
        services=catalog_document(m.services),
        products=catalog_document(m.products),
        sync=sync_document(m.sync),
        trend=trend_document(m.trend),
        prepaid=prepaid_document(m.prepaid),
        retention=None if m.retention is None else _retention_document(m.retention),
    )


def _retention_document(r: RetentionReport) -> dict[str, Any]:
    from aiq.render.retention_views import retention_document

    return retention_document(r)
