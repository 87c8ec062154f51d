"""`aiq report retention` in the terminal (tables and a cohort heat map), JSON, NDJSON and CSV."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from aiq.render.money import DASH, count, money, pct, signed_pct
from aiq.render.output import write_csv, write_json, write_ndjson
from aiq.render.tables import Col, fitted_table
from aiq.reports.retention import RETURN_DAYS, Figure, RetentionReport, figure_document

if TYPE_CHECKING:
    from collections.abc import Iterator

PENDING = "pending"
HEAT = ("grey30", "dark_green", "green4", "green3", "chartreuse3", "green_yellow")
"""Background colours of the cohort heat map, from the smallest share to the largest."""

CSV_COLUMNS = (
    "figure",
    "month",
    "scope",
    "name",
    "months_after",
    "value",
    "count",
    "base",
    "patients",
    "amount_cents",
    "suppressed",
    "pending",
)


def hidden_text(f: Figure, min_cell: int) -> str | None:
    """What a figure without a value shows: ``<11``, ``pending``, or nothing to say (None)."""
    if f.suppressed:
        return f"<{min_cell}"
    if f.pending:
        return PENDING
    return None


def share_text(f: Figure, min_cell: int) -> str:
    return hidden_text(f, min_cell) or pct(f.share)


def count_text(f: Figure, min_cell: int) -> str:
    return hidden_text(f, min_cell) or count(f.count)


def amount_text(f: Figure, min_cell: int, currency: str) -> str:
    return hidden_text(f, min_cell) or money(f.amount_cents, currency, whole=True)


def show_retention(out: Console, r: RetentionReport, fmt: str) -> None:
    """The patient figures of a month: JSON, rows for scripts, or tables and the heat map."""
    if fmt == "json":
        write_json(retention_document(r))
    elif fmt == "ndjson":
        write_ndjson(list(retention_rows(r)))
    elif fmt == "csv":
        write_csv(list(retention_rows(r)), CSV_COLUMNS)
    else:
        _tables(out, r)


def _caption(r: RetentionReport) -> str:
    p = r.pass_info
    return (
        f"From the patient pass of {p.computed_at:%Y-%m-%d %H:%M}Z over the history since "
        f"{p.history_from.isoformat()}. <{r.min_cell}: over fewer than {r.min_cell} patients, "
        "not shown."
    )


def _tables(out: Console, r: RetentionReport) -> None:
    cur = r.scope.currency
    title = f"Patients · {r.scope.org_name} · {r.month:%b %Y}"
    if not r.in_history:
        out.print(Text(title, style="bold"))
        out.print(
            f"{r.month:%b %Y} is before the history the patient pass read (since "
            f"{r.pass_info.history_from.isoformat()}).",
            soft_wrap=True,
            markup=False,
        )
        return
    m = r.min_cell
    reb = r.rebooking
    rows: list[dict[str, Any]] = [
        {
            "figure": "Rebooking rate",
            "value": share_text(reb, m),
            "detail": ""
            if reb.suppressed or reb.count is None
            else f"{count(reb.count)} of {count(reb.base)} completed visits",
        }
    ]
    for n in RETURN_DAYS:
        f = r.returns[n]
        rows.append(
            {
                "figure": f"Return within {n} days",
                "value": share_text(f, m),
                "detail": "" if f.suppressed or f.base is None else f"of {count(f.base)} patients",
            }
        )
    rows.append(
        {
            "figure": "New patients' revenue",
            "value": amount_text(r.revenue_new, m, cur),
            "detail": ""
            if r.revenue_new.suppressed or r.revenue_new.patients is None
            else f"{count(r.revenue_new.patients)} new patients",
        }
    )
    rows.append(
        {
            "figure": "Returning patients' revenue",
            "value": amount_text(r.revenue_returning, m, cur),
            "detail": "net sales, split",
        }
    )
    rows.append({"figure": "Members", "value": count_text(r.members, m), "detail": ""})
    for label, f in (("New members", r.new_members), ("Churned members", r.churned_members)):
        rows.append({"figure": label, "value": count_text(f, m), "detail": ""})
    change = r.membership_change
    rows.append(
        {
            "figure": "Membership revenue",
            "value": money(r.membership_revenue_cents, cur, whole=True),
            "detail": "" if change is None else f"{signed_pct(change)} on the month before",
        }
    )
    fitted_table(
        out,
        [
            Col("figure", "Figure"),
            Col("value", "Value", numeric=True),
            Col("detail", "", drop=1),
        ],
        rows,
        title=title,
    )
    if r.breakdown:
        out.print()
        fitted_table(
            out,
            [
                Col("name", r.by.title() if r.by else ""),
                Col("rate", "Rebooking", numeric=True),
                Col("completed", "Completed", numeric=True),
            ],
            [
                {
                    "name": b.name,
                    "rate": share_text(b.rebooking, m),
                    "completed": DASH if b.rebooking.suppressed else count(b.rebooking.base),
                }
                for b in r.breakdown
            ],
            title=f"Rebooking by {r.by}",
        )
    if r.cohorts:
        out.print()
        _heat_map(out, r)
    out.print(Text(_caption(r), style="dim"), soft_wrap=True)


def _heat_cell(f: Figure, min_cell: int) -> Text:
    shown = hidden_text(f, min_cell)
    if shown is not None:
        return Text("<" if f.suppressed else "…", style="dim")
    share = f.share
    if share is None:
        return Text(DASH, style="dim")
    shade = HEAT[min(len(HEAT) - 1, int(share * 2 * (len(HEAT) - 1) + 0.5))]
    return Text(f"{share * 100:.0f}%", style=f"bold white on {shade}")


def _heat_map(out: Console, r: RetentionReport) -> None:
    m = r.min_cell
    rows = []
    for c in r.cohorts:
        row: dict[str, Any] = {
            "cohort": f"{c.month:%b %Y}",
            "size": count_text(c.size, m) if c.size.suppressed else count(c.size.base),
        }
        for k, f in enumerate(c.months, start=1):
            row[f"m{k}"] = _heat_cell(f, m)
        rows.append(row)
    cols = [Col("cohort", "Cohort"), Col("size", "New", numeric=True)]
    cols += [Col(f"m{k}", f"+{k}", numeric=True, drop=k) for k in range(1, 13)]
    fitted_table(
        out,
        cols,
        rows,
        title="Retention: share of each month's new patients seen again, by month after",
        caption="… pending (the month has not ended); < fewer patients than shown.",
    )


def retention_document(r: RetentionReport) -> dict[str, Any]:
    """The report as one JSON document (docs/reports.md)."""
    p = r.pass_info
    return {
        "report": "retention",
        "practice": r.scope.org_name,
        "month": f"{r.month:%Y-%m}",
        "min_cell": r.min_cell,
        "in_history": r.in_history,
        "pass": {
            "computed_at": p.computed_at.isoformat() + "Z",
            "as_of": p.as_of.isoformat(),
            "history_from": p.history_from.isoformat(),
            "min_cell": p.min_cell,
        },
        "freshness": {
            "status": r.freshness.status,
            "last_success_at": None
            if r.freshness.last_success_at is None
            else r.freshness.last_success_at.isoformat() + "Z",
        },
        "rebooking": figure_document(r.rebooking),
        "rebooking_by": None
        if r.by is None
        else [{r.by: b.name, "id": b.id, **figure_document(b.rebooking)} for b in r.breakdown],
        "returns": {str(n): figure_document(r.returns[n]) for n in RETURN_DAYS},
        "revenue": {
            "new_cents": None if r.revenue_new.suppressed else r.revenue_new.amount_cents,
            "returning_cents": None
            if r.revenue_returning.suppressed
            else r.revenue_returning.amount_cents,
            "new_patients": None if r.revenue_new.suppressed else r.revenue_new.patients,
            "suppressed": r.revenue_new.suppressed,
        },
        "memberships": {
            "members": figure_document(r.members),
            "new_members": figure_document(r.new_members),
            "churned_members": figure_document(r.churned_members),
            "revenue_cents": r.membership_revenue_cents,
            "previous_revenue_cents": r.previous_membership_revenue_cents,
            "change": r.membership_change,
        },
        "cohorts": [
            {
                "cohort": f"{c.month:%Y-%m}",
                "size": None if c.size.suppressed else c.size.base,
                "suppressed": c.size.suppressed,
                "months": [
                    {"months_after": k, **figure_document(f)}
                    for k, f in enumerate(c.months, start=1)
                ],
            }
            for c in r.cohorts
        ],
    }


def retention_rows(r: RetentionReport) -> Iterator[dict[str, Any]]:
    """Every figure of the report as a flat row (NDJSON and CSV)."""
    month = f"{r.month:%Y-%m}"

    def row(
        figure: str,
        f: Figure,
        *,
        at: str = month,
        scope: str = "practice",
        name: str = "",
        after: int = 0,
    ) -> dict[str, Any]:
        doc = figure_document(f)
        return {
            "figure": figure,
            "month": at,
            "scope": scope,
            "name": name or r.scope.org_name,
            "months_after": after,
            "value": doc["value"],
            "count": doc["count"],
            "base": doc["base"],
            "patients": doc["patients"],
            "amount_cents": None if f.suppressed else f.amount_cents,
            "suppressed": f.suppressed,
            "pending": f.pending,
        }

    yield row("rebooking", r.rebooking)
    for b in r.breakdown:
        yield row("rebooking", b.rebooking, scope=b.kind, name=b.name)
    for n in RETURN_DAYS:
        yield row(f"return_{n}", r.returns[n])
    yield row("revenue_new", r.revenue_new)
    yield row("revenue_returning", r.revenue_returning)
    yield row("members", r.members)
    yield row("new_members", r.new_members)
    yield row("churned_members", r.churned_members)
    yield row("membership_revenue", Figure(amount_cents=r.membership_revenue_cents))
    for c in r.cohorts:
        at = f"{c.month:%Y-%m}"
        yield row("cohort", c.size, at=at)
        for k, f in enumerate(c.months, start=1):
            yield row("cohort", f, at=at, after=k)
