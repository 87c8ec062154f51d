"""Daily rollups, rebuilt from the facts for the dates a sync touched.

The definitions follow docs/reports.md: only counted invoices (paid, partially paid,
refunded, partially refunded) feed sales; payments count on their own date; refunds on theirs, for
invoices that are not void; out-of-office entries are not appointments.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    literal_column,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.selectable import Join

from aiq.store.models import (
    Appointment,
    Invoice,
    InvoiceItem,
    Payment,
    Refund,
    RollupAppointmentsDaily,
    RollupSalesDaily,
    table_of,
)
from aiq.store.statuses import COUNTED_STATUSES, LATE_CANCEL_MINUTES, PENDING_STATUSES

_CHUNK = 500
# Inline constants (not bound parameters) so GROUP BY matches the SELECT list on Postgres.
_ZERO: Any = literal_column("0")


class _InvoicesFirst(Join):
    """``left CROSS JOIN right``, the join's condition going in WHERE.

    SQLite keeps the left table of a CROSS JOIN as the outer loop. Without it, SQLite with no
    statistics (as on a first sync) carries ``org_id`` over to the items, guesses that ``org_id``
    alone picks few of them, and reads every item of the org for each batch of days: a sync grows
    quadratic. Postgres plans a CROSS JOIN with its condition in WHERE as any inner join.
    """

    inherit_cache = True


@compiles(_InvoicesFirst)
def _compile_invoices_first(element: _InvoicesFirst, compiler: Any, **kw: Any) -> str:
    kw["asfrom"] = True
    left = compiler.process(element.left, **kw)
    return f"{left} CROSS JOIN {compiler.process(element.right, **kw)}"


@contextmanager
def _driven_by_dates(conn: Connection) -> Iterator[None]:
    """On Postgres, join by index lookups from the day's rows for the queries inside.

    A rebuild reads a few days of facts and looks up their invoices by primary key. Postgres,
    whose statistics lag behind a sync that is filling the tables, tends to hash-join instead,
    reading every invoice of the org for each batch, so a first sync would slow down with the
    square of the history (the payments rollup: 23 ms a batch instead of 5 ms on three years).
    SET LOCAL keeps the setting to this transaction; it is reset when the rebuild is done.
    """
    if conn.dialect.name != "postgresql":
        yield
        return
    conn.exec_driver_sql("SET LOCAL enable_hashjoin = off")
    conn.exec_driver_sql("SET LOCAL enable_mergejoin = off")
    yield
    # Not on failure: the transaction is then rolled back, and its SET LOCAL with it.
    conn.exec_driver_sql("RESET enable_hashjoin")
    conn.exec_driver_sql("RESET enable_mergejoin")


def _chunks(dates: Iterable[date]) -> Iterable[list[date]]:
    ordered = sorted(set(dates))
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]


def rebuild_sales(
    conn: Connection,
    org_id: int,
    dates: Iterable[date],
    *,
    payment_dates: Iterable[date] = (),
    refund_dates: Iterable[date] = (),
) -> None:
    """Recompute ``rollup_sales_daily`` of ``org_id`` for ``dates``.

    ``payment_dates`` and ``refund_dates`` are further dates on which only payments (or refunds)
    may have changed: only their ``payment:*`` (or ``refund``) lines are recomputed. A sync touches
    many days through a late refund or a payment alone; those days need one small query, not all
    four.
    """
    r = table_of(RollupSalesDaily)
    inv = table_of(Invoice)
    item = table_of(InvoiceItem)
    pay = table_of(Payment)
    ref = table_of(Refund)
    zero = literal(0)
    cols = [
        "org_id",
        "local_date",
        "clinic_id",
        "employee_id",
        "category_id",
        "line",
        "quantity_milli",
        "value_cents",
        "discount_cents",
        "tax_cents",
        "tip_cents",
        "fee_cents",
        "wallet_debit_cents",
        "amount_cents",
        "invoices",
    ]
    days: Any = bindparam("days", expanding=True)
    counted = inv.c.status.in_(COUNTED_STATUSES)

    items = (
        select(
            inv.c.org_id,
            inv.c.local_date,
            inv.c.clinic_id,
            func.coalesce(item.c.employee_id, _ZERO),
            func.coalesce(item.c.category_id, _ZERO),
            item.c.item_type,
            func.sum(item.c.quantity_milli),
            func.sum(item.c.value_cents),
            func.sum(item.c.discount_cents),
            func.sum(item.c.tax_cents),
            zero,
            zero,
            func.sum(item.c.wallet_debit_cents),
            zero,
            func.count(func.distinct(inv.c.id)),
        )
        .select_from(_InvoicesFirst(inv, item, true()))
        .where(
            item.c.org_id == inv.c.org_id,
            item.c.invoice_id == inv.c.id,
            inv.c.org_id == org_id,
            inv.c.local_date.in_(days),
            counted,
        )
        .group_by(
            inv.c.org_id,
            inv.c.local_date,
            inv.c.clinic_id,
            func.coalesce(item.c.employee_id, _ZERO),
            func.coalesce(item.c.category_id, _ZERO),
            item.c.item_type,
        )
    )
    invoice_level = (
        select(
            inv.c.org_id,
            inv.c.local_date,
            inv.c.clinic_id,
            func.coalesce(inv.c.employee_id, _ZERO),
            zero,
            literal("invoice"),
            zero,
            zero,
            func.sum(inv.c.discount_cents),
            func.sum(inv.c.tax_cents),
            func.sum(inv.c.tip_cents),
            func.sum(inv.c.processing_fee_cents),
            zero,
            zero,
            func.count(),
        )
        .where(inv.c.org_id == org_id, inv.c.local_date.in_(days), counted)
        .group_by(
            inv.c.org_id, inv.c.local_date, inv.c.clinic_id, func.coalesce(inv.c.employee_id, _ZERO)
        )
    )
    pay_line = literal_column("'payment:'", String) + pay.c.method
    payments = (
        select(
            pay.c.org_id,
            pay.c.local_date,
            inv.c.clinic_id,
            func.coalesce(inv.c.employee_id, _ZERO),
            zero,
            pay_line,
            zero,
            zero,
            zero,
            zero,
            zero,
            zero,
            zero,
            func.sum(pay.c.amount_cents),
            func.count(func.distinct(inv.c.id)),
        )
        .select_from(
            pay.join(inv, and_(inv.c.org_id == pay.c.org_id, inv.c.id == pay.c.invoice_id))
        )
        .where(pay.c.org_id == org_id, pay.c.local_date.in_(days), counted)
        .group_by(
            pay.c.org_id,
            pay.c.local_date,
            inv.c.clinic_id,
            func.coalesce(inv.c.employee_id, _ZERO),
            pay_line,
        )
    )
    refunds = (
        select(
            ref.c.org_id,
            ref.c.local_date,
            inv.c.clinic_id,
            func.coalesce(inv.c.employee_id, _ZERO),
            zero,
            literal("refund"),
            zero,
            zero,
            zero,
            zero,
            zero,
            zero,
            zero,
            func.sum(ref.c.amount_cents),
            func.count(func.distinct(inv.c.id)),
        )
        .select_from(
            ref.join(inv, and_(inv.c.org_id == ref.c.org_id, inv.c.id == ref.c.invoice_id))
        )
        .where(ref.c.org_id == org_id, ref.c.local_date.in_(days), inv.c.status != "void")
        .group_by(
            ref.c.org_id, ref.c.local_date, inv.c.clinic_id, func.coalesce(inv.c.employee_id, _ZERO)
        )
    )
    in_days = and_(r.c.org_id == org_id, r.c.local_date.in_(days))
    every = set(dates)
    with _driven_by_dates(conn):
        for chunk in _chunks(every):
            params = {"days": chunk}
            conn.execute(r.delete().where(in_days), params)
            for query in (items, invoice_level, payments, refunds):
                conn.execute(insert(r).from_select(cols, query), params)
        for lines, query, only in (
            (r.c.line.like("payment:%"), payments, set(payment_dates) - every),
            (r.c.line == "refund", refunds, set(refund_dates) - every),
        ):
            for chunk in _chunks(only):
                params = {"days": chunk}
                conn.execute(r.delete().where(in_days, lines), params)
                conn.execute(insert(r).from_select(cols, query), params)


def rebuild_appointments(conn: Connection, org_id: int, dates: Iterable[date]) -> None:
    """Recompute ``rollup_appointments_daily`` of ``org_id`` for ``dates``."""
    r = table_of(RollupAppointmentsDaily)
    a = table_of(Appointment)
    days: Any = bindparam("days", expanding=True)

    def count_if(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    provider = func.coalesce(a.c.provider_id, _ZERO)
    query = (
        select(
            a.c.org_id,
            a.c.local_date,
            a.c.clinic_id,
            provider,
            func.count(),
            count_if(a.c.status == "completed"),
            count_if(a.c.status == "canceled"),
            count_if(a.c.status == "no_show"),
            count_if(a.c.status.in_(PENDING_STATUSES)),
            count_if(and_(a.c.status == "canceled", a.c.cancel_lead_minutes < LATE_CANCEL_MINUTES)),
            count_if(and_(a.c.status == "completed", a.c.is_new_patient)),
            count_if(a.c.booked_via == "online"),
            func.sum(case((a.c.status == "completed", a.c.duration_minutes), else_=0)),
        )
        .where(a.c.org_id == org_id, a.c.local_date.in_(days), a.c.kind != "out_of_office")
        .group_by(a.c.org_id, a.c.local_date, a.c.clinic_id, provider)
    )
    cols = [
        "org_id",
        "local_date",
        "clinic_id",
        "provider_id",
        "booked",
        "completed",
        "canceled",
        "no_show",
        "pending",
        "late_canceled",
        "new_patient_completed",
        "online_booked",
        "completed_minutes",
    ]
    delete = r.delete().where(r.c.org_id == org_id, r.c.local_date.in_(days))
    for chunk in _chunks(dates):
        conn.execute(delete, {"days": chunk})
        conn.execute(insert(r).from_select(cols, query), {"days": chunk})
