"""The monthly owner's report as one self-contained HTML page.

No scripts, no external fonts, stylesheets or images: the CSS is inline, the charts are inline
SVG, so the file opens in any browser with no network and prints on A4 or Letter. The markup is
well-formed XML as well as HTML (every element closed, every attribute quoted, only XML's own
entities), so it can be checked with an XML parser.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiq.render import svg
from aiq.render.money import compact_money, count, hours, money, pct, signed_pct, units
from aiq.render.retention_html import retention_section
from aiq.reports.monthly import weekday_aligned
from aiq.reports.sales import HEADLINE_FIGURES, SUMMARY_FIGURES
from aiq.reports.sync_health import coverage_note

if TYPE_CHECKING:
    from aiq.reports.monthly import MonthlyReport
    from aiq.reports.revenue import Comparison

PRINTED_PROVIDERS = 15
"""Providers printed (all are shown on screen): the report prints on two pages."""

TOP_CATEGORIES = 8
"""Categories with a bar of their own; the rest share one bar ("other categories")."""

CSS = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:#f4f6f7;color:#1f2a30;
 font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 font-size:13px;line-height:1.4}
main{max-width:1180px;margin:0 auto;padding:20px 24px 32px}
header h1{font-size:22px;margin:0 0 2px}
header p{margin:0;color:#5b6770}
h2{font-size:14px;margin:0 0 8px;color:#2f3d45;text-transform:uppercase;letter-spacing:.04em}
h2.sub{margin-top:12px}
section{margin-top:16px}
.panel{background:#fff;border:1px solid #e1e6e9;border-radius:8px;padding:14px 16px;min-width:0}
.cards{display:grid;grid-template-columns:repeat(5,minmax(0,1fr));gap:12px}
.card .v{font-size:22px;font-weight:600;margin:2px 0;white-space:nowrap}
.card .l{color:#5b6770;font-size:12px}
.card .c{font-size:12px;color:#5b6770}
.up{color:#2e7d4f}.down{color:#b5473f}.muted{color:#7b868d}
.grid2{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:16px}
.wide{grid-template-columns:minmax(0,3fr) minmax(0,2fr)}
.scroll{overflow-x:auto;max-width:100%}
svg{display:block}
.narrow-chart{display:none}
table{border-collapse:collapse;width:100%}
th,td{padding:3px 6px;border-bottom:1px solid #edf0f2;text-align:left;white-space:nowrap}
th{font-weight:600;color:#4a565e;font-size:12px}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.w{white-space:normal;min-width:7em}
tr.b td{font-weight:600}
tr.t td{font-weight:600;border-top:2px solid #cfd6da}
.note{color:#7b868d;font-size:11px;margin-top:6px}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:11px;color:#fff}
.fresh{background:#2e7d4f}.delayed{background:#c08a1e}.stale,.never{background:#b5473f}
footer{margin-top:18px;color:#7b868d;font-size:11px}
@media screen and (max-width:900px){.cards{grid-template-columns:repeat(2,minmax(0,1fr))}
 .grid2,.wide{grid-template-columns:minmax(0,1fr)}}
@media screen and (max-width:600px){.wide-chart{display:none}.narrow-chart{display:block}}
@media screen and (max-width:480px){main{padding:12px 8px 24px}.panel{padding:10px 8px}
 header h1{font-size:18px}.card .v{font-size:18px}.cards{gap:8px}th,td{padding:3px 4px}}
@page{margin:10mm}
@media print{
 *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 body{background:#fff;font-size:9px;line-height:1.25}
 main{max-width:none;padding:0}
 header h1{font-size:16px}
 h2{font-size:10px;margin-bottom:3px;page-break-after:avoid;break-after:avoid}
 h2.sub{margin-top:6px}
 section{margin-top:6px}
 .panel{border:1px solid #e1e6e9;border-radius:4px;padding:5px 8px;
  page-break-inside:avoid;break-inside:avoid}
 .cards,.grid2{gap:6px}
 .card .v{font-size:15px;margin:0}
 .card .l,.card .c,th{font-size:9px}
 .note,footer{font-size:8px;margin-top:3px}
 th,td{padding:1px 4px}
 tr{page-break-inside:avoid;break-inside:avoid}
 .scroll{overflow:visible}
 .screen,tr.more{display:none}
 .break{page-break-before:always;break-before:page}
}
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _table(
    headers: Sequence[tuple[str, bool]],
    rows: Sequence[Sequence[Any]],
    *,
    classes: Sequence[str] | None = None,
) -> str:
    """A table; ``headers`` are (title, numeric); cells are text (escaped here)."""
    head = "".join(f'<th class="{"n" if n else ""}">{_e(h)}</th>' for h, n in headers)
    body = []
    for i, row in enumerate(rows):
        cls = classes[i] if classes is not None and i < len(classes) else ""
        cells = "".join(
            f'<td class="{"n" if headers[j][1] else "w"}">{_e(c)}</td>' for j, c in enumerate(row)
        )
        body.append(f'<tr class="{cls}">{cells}</tr>')
    # A table wider than its panel (a phone) scrolls inside the panel, not the page.
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _change(value: float | None, *, good_when_up: bool = True) -> str:
    if value is None:
        return '<span class="muted">–</span>'
    cls = "muted" if value == 0 else ("up" if (value > 0) == good_when_up else "down")
    return f'<span class="{cls}">{_e(signed_pct(value))}</span>'


def _card(
    label: str, value: str, changes: Sequence[tuple[str, float | None]] = (), note: str = ""
) -> str:
    lines = "".join(f'<div class="c">{_change(v)} {_e(name)}</div>' for name, v in changes)
    if note:
        lines += f'<div class="c">{_e(note)}</div>'
    return (
        f'<div class="panel card"><div class="l">{_e(label)}</div>'
        f'<div class="v">{_e(value)}</div>{lines}</div>'
    )


def _comparisons(m: MonthlyReport) -> tuple[Comparison, Comparison]:
    comps = {c.name: c for c in m.revenue.comparisons}
    return comps["previous"], comps["year_ago"]


def category_bars(m: MonthlyReport) -> list[tuple[str, int]]:
    """The category chart's bars, (label, net sales in cents), adding up to net sales.

    The largest categories get a bar each; the others share "other categories"; "not in a
    category" and "invoice-level adjustments" hold the rest of the breakdown (docs/reports.md).
    """
    from aiq.reports.revenue import UNATTRIBUTED

    named = [row for row in m.categories.rows if row.key not in (0, UNATTRIBUTED)]
    named = [row for row in named if row.summary.net_sales]
    named.sort(key=lambda row: -row.summary.net_sales)
    bars = [(row.label, row.summary.net_sales) for row in named[:TOP_CATEGORIES]]
    rest = named[TOP_CATEGORIES:]
    if rest:
        bars.append((f"{len(rest)} other categories", sum(row.summary.net_sales for row in rest)))
    for key, name in ((0, "Not in a category"), (UNATTRIBUTED, "Invoice-level adjustments")):
        value = sum(row.summary.net_sales for row in m.categories.rows if row.key == key)
        if value:
            bars.append((name, value))
    return bars


def _twelve_months(m: MonthlyReport) -> str:
    """The 12-month net sales chart, with the same months a year earlier as a dashed line."""
    cur = m.scope.currency
    t = m.trend
    key = "net_sales_cents"
    values = [(v or 0) / 100 for v in t.series(key)]
    earlier = [None if v is None else v / 100 for v in t.year_ago_series(key)]
    first, last = t.months[0].month.start, t.months[-1].month.start
    chart = svg.month_columns(
        values,
        [mo.month.start for mo in t.months],
        label=f"Net sales by month, {first:%b %Y} to {last:%b %Y}, against a year earlier",
        fmt=lambda v: compact_money(round(v * 100), cur),
        overlay=earlier,
        overlay_label="the same month a year earlier",
    )
    unread = sum(1 for mo in t.months if not mo.year_ago_synced)
    missing = (
        f" The year before {unread} of the months is not synced, so the line leaves them out."
        if unread
        else ""
    )
    return (
        f"<h2>Net sales, 12 months</h2>{chart}"
        f'<p class="note">Columns: net sales of each month from {_e(f"{first:%b %Y}")} to '
        f"{_e(f'{last:%b %Y}')}; dashed line: the same month a year earlier.{_e(missing)}</p>"
    )


def _prepaid(m: MonthlyReport) -> str:
    """The prepaid liability at the end of the month: what patients hold, since when."""
    cur = m.scope.currency
    p = m.prepaid
    last = p.closing
    head = "<h2>Prepaid liability</h2>"
    if last is None:
        return (
            f'{head}<p class="note">The synced history begins {_e(f"{p.since:%Y-%m-%d}")}, after '
            "this month: no balance to show.</p>"
        )
    w, g = last.wallet, last.gift_cards
    day = f"{last.counted.end:%B} {last.counted.end.day}, {last.counted.end.year}"

    def signed(cents: int) -> str:
        return ("+" if cents > 0 else "") + money(cents, cur, whole=True)

    rows = _table(
        [("", False), ("In", True), ("Out", True), ("Change", True), ("Balance", True)],
        [
            [
                "Wallets",
                money(w.in_cents, cur, whole=True),
                money(w.out_cents, cur, whole=True),
                signed(w.net_cents),
                money(w.balance_cents, cur, whole=True),
            ],
            [
                "Gift cards",
                money(g.in_cents, cur, whole=True),
                money(g.out_cents, cur, whole=True),
                signed(g.net_cents),
                money(g.balance_cents, cur, whole=True),
            ],
            ["Owed", "", "", signed(w.net_cents + g.net_cents), money(last.balance_cents, cur)],
        ],
        classes=["", "", "t"],
    )
    return (
        f"{head}<p>Owed to patients on {_e(day)}: <b>{_e(money(last.balance_cents, cur))}</b> "
        f"({_e(money(w.balance_cents, cur, whole=True))} in wallets, "
        f"{_e(money(g.balance_cents, cur, whole=True))} on gift cards).</p>{rows}"
        f'<p class="note">Since {_e(f"{p.since:%Y-%m-%d}")}, where the synced history begins: '
        "what patients held before then is not known. Wallets: packages, deposits and refunds "
        "into the wallet in; package redemptions and wallet payments out. Gift cards: sold in, "
        "redeemed out. See aiq report prepaid.</p>"
    )


def render_monthly_html(m: MonthlyReport) -> str:
    """The monthly report as HTML text."""
    cur = m.scope.currency
    r = m.revenue
    s = r.summary
    prev, ago = _comparisons(m)
    month_name = f"{m.period.start:%B %Y}" if m.period.month else m.period.label
    prev_name = f"{prev.period.start:%b %Y}" if prev.period.month else prev.period.label
    ago_name = f"{ago.period.start:%b %Y}" if ago.period.month else ago.period.label
    a = m.appointments.summary
    parts: list[str] = []

    fresh = r.freshness
    badge = f'<span class="badge {_e(fresh.status)}">data {_e(fresh.status)}</span>'
    where = m.scope.clinic_name or "all clinics"
    parts.append(
        f"<header><h1>{_e(m.scope.org_name)} · {_e(month_name)}</h1>"
        f"<p>{_e(where)} · generated {_e(f'{m.generated_at:%Y-%m-%d %H:%M}')} UTC · {badge}"
        + (" · month to date" if r.partial else "")
        + "</p></header>"
    )
    note = r.coverage and coverage_note(r.coverage)
    if note:
        parts.append(f'<p class="note">{_e(note.removeprefix("Note: "))}</p>')
    if not m.has_data:
        parts.append(
            '<section class="panel"><p>No sales or appointments were recorded in '
            f"{_e(month_name)} for {_e(m.scope.describe())} (or that month has not been synced)."
            "</p></section>"
        )

    # Figure cards.
    def vs(figure: str) -> list[tuple[str, float | None]]:
        return [
            (f"vs {prev_name}", prev.change_of(figure, s)[1]),
            (f"vs {ago_name}", ago.change_of(figure, s)[1]),
        ]

    cards = [
        _card("Net sales", money(s.net_sales, cur, whole=True), vs("net_sales")),
        _card("Total sales", money(s.total_sales, cur, whole=True), vs("total_sales")),
        _card(
            "Average ticket",
            money(r.ticket.average_cents, cur, whole=True),
            # Not every counted invoice: only those holding a service or retail item.
            note=f"over {count(r.ticket.invoices)} of {count(s.invoices)} invoices: those with "
            "a service or retail item",
        ),
        _card(
            "Completed appointments",
            count(a.completed),
            note=f"completion rate {pct(a.completion_rate)}",
        ),
        _card(
            "No-shows and cancellations",
            f"{pct(a.no_show_rate)} / {pct(a.cancellation_rate)}",
            note=f"{count(a.late_cancellations)} late cancellations",
        ),
    ]
    parts.append(f'<section class="cards">{"".join(cards)}</section>')

    # Daily trend against the previous month, day by day on the same weekdays.
    days = [p.day for p in r.trend]
    shift, earlier = weekday_aligned(days, m.previous_trend)
    earlier_name = (
        f"{m.previous_trend[0].day:%b %Y}" if m.period.month and m.previous_trend else prev_name
    )
    # Drawn twice: wide for a desktop and paper, narrow (its text still legible) for a phone.
    trend = "".join(
        f'<div class="{cls}">'
        + svg.columns(
            [p.net_sales_cents / 100 for p in r.trend],
            days,
            label=f"Daily net sales, {month_name}, against {earlier_name} on the same weekdays",
            fmt=lambda v: compact_money(round(v * 100), cur),
            overlay=[None if p is None else p.net_sales_cents / 100 for p in earlier],
            overlay_label=f"{earlier_name}, same weekday {shift // 7} weeks earlier",
            width=width,
            height=height,
        )
        + "</div>"
        for cls, width, height in (("wide-chart", 900, 210), ("narrow-chart", 380, 200))
    )
    if r.trend:
        parts.append(
            f'<section class="panel"><h2>Daily net sales</h2>{trend}'
            f'<p class="note">Columns: {_e(month_name)} from a $0 baseline, weekends shaded; '
            "under each day its weekday, and the date of each Monday. Dashed line: "
            f"{_e(earlier_name)} on the same weekdays.</p></section>"
        )

    # Twelve months of net sales against a year earlier, and what is owed to patients.
    parts.append(
        f'<section class="grid2 wide"><div class="panel">{_twelve_months(m)}</div>'
        f'<div class="panel">{_prepaid(m)}</div></section>'
    )

    # Sales Summary and breakdowns.
    summary_rows, classes = [], []
    for key, label in SUMMARY_FIGURES:
        if key == "other_items" and not s.other_items:
            continue
        summary_rows.append(
            [
                label,
                money(getattr(s, key), cur),
                money(getattr(prev.summary, key), cur),
                signed_pct(prev.change_of(key, s)[1]),
                money(getattr(ago.summary, key), cur),
                signed_pct(ago.change_of(key, s)[1]),
            ]
        )
        classes.append("b" if key in HEADLINE_FIGURES else "")
    summary_table = _table(
        [
            ("Figure", False),
            (month_name, True),
            (prev_name, True),
            ("change", True),
            (ago_name, True),
            ("change", True),
        ],
        summary_rows,
        classes=classes,
    )
    clinic_rows = r.breakdown.rows if r.breakdown is not None else []
    by_clinic = svg.hbars(
        [
            (row.label, row.summary.net_sales, money(row.summary.net_sales, cur, whole=True))
            for row in clinic_rows
        ],
        label="Net sales by clinic",
    )
    by_category = svg.hbars(
        [(name, v, money(v, cur, whole=True)) for name, v in category_bars(m)],
        label="Net sales by category",
        color=svg.PALETTE[2],
    )
    by_method = svg.hbars(
        [
            (p.method, p.amount_cents, money(p.amount_cents, cur, whole=True))
            for p in m.payments.payments
        ],
        label="Payments by method",
        color=svg.PALETTE[4],
    )
    parts.append(
        '<section class="grid2 wide">'
        f'<div class="panel"><h2>Sales Summary</h2>{summary_table}'
        f'<p class="note">{count(s.invoices)} counted invoices (paid or refunded, whatever '
        f"they hold); the average ticket is over the {count(r.ticket.invoices)} of them holding "
        "a service or retail item. Figures follow AR's Sales Summary formulas; see "
        "docs/reports.md.</p></div>"
        f'<div class="panel"><h2>Net sales by clinic</h2>{by_clinic}'
        f'<h2 class="sub">Net sales by category</h2>{by_category}'
        f'<p class="note">The bars add up to net sales, {_e(money(s.net_sales, cur))}: '
        "\u201cnot in a category\u201d holds items without one and what belongs to no item "
        "(refunds, processing fees, wallet and gift card payments), which net sales takes out."
        "</p>"
        f'<h2 class="sub">Payments received by method</h2>{by_method}</div>'
        "</section>"
    )

    # Appointments.
    status_mix = svg.stacked(
        [
            ("completed", a.completed),
            ("canceled", a.canceled),
            ("no-show", a.no_shows),
            ("upcoming", a.upcoming),
            ("unresolved", a.unresolved),
        ],
        label="Appointments by status",
    )
    appt_rows = [
        [
            row.label,
            count(row.figures.booked),
            count(row.figures.completed),
            pct(row.figures.completion_rate),
            pct(row.figures.cancellation_rate),
            pct(row.figures.no_show_rate),
            pct(row.figures.new_patient_share),
            pct(row.figures.online_booking_share),
            hours(row.figures.completed_minutes),
        ]
        for row in m.appointments.rows
    ]
    appt_rows.append(
        [
            "Total",
            count(a.booked),
            count(a.completed),
            pct(a.completion_rate),
            pct(a.cancellation_rate),
            pct(a.no_show_rate),
            pct(a.new_patient_share),
            pct(a.online_booking_share),
            hours(a.completed_minutes),
        ]
    )
    appt_table = _table(
        [
            ("Clinic", False),
            ("Booked", True),
            ("Done", True),
            ("Done %", True),
            ("Cancel %", True),
            ("No-show %", True),
            ("New pt", True),
            ("Online", True),
            ("Hours", True),
        ],
        appt_rows,
        classes=[""] * (len(appt_rows) - 1) + ["t"],
    )

    # Providers.
    prov = m.providers.rows
    prov_chart = svg.hbars(
        [(p.name, p.sales_cents, money(p.sales_cents, cur, whole=True)) for p in prov[:12]],
        label="Sales by provider",
        color=svg.PALETTE[3],
    )
    prov_table = _table(
        [
            ("#", True),
            ("Provider", False),
            ("Sales", True),
            ("Tips", True),
            ("Done", True),
            ("No-show", True),
            ("Avg ticket", True),
            ("Per hour", True),
            ("Goal", True),
            ("Commission", True),
        ],
        [
            [
                p.rank,
                p.name,
                money(p.sales_cents, cur, whole=True),
                money(p.tips_cents, cur, whole=True),
                count(p.appointments.completed),
                pct(p.appointments.no_show_rate),
                money(p.average_ticket_cents, cur, whole=True),
                money(p.sales_per_completed_hour_cents, cur, whole=True),
                pct(p.sales_attainment, 0),
                money(p.commission_cents, cur, whole=True),
            ]
            for p in prov
        ],
        classes=["" if i < PRINTED_PROVIDERS else "more" for i in range(len(prov))],
    )
    parts.append(
        '<section class="grid2 wide">'
        f'<div class="panel"><h2>Appointments</h2>{status_mix}{appt_table}'
        f'<p class="note">{count(a.late_cancellations)} late cancellations (under 24 h); '
        f"{count(a.unresolved)} appointments still unresolved.</p></div>"
        f'<div class="panel"><h2>Providers by sales</h2>{prov_chart}</div>'
        "</section>"
    )
    more = (
        f'<p class="note">{count(len(prov))} providers; on paper, the first '
        f"{PRINTED_PROVIDERS}.</p>"
        if len(prov) > PRINTED_PROVIDERS
        else ""
    )
    parts.append(f'<section class="panel"><h2>Providers</h2>{prov_table}{more}</section>')

    # Services and products.
    svc = m.services
    svc_table = _table(
        [("Service", False), ("Units", True), ("Net", True), ("Share", True)],
        [
            [row.name, units(row.units, row.unit_kind), money(row.net_cents, cur), pct(row.share)]
            for row in svc.rows[:12]
        ],
    )
    prd = m.products
    prd_table = _table(
        [("Product", False), ("Units", True), ("Net", True), ("Margin", True), ("Margin %", True)],
        [
            [
                row.name,
                count(row.units),
                money(row.net_cents, cur),
                money(row.margin_cents, cur),
                pct(row.margin_rate),
            ]
            for row in prd.rows[:12]
        ],
    )
    parts.append(
        '<section class="grid2">'
        f'<div class="panel"><h2>Top services</h2>{svc_table}'
        f'<p class="note">{count(len(svc.rows))} services sold, net '
        f"{_e(money(svc.total.net_cents, cur))}.</p></div>"
        f'<div class="panel"><h2>Top retail products</h2>{prd_table}'
        f'<p class="note">Retail net {_e(money(prd.total.net_cents, cur))}, margin '
        f"{_e(money(prd.total.margin_cents, cur))} ({_e(pct(prd.total.margin_rate))}); attach "
        f"rate {_e(pct(prd.attach.rate))} of service invoices.</p></div>"
        "</section>"
    )

    # Do patients come back: the patient pass's figures and the cohort heat map.
    if m.retention is not None and m.retention.in_history:
        parts.append(retention_section(m.retention, cur))

    # Sync health.
    h = m.sync
    sync_table = _table(
        [
            ("Stream", False),
            ("Freshness", False),
            ("Last success (UTC)", False),
            ("Failures", True),
        ],
        [
            [
                st.stream,
                st.freshness.status,
                "never" if st.last_success_at is None else f"{st.last_success_at:%Y-%m-%d %H:%M}",
                st.consecutive_failures,
            ]
            for st in h.streams
        ],
    )
    parts.append(
        f'<section class="panel"><h2>Sync health</h2>{sync_table}'
        f'<p class="note">Schedule: every {h.interval_minutes} minutes. Fresh within one '
        "interval of the last successful sync, delayed past one, stale past two.</p></section>"
    )
    parts.append(
        "<footer>Made by aiq from Aesthetic Record data. No patient data is stored or shown. "
        "Money in " + _e(cur) + "; dates are each clinic's local calendar dates.</footer>"
    )
    title = f"{m.scope.org_name} · {month_name}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8"/>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"/>'
        f"<title>{_e(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(parts)}</main></body></html>\n"
    )


def write_monthly_html(m: MonthlyReport, path: Path) -> None:
    """Write the monthly report to ``path`` (UTF-8), replacing it atomically.

    Like an export, the file is readable by its owner only (0600): it holds the practice's
    business figures.
    """
    import contextlib
    import os

    from aiq.errors import UsageError

    data = render_monthly_html(m).encode("utf-8")
    target = Path(path)
    tmp = target.with_name(f".{target.name}.partial")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None
