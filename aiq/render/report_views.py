"""Reports for people (tables and terminal charts) and for scripts (JSON, NDJSON, CSV).

One ``show_*`` function per report: given the console, the result and the format, it writes the
report on stdout. Notes for the person (stale data) are for the caller to print on stderr.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from aiq.render import documents as docs
from aiq.render.charts import bar, column_chart, sparkline, weekly
from aiq.render.money import (
    compact_money,
    count,
    hours,
    money,
    pct,
    signed_pct,
    units,
    units_split,
)
from aiq.render.output import write_csv, write_json, write_ndjson
from aiq.render.tables import Col, change_text, fitted_table
from aiq.reports.sales import HEADLINE_FIGURES, SUMMARY_FIGURES

if TYPE_CHECKING:
    from aiq.reports.appointments import AppointmentFigures, AppointmentsReport
    from aiq.reports.catalog import CatalogReport
    from aiq.reports.monthly import MonthlyReport
    from aiq.reports.period import Period
    from aiq.reports.prepaid import PrepaidReport
    from aiq.reports.providers import ProvidersReport
    from aiq.reports.revenue import RevenueReport
    from aiq.reports.scope import Scope
    from aiq.reports.sync_health import SyncHealth
    from aiq.reports.trend import TrendFigure, TrendReport

BAR_WIDTH = 16


def _emit(
    fmt: str,
    document: Callable[[], dict[str, Any]],
    rows: Callable[[], docs.Rows],
    table: Callable[[], None],
) -> None:
    if fmt == "json":
        write_json(document())
    elif fmt == "ndjson":
        r = rows()
        write_ndjson(r.rows)
    elif fmt == "csv":
        r = rows()
        write_csv(r.rows, r.columns)
    else:
        table()


def _title(name: str, scope: Scope, period: Period, today: Any = None) -> str:
    running = today is not None and period.is_current(today) and period.start <= today
    when = period.label + (f" (to {today:%b} {today.day})" if running else "")
    return f"{name} · {scope.describe()} · {when}"


def _period_name(p: Period) -> str:
    return f"{p.start:%b %Y}" if p.month else p.label


def no_data(out: Console, what: str, scope: Scope, period: Period) -> None:
    out.print(
        f"No {what} in {period.label} for {scope.describe()}: nothing was recorded in that "
        "period (or it has not been synced).",
        soft_wrap=True,
        markup=False,
    )


# --- revenue -------------------------------------------------------------------------------------


def show_revenue(out: Console, r: RevenueReport, fmt: str) -> None:
    """The Sales Summary with comparisons, the breakdown, run rate and daily trend."""
    _emit(
        fmt,
        lambda: docs.revenue_document(r),
        lambda: docs.revenue_rows(r),
        lambda: _revenue_table(out, r),
    )


def _revenue_table(out: Console, r: RevenueReport) -> None:
    cur = r.scope.currency
    title = _title("Revenue", r.scope, r.period, r.today)
    if not r.has_data:
        out.print(Text(title, style="bold"))
        no_data(out, "sales", r.scope, r.period)
        return
    comps = {c.name: c for c in r.comparisons}
    prev, ago = comps["previous"], comps["year_ago"]
    cols = [
        Col("figure", "Sales Summary"),
        Col("amount", "Amount", numeric=True),
        Col("prev", _period_name(prev.period), numeric=True, drop=3),
        Col("prev_change", f"vs {_period_name(prev.period)}", numeric=True, drop=2),
        Col("ago", _period_name(ago.period), numeric=True, drop=4),
        Col("ago_change", f"vs {_period_name(ago.period)}", numeric=True, drop=1),
    ]
    rows, styles = [], []
    for key, label in SUMMARY_FIGURES:
        value = getattr(r.summary, key)
        if key == "other_items" and not (
            value or prev.summary.other_items or ago.summary.other_items
        ):
            continue
        good = key not in ("discounts", "refunds", "processing_fees")
        d_prev = prev.change_of(key, r.summary)[1]
        d_ago = ago.change_of(key, r.summary)[1]
        rows.append(
            {
                "figure": label,
                "amount": money(value, cur),
                "prev": money(getattr(prev.summary, key), cur),
                "prev_change": change_text(signed_pct(d_prev), d_prev, good_when_up=good),
                "ago": money(getattr(ago.summary, key), cur),
                "ago_change": change_text(signed_pct(d_ago), d_ago, good_when_up=good),
            }
        )
        styles.append("bold" if key in HEADLINE_FIGURES else None)
    rows.append(
        {
            "figure": "Invoices",
            "amount": count(r.summary.invoices),
            "prev": count(prev.summary.invoices),
            "ago": count(ago.summary.invoices),
        }
    )
    styles.append("dim")
    rows.append({"figure": "Average ticket", "amount": money(r.ticket.average_cents, cur)})
    styles.append("dim")
    fitted_table(out, cols, rows, title=title, styles=styles)
    if r.month_to_date is not None:
        m = r.month_to_date
        days = ""
        if len(m.clinics) == 1:
            c = m.clinics[0]
            days = f", {c.elapsed_open_days} of {c.open_days} open days gone"
        out.print(
            f"Month to date: net sales {money(m.net_sales_cents, cur)}; at this rate "
            f"{r.period.start:%B} ends near {money(m.projection_cents, cur, whole=True)}{days}.",
            soft_wrap=True,
            markup=False,
        )
    if r.breakdown is not None:
        out.print()
        _revenue_breakdown(out, r)
    if r.trend and any(p.net_sales_cents for p in r.trend):
        out.print()
        _trend(out, r)


def _revenue_breakdown(out: Console, r: RevenueReport) -> None:
    b = r.breakdown
    assert b is not None
    cur = r.scope.currency
    if b.by == "payment-method":
        top = max((p.amount_cents for p in b.payments), default=0)
        rows = [
            {
                "method": p.method,
                "amount": money(p.amount_cents, cur),
                "share": pct(p.share),
                "bar": bar(p.amount_cents, top, BAR_WIDTH),
            }
            for p in b.payments
        ]
        total = sum(p.amount_cents for p in b.payments)
        fitted_table(
            out,
            [
                Col("method", "Payment method"),
                Col("amount", "Received", numeric=True),
                Col("share", "Share", numeric=True),
                Col("bar", "", drop=1),
            ],
            rows,
            title="Payments received, by method (by payment date)",
            footer={
                "method": "Total",
                "amount": money(total, cur),
                "share": pct(1.0 if total else None),
            },
        )
        return
    total = r.summary.net_sales
    top = max((row.summary.net_sales for row in b.rows), default=0)
    label = {"clinic": "Clinic", "provider": "Provider", "category": "Category", "day": "Day"}[b.by]
    rows = []
    for row in b.rows:
        s = row.summary
        rows.append(
            {
                "label": row.label,
                "procedures": money(s.procedures, cur),
                "retail": money(s.retail, cur),
                "other": money(s.item_value - s.procedures - s.retail, cur),
                "tips": money(s.tips, cur),
                "total": money(s.total_sales, cur),
                "discounts": money(s.discounts, cur),
                "refunds": money(s.refunds, cur),
                "net": money(s.net_sales, cur),
                "share": pct(s.net_sales / total if total else None),
                "bar": bar(s.net_sales, top, BAR_WIDTH),
            }
        )
    t = r.summary
    footer = {
        "label": "Total",
        "procedures": money(t.procedures, cur),
        "retail": money(t.retail, cur),
        "other": money(t.item_value - t.procedures - t.retail, cur),
        "tips": money(t.tips, cur),
        "total": money(t.total_sales, cur),
        "discounts": money(t.discounts, cur),
        "refunds": money(t.refunds, cur),
        "net": money(t.net_sales, cur),
        "share": pct(1.0 if total else None),
    }
    fitted_table(
        out,
        [
            Col("label", label),
            Col("procedures", "Procedures", numeric=True, drop=4),
            Col("retail", "Retail", numeric=True, drop=5),
            Col("other", "Other items", numeric=True, drop=6),
            Col("tips", "Tips", numeric=True, drop=7),
            Col("total", "Total sales", numeric=True, drop=3),
            Col("discounts", "Discounts", numeric=True, drop=8),
            Col("refunds", "Refunds", numeric=True, drop=9),
            Col("net", "Net sales", numeric=True),
            Col("share", "Share", numeric=True, drop=2),
            Col("bar", "", drop=1),
        ],
        rows,
        title=f"By {b.by}",
        footer=footer,
    )


def _trend(out: Console, r: RevenueReport) -> None:
    cur = r.scope.currency
    values = [p.net_sales_cents / 100 for p in r.trend]
    days = [p.day for p in r.trend]
    what = "Daily net sales"
    if len(values) > 62:
        values, days = weekly(values, days)
        what = "Weekly net sales (weeks from Monday)"
    gap = 2 * len(values) + 12 <= out.width
    if len(values) + 12 > out.width:
        out.print(f"{what}: {sparkline(values)}", markup=False)
        return
    lines = column_chart(
        values,
        days,
        height=8,
        fmt=lambda v: compact_money(round(v * 100), cur),
        gap=gap,
    )
    out.print(Text(what, style="bold"))
    for line in lines:
        out.print(line, markup=False, highlight=False)


# --- appointments --------------------------------------------------------------------------------


def show_appointments(out: Console, r: AppointmentsReport, fmt: str) -> None:
    """Counts, rates and the breakdown of appointments."""
    _emit(
        fmt,
        lambda: docs.appointments_document(r),
        lambda: docs.appointments_rows(r),
        lambda: _appointments_table(out, r),
    )


def _appointment_cells(f: AppointmentFigures) -> dict[str, Any]:
    return {
        "booked": count(f.booked),
        "completed": count(f.completed),
        "canceled": count(f.canceled),
        "no_shows": count(f.no_shows),
        "upcoming": count(f.upcoming),
        "unresolved": count(f.unresolved),
        "completion": pct(f.completion_rate),
        "cancellation": pct(f.cancellation_rate),
        "no_show_rate": pct(f.no_show_rate),
        "late": count(f.late_cancellations),
        "new": pct(f.new_patient_share),
        "online": pct(f.online_booking_share),
        "hours": hours(f.completed_minutes),
    }


def short_period(p: Period) -> str:
    """``Oct 2026`` for a month, ``Oct 1–26 2026`` for days of one month, else the label."""
    if p.month:
        return f"{p.start:%b %Y}"
    if (p.start.year, p.start.month) == (p.end.year, p.end.month):
        days = str(p.start.day) if p.start == p.end else f"{p.start.day}–{p.end.day}"
        return f"{p.start:%b} {days} {p.start.year}"
    return p.label


APPOINTMENT_ROWS: tuple[tuple[str, str, bool], ...] = (
    # (figure, label, good when up); the owner's first figures first.
    ("completed", "Completed", True),
    ("completion_rate", "Completion rate", True),
    ("cancellation_rate", "Cancellation rate", False),
    ("no_show_rate", "No-show rate", False),
    ("booked", "Booked", True),
    ("canceled", "Canceled", False),
    ("no_shows", "No-shows", False),
    ("late_cancellations", "Late cancellations", False),
    ("new_patients", "New patients", True),
    ("online_booked", "Booked online", True),
    ("completed_minutes", "Completed hours", True),
    ("upcoming", "Upcoming", True),
    ("unresolved", "Unresolved", False),
)


def appointment_value(f: AppointmentFigures, figure: str) -> str:
    """One appointment figure as people read it."""
    from aiq.reports.appointments import RATES

    value = getattr(f, figure)
    if figure in RATES:
        return pct(value)
    if figure == "completed_minutes":
        return hours(value)
    return count(value)


def appointment_change(difference: float | None, change: float | None, figure: str) -> str:
    """A change in points for a rate (``+2.1 pt``), else as a percentage of the earlier value."""
    from aiq.reports.appointments import RATES

    if figure in RATES:
        return "–" if difference is None else f"{difference * 100:+.1f} pt"
    return signed_pct(change)


def _appointment_note(f: AppointmentFigures, figure: str) -> str:
    return {
        "completed": f"of {count(f.resolved)} resolved",
        "completion_rate": "completed / resolved",
        "cancellation_rate": "canceled / resolved",
        "no_show_rate": "no-shows / resolved",
        "booked": "all appointments, any status",
        "late_cancellations": "canceled under 24 h before",
        "new_patients": f"{pct(f.new_patient_share)} of completed",
        "online_booked": f"{pct(f.online_booking_share)} of booked",
        "completed_minutes": "length of completed appointments",
        "upcoming": "booked, confirmed or checked in; still ahead",
        "unresolved": "still open, but their time has passed",
    }.get(figure, "")


def _appointments_table(out: Console, r: AppointmentsReport) -> None:
    from aiq.reports.appointments import COMPARED, RATES

    title = _title("Appointments", r.scope, r.period, r.today)
    if not r.has_data:
        out.print(Text(title, style="bold"))
        no_data(out, "appointments", r.scope, r.period)
        return
    f, cur = r.summary, r.compared
    comps = {c.name: c for c in r.comparisons}
    prev, ago = comps.get("previous"), comps.get("year_ago")
    cols = [Col("figure", "Figure"), Col("value", _period_name(r.period), numeric=True)]
    if r.to_date is not None:
        cols.append(Col("to_date", f"to {r.today:%b} {r.today.day}", numeric=True, drop=3))
    for key, c, drops in (("prev", prev, (4, 1)), ("ago", ago, (5, 2))):
        if c is not None:
            name = short_period(c.period)
            cols.append(Col(key, name, numeric=True, drop=drops[0]))
            cols.append(Col(f"{key}_change", f"vs {name}", numeric=True, drop=drops[1]))
    cols.append(Col("note", "", drop=6))
    rows = []
    for figure, label, good in APPOINTMENT_ROWS:
        line: dict[str, Any] = {
            "figure": label,
            "value": appointment_value(f, figure),
            "note": Text(_appointment_note(f, figure), style="dim"),
        }
        if r.to_date is not None and figure in COMPARED:
            line["to_date"] = appointment_value(r.to_date, figure)
        for key, c in (("prev", prev), ("ago", ago)):
            if c is None or figure not in COMPARED:
                continue
            diff, rel = c.change_of(figure, cur)
            line[key] = appointment_value(c.figures, figure)
            shown = diff if figure in RATES else rel
            line[f"{key}_change"] = change_text(
                appointment_change(diff, rel, figure), shown, good_when_up=good
            )
        rows.append(line)
    fitted_table(
        out,
        cols,
        rows,
        title=title,
        styles=["bold" if i < 4 else None for i in range(len(rows))],
    )
    if r.by is None:
        return
    out.print()
    label = {"clinic": "Clinic", "provider": "Provider", "day": "Day"}[r.by]
    top = max((row.figures.completed for row in r.rows), default=0)
    rows = []
    for row in r.rows:
        cells = _appointment_cells(row.figures)
        cells["label"] = row.label
        cells["bar"] = bar(row.figures.completed, top, 12)
        rows.append(cells)
    footer = {**_appointment_cells(r.summary), "label": "Total"}
    fitted_table(
        out,
        [
            Col("label", label),
            Col("booked", "Booked", numeric=True),
            Col("completed", "Done", numeric=True),
            Col("canceled", "Canceled", numeric=True, drop=6),
            Col("no_shows", "No-show", numeric=True, drop=7),
            Col("completion", "Done %", numeric=True, drop=3),
            Col("cancellation", "Cancel %", numeric=True, drop=4),
            Col("no_show_rate", "No-show %", numeric=True, drop=5),
            Col("late", "Late", numeric=True, drop=10),
            Col("upcoming", "Upcoming", numeric=True, drop=8),
            Col("unresolved", "Open", numeric=True, drop=9),
            Col("new", "New pt", numeric=True, drop=11),
            Col("online", "Online", numeric=True, drop=12),
            Col("hours", "Hours", numeric=True, drop=13),
            Col("bar", "", drop=14),
        ],
        rows,
        title=f"By {r.by}",
        footer=footer,
    )


# --- providers -----------------------------------------------------------------------------------


def show_providers(out: Console, r: ProvidersReport, fmt: str) -> None:
    """Providers ranked by sales, with a bar chart."""
    _emit(
        fmt,
        lambda: docs.providers_document(r),
        lambda: docs.providers_rows(r),
        lambda: _providers_table(out, r),
    )


def _providers_table(out: Console, r: ProvidersReport) -> None:
    cur = r.scope.currency
    title = _title("Providers", r.scope, r.period, r.today)
    if not r.has_data:
        out.print(Text(title, style="bold"))
        no_data(out, "provider activity", r.scope, r.period)
        return
    top = max((p.sales_cents for p in r.rows), default=0)
    rows = []
    for p in r.rows:
        a = p.appointments
        rows.append(
            {
                "rank": str(p.rank),
                "name": p.name,
                "sales": money(p.sales_cents, cur, whole=True),
                "bar": bar(p.sales_cents, top, 12),
                "tips": money(p.tips_cents, cur, whole=True),
                "completed": count(a.completed),
                "no_show": pct(a.no_show_rate),
                "cancel": pct(a.cancellation_rate),
                "ticket": money(p.average_ticket_cents, cur, whole=True),
                "per_hour": money(p.sales_per_completed_hour_cents, cur, whole=True),
                "goal_sales": pct(p.sales_attainment, 0),
                "goal_done": pct(p.completed_attainment, 0),
                "commission": money(p.commission_cents, cur, whole=True),
            }
        )
    caption = None
    if r.goal_share and abs(r.goal_share - 1) > 1e-9:
        caption = f"Goals pro-rated to {r.goal_share:.2f} of a month."
    fitted_table(
        out,
        [
            Col("rank", "#", numeric=True),
            Col("name", "Provider"),
            Col("sales", "Sales", numeric=True),
            Col("bar", "", drop=2),
            Col("tips", "Tips", numeric=True, drop=8),
            Col("completed", "Done", numeric=True),
            Col("no_show", "No-show", numeric=True, drop=9),
            Col("cancel", "Cancel", numeric=True, drop=10),
            Col("ticket", "Avg ticket", numeric=True, drop=5),
            Col("per_hour", "Per hour", numeric=True, drop=6),
            Col("goal_sales", "Sales goal", numeric=True, drop=3),
            Col("goal_done", "Appt goal", numeric=True, drop=4),
            Col("commission", "Commission", numeric=True, drop=7),
        ],
        rows,
        title=title,
        caption=caption,
    )


# --- services and products -----------------------------------------------------------------------


def show_catalog(out: Console, r: CatalogReport, fmt: str) -> None:
    """Services or products, with shares as bars; retail with cost and margin."""
    _emit(
        fmt,
        lambda: docs.catalog_document(r),
        lambda: docs.catalog_rows(r),
        lambda: _catalog_table(out, r),
    )


def _catalog_table(out: Console, r: CatalogReport) -> None:
    cur = r.scope.currency
    name = "Services" if r.kind == "service" else "Retail products"
    title = _title(name, r.scope, r.period, r.today)
    if not r.has_data:
        out.print(Text(title, style="bold"))
        no_data(out, name.lower() + " sold", r.scope, r.period)
        return
    top = max((row.net_cents for row in r.rows), default=0)

    def cells(row: Any) -> dict[str, Any]:
        return {
            "name": row.name,
            "category": row.category or "",
            "units": units(row.units, row.unit_kind)
            if row.unit_kind is not None
            else units_split(row.kinds()),
            "value": money(row.value_cents, cur),
            "discounts": money(row.discount_cents, cur),
            "net": money(row.net_cents, cur),
            "share": pct(row.share),
            "bar": bar(row.net_cents, top, 12),
            "cost": money(row.cost_cents, cur),
            "margin": money(row.margin_cents, cur),
            "margin_rate": pct(row.margin_rate),
        }

    cols = [
        Col("name", "Category" if r.by == "category" else name[:-1].capitalize()),
        Col("category", "Category", drop=6),
        Col("units", "Units", numeric=True),
        Col("value", "Value", numeric=True, drop=4),
        Col("discounts", "Discounts", numeric=True, drop=5),
        Col("net", "Net", numeric=True),
        Col("share", "Share", numeric=True, drop=2),
        Col("bar", "", drop=1),
    ]
    if r.by == "category":
        cols = [c for c in cols if c.key != "category"]
    if r.kind == "retail":
        cols += [
            Col("cost", "Cost", numeric=True, drop=7),
            Col("margin", "Margin", numeric=True, drop=3),
            Col("margin_rate", "Margin %", numeric=True, drop=8),
        ]
    footer = cells(r.total)
    footer["bar"] = ""
    mixed = len(r.total.units_by_kind) > 1
    if mixed:
        footer["units"] = ""  # said under the table: the kinds side by side would widen it
    fitted_table(out, cols, [cells(row) for row in r.rows], title=title, footer=footer)
    if mixed:
        out.print(f"Units sold: {units_split(r.total.kinds())}.", soft_wrap=True, markup=False)
    a = r.attach
    out.print(
        f"Retail attach rate: {pct(a.rate)} ({count(a.with_retail)} of "
        f"{count(a.service_invoices)} invoices with a service also sold retail).",
        soft_wrap=True,
        markup=False,
    )


# --- prepaid liability ---------------------------------------------------------------------------


def show_prepaid(out: Console, r: PrepaidReport, fmt: str) -> None:
    """Wallet and gift card balances month by month, since the synced history began."""
    _emit(
        fmt,
        lambda: docs.prepaid_document(r),
        lambda: docs.prepaid_rows(r),
        lambda: _prepaid_table(out, r),
    )


def _signed_money(cents: int, currency: str) -> str:
    """A change of a balance: ``+$1,200``, ``-$300``, ``$0``."""
    return ("+" if cents > 0 else "") + money(cents, currency, whole=True)


def _day(d: Any) -> str:
    return f"{d:%b} {d.day}, {d.year}"


def prepaid_since_note(r: PrepaidReport) -> str:
    """What the balances are: money owed since the history began, the opening unknown."""
    return (
        f"Balances since {r.since:%Y-%m-%d}, where the synced history begins: what patients "
        "held before then is not known, so these are what was added since (credit bought "
        "earlier and spent since can even make them negative)."
    )


def _prepaid_table(out: Console, r: PrepaidReport) -> None:
    cur = r.scope.currency
    last = r.closing
    shown = f"{r.months[0].month.start:%b %Y}–{last.month.start:%b %Y} · " if last else ""
    title = f"Prepaid liability · {r.scope.describe()} · {shown}since {r.since:%Y-%m-%d}"
    if last is None or not r.has_data:
        out.print(Text(title, style="bold"))
        when = f"{r.period.start:%Y-%m}..{r.period.end:%Y-%m}"
        if last is None:
            out.print(
                f"The synced history begins {r.since:%Y-%m-%d}, after {when}: no balance to show.",
                soft_wrap=True,
                markup=False,
            )
        else:
            no_data(out, "wallet or gift card activity", r.scope, r.period)
        return
    top = max((abs(m.balance_cents) for m in r.months), default=0)
    rows = []
    for m in r.months:
        w, g = m.wallet, m.gift_cards
        label = f"{m.month.start:%b %Y}"
        if m.partial:
            label += f" ({m.counted.start.day}–{m.counted.end.day})"
        rows.append(
            {
                "month": label,
                "w_in": money(w.in_cents, cur, whole=True),
                "w_out": money(w.out_cents, cur, whole=True),
                "w_net": _signed_money(w.net_cents, cur),
                "w_bal": money(w.balance_cents, cur, whole=True),
                "g_in": money(g.in_cents, cur, whole=True),
                "g_out": money(g.out_cents, cur, whole=True),
                "g_net": _signed_money(g.net_cents, cur),
                "g_bal": money(g.balance_cents, cur, whole=True),
                "total": money(m.balance_cents, cur, whole=True),
                "bar": bar(m.balance_cents, top, 12),
            }
        )
    if r.opening is not None:
        o = r.opening
        rows.insert(
            0,
            {
                "month": f"from {r.since:%Y-%m-%d}",
                "w_in": money(o.wallet.in_cents, cur, whole=True),
                "w_out": money(o.wallet.out_cents, cur, whole=True),
                "w_bal": money(o.wallet.balance_cents, cur, whole=True),
                "g_in": money(o.gift_cards.in_cents, cur, whole=True),
                "g_out": money(o.gift_cards.out_cents, cur, whole=True),
                "g_bal": money(o.gift_cards.balance_cents, cur, whole=True),
                "total": money(o.balance_cents, cur, whole=True),
            },
        )
    fitted_table(
        out,
        [
            Col("month", "Month"),
            Col("w_in", "Wallet in", numeric=True, drop=5),
            Col("w_out", "Wallet out", numeric=True, drop=6),
            Col("w_net", "Wallet +/-", numeric=True, drop=3),
            Col("w_bal", "Wallets", numeric=True),
            Col("g_in", "Gift in", numeric=True, drop=7),
            Col("g_out", "Gift out", numeric=True, drop=8),
            Col("g_net", "Gift +/-", numeric=True, drop=4),
            Col("g_bal", "Gift cards", numeric=True),
            Col("total", "Owed", numeric=True),
            Col("bar", "", drop=2),
        ],
        rows,
        title=title,
        styles=["dim" if r.opening is not None and i == 0 else None for i in range(len(rows))],
    )
    out.print(
        f"Owed to patients on {_day(last.counted.end)}: "
        f"{money(last.balance_cents, cur)} ({money(last.wallet.balance_cents, cur)} in wallets, "
        f"{money(last.gift_cards.balance_cents, cur)} on gift cards).",
        soft_wrap=True,
        markup=False,
    )
    out.print(Text(prepaid_since_note(r), style="dim"), soft_wrap=True)


# --- trend -------------------------------------------------------------------------------------


def show_trend(out: Console, r: TrendReport, fmt: str) -> None:
    """Twelve months against a year earlier: a table, and a sparkline per figure."""
    _emit(
        fmt,
        lambda: docs.trend_document(r),
        lambda: docs.trend_rows(r),
        lambda: _trend_table(out, r),
    )


def trend_value(f: TrendFigure, value: Any, currency: str) -> str:
    """One trend figure as people read it."""
    if f.kind == "money":
        return money(value, currency, whole=True)
    if f.kind == "rate":
        return pct(value)
    return count(value)


def trend_change(f: TrendFigure, difference: Any, change: float | None) -> Text:
    """A change against a year earlier: in points for a rate, else as a percentage."""
    if f.kind == "rate":
        text = "–" if difference is None else f"{difference * 100:+.1f} pt"
        return change_text(text, difference, good_when_up=f.good_when_up)
    return change_text(signed_pct(change), change, good_when_up=f.good_when_up)


def _trend_table(out: Console, r: TrendReport) -> None:
    cur = r.scope.currency
    first, last = r.months[0], r.months[-1]
    title = (
        f"Trend · {r.scope.describe()} · {first.month.start:%b %Y}–{last.month.start:%b %Y}"
        ", each month against a year earlier"
    )
    if not r.has_data:
        out.print(Text(title, style="bold"))
        no_data(out, "sales or appointments", r.scope, r.period)
        return
    lead = r.figures[0]
    top = max((v or 0 for v in r.series(lead.key)), default=0)
    cols = [Col("month", "Month")]
    for i, f in enumerate(r.figures):
        # When narrow, the year-earlier values go first, then the bar, then the changes, then
        # the later figures: each time the last figure's first.
        # A secondary figure (the rebooking rate) goes before the others' changes and the bar.
        main = 0 if i < 2 else (46 + i if f.secondary else 10 + i)
        cols += [
            Col(f.key, f.short or f.label, numeric=True, drop=main),
            Col(f"{f.key}_ago", "a year ago", numeric=True, drop=50 + i),
            Col(
                f"{f.key}_change", "change", numeric=True, drop=(47 + i) if f.secondary else 30 + i
            ),
        ]
        if i == 0:
            cols.append(Col("bar", "", drop=45))
    rows = []
    for m in r.months:
        label = f"{m.month.start:%b %Y}"
        if m.partial:
            label += f" (to {m.counted.end.day})"
        row: dict[str, Any] = {"month": label}
        for f in r.figures:
            v = m.values[f.key]
            row[f.key] = trend_value(f, v.value, cur)
            row[f"{f.key}_ago"] = trend_value(f, v.year_ago, cur)
            row[f"{f.key}_change"] = trend_change(f, v.difference, v.change)
        value = m.values[lead.key].value
        row["bar"] = bar(value if isinstance(value, int | float) else 0, top, 12)
        rows.append(row)
    fitted_table(out, cols, rows, title=title)
    width = max(len(f.label) for f in r.figures)
    for f in r.figures:
        now, ago = r.series(f.key), r.year_ago_series(f.key)
        scale = [float(v) for v in (*now, *ago) if v is not None]
        line = sparkline([None if v is None else float(v) for v in now], scale=scale)
        earlier = sparkline([None if v is None else float(v) for v in ago], scale=scale)
        out.print(
            f"{f.label:<{width}}  {line}   a year earlier {earlier}", markup=False, highlight=False
        )
    if any(not m.year_ago_synced for m in r.months):
        out.print(
            Text(
                "· a year earlier: not synced (aiq sync --since DATE reads further back).",
                style="dim",
            ),
            soft_wrap=True,
        )


# --- sync health ---------------------------------------------------------------------------------


def show_sync(out: Console, h: SyncHealth, fmt: str) -> None:
    """Each stream's freshness and latest run, then the run log."""
    _emit(
        fmt,
        lambda: docs.sync_document(h),
        lambda: docs.sync_rows(h),
        lambda: _sync_table(out, h),
    )


_FRESH_STYLE = {"fresh": "green", "delayed": "yellow", "stale": "red", "never": "red"}


def _sync_table(out: Console, h: SyncHealth) -> None:
    from aiq.reports.sync_health import age_text

    if not h.streams and not h.runs:
        out.print(f"{h.org_name} has never been synced: run aiq sync.", markup=False)
        return
    rows = []
    for s in h.streams:
        rows.append(
            {
                "stream": s.stream,
                "fresh": Text(s.freshness.status, style=_FRESH_STYLE.get(s.freshness.status, "")),
                "last_ok": "never"
                if s.last_success_at is None
                else f"{s.last_success_at:%Y-%m-%d %H:%M} UTC",
                "age": age_text(s.freshness.age_seconds),
                "status": s.last_status or "",
                "inserted": count(s.rows_inserted),
                "changed": count(s.rows_changed),
                "removed": count(s.rows_removed),
                "duration": "" if s.duration_seconds is None else f"{s.duration_seconds:.1f} s",
                "failures": count(s.consecutive_failures),
                "error": Text(s.last_error or "", style="red") if s.last_error else "",
            }
        )
    fitted_table(
        out,
        [
            Col("stream", "Stream"),
            Col("fresh", "Freshness"),
            Col("last_ok", "Last success", drop=6),
            Col("age", "Age", numeric=True),
            Col("status", "Last run", drop=3),
            Col("inserted", "New", numeric=True, drop=4),
            Col("changed", "Changed", numeric=True, drop=5),
            Col("removed", "Removed", numeric=True, drop=7),
            Col("duration", "Took", numeric=True, drop=8),
            Col("failures", "Failures", numeric=True, drop=2),
            Col("error", "Last error", drop=1),
        ],
        rows,
        title=f"Sync health · {h.org_name} · schedule every {h.interval_minutes} min",
    )
    for b in h.backfill:
        if not b.complete:
            reached = "nothing yet" if b.oldest_read is None else f"back to {b.oldest_read}"
            out.print(
                f"Backfill of {b.stream}: {b.share:.0%} of the history from {b.target_from}"
                f" read ({reached}); reports on older dates say what they cover.",
                markup=False,
            )
    when = "never" if h.patient_pass_at is None else f"{h.patient_pass_at:%Y-%m-%d %H:%M} UTC"
    out.print(f"Patient figures (aiq report retention): last computed {when}.", markup=False)
    if h.runs:
        out.print()
        fitted_table(
            out,
            [
                Col("id", "Run", numeric=True),
                Col("started", "Started (UTC)"),
                Col("status", "Status"),
                Col("mode", "Mode", drop=4),
                Col("took", "Took", numeric=True),
                Col("requests", "Requests", numeric=True, drop=3),
                Col("inserted", "New", numeric=True, drop=5),
                Col("changed", "Changed", numeric=True, drop=6),
                Col("removed", "Removed", numeric=True, drop=7),
                Col("error", "Error", drop=2),
            ],
            [
                {
                    "id": str(run.id),
                    "started": f"{run.started_at:%Y-%m-%d %H:%M:%S}",
                    "status": Text(
                        run.status,
                        style={"ok": "green", "partial": "yellow"}.get(run.status, "red"),
                    ),
                    "mode": run.mode,
                    "took": "" if run.duration_seconds is None else f"{run.duration_seconds:.1f} s",
                    "requests": count(run.requests),
                    "inserted": count(run.rows_inserted),
                    "changed": count(run.rows_changed),
                    "removed": count(run.rows_removed),
                    "error": run.error or "",
                }
                for run in h.runs
            ],
            title="Recent runs",
        )


# --- monthly (terminal digest) -------------------------------------------------------------------


def show_monthly(out: Console, m: MonthlyReport, fmt: str) -> None:
    """The month at a glance: revenue by clinic, appointments by clinic, providers."""
    if fmt == "json":
        write_json(docs.monthly_document(m))
        return
    _revenue_table(out, m.revenue)
    out.print()
    _appointments_table(out, m.appointments)
    out.print()
    _providers_table(out, m.providers)
