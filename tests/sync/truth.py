"""Compare aiq's database with the sandbox's ground truth, field by field."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from aiq.ar import mapping
from aiq.config import SyncSettings
from aiq.sandbox import Sandbox
from aiq.store.db import Store
from aiq.store.models import (
    Appointment,
    AppointmentService,
    Category,
    Clinic,
    Invoice,
    InvoiceItem,
    Payment,
    Product,
    Refund,
    Service,
    Staff,
    table_of,
)
from aiq.sync.plan import grid_window

TABLES = {
    "clinic": Clinic,
    "staff": Staff,
    "category": Category,
    "service": Service,
    "product": Product,
    "appointment": Appointment,
    "appointment_service": AppointmentService,
    "invoice": Invoice,
    "invoice_item": InvoiceItem,
    "payment": Payment,
    "refund": Refund,
}


KEY_COLUMNS = {t: ("id",) for t in TABLES} | {"appointment_service": ("appointment_id", "position")}

Rows = dict[tuple[Any, ...], tuple[Any, ...]]
"""A table's rows by key, each row a tuple of the table's compared columns."""


def _keyed(table: str, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> Rows:
    at = [columns.index(c) for c in KEY_COLUMNS[table]]
    out: Rows = {}
    for row in rows:
        key = tuple(row[i] for i in at)
        assert key not in out, f"{table} {key} is duplicated"
        out[key] = row
    return out


def expected_rows(
    sb: Sandbox, org_id: int, account_id: int | None = None, horizon: date | None = None
) -> dict[str, tuple[tuple[str, ...], Rows]]:
    """What the database should hold for the org: the truth through the mapping, as the
    compared columns of each table and its rows.

    Appointments dated after ``horizon`` (the last day a sync reads ahead) are left out.
    """
    truth = sb.truth(account_id)
    out: dict[str, tuple[tuple[str, ...], Rows]] = {}

    def mapped(table: str, rows: list[dict[str, Any]]) -> None:
        columns = tuple(rows[0]) if rows else KEY_COLUMNS[table]
        out[table] = (columns, _keyed(table, columns, (tuple(r.values()) for r in rows)))

    mapped("clinic", [mapping.map_clinic(org_id, r) for r in truth["clinics"]])
    zones = {c["id"]: mapping.zone(c["timezone"]) for c in truth["clinics"]}
    mapped("staff", [mapping.map_staff(org_id, r) for r in truth["users"]])
    mapped("category", [mapping.map_category(org_id, r) for r in truth["product_categories"]])
    mapped("service", [mapping.map_service(org_id, r) for r in truth["services"]])
    mapped("product", [mapping.map_product(org_id, r) for r in truth["products"]])
    appointments, services = [], []
    local_date = mapping.APPOINTMENT_COLUMNS.index("local_date")
    for r in truth["appointments"]:
        a = mapping.map_appointment(org_id, r, zones)
        if horizon is not None and a.row[local_date] > horizon:
            continue
        appointments.append(a.row)
        services.extend(a.services)
    invoices, items, payments, refunds = [], [], [], []
    catalogue = frozenset(str(x["name"]) for x in (*truth["services"], *truth["products"]))
    for r in truth["invoices"]:
        m = mapping.map_invoice(org_id, r, zones, catalogue)
        invoices.append(m.row)
        items.extend(m.items)
        payments.extend(m.payments)
        refunds.extend(m.refunds)
    for table, columns, rows in (
        ("appointment", mapping.APPOINTMENT_COLUMNS, appointments),
        ("appointment_service", mapping.APPOINTMENT_SERVICE_COLUMNS, services),
        ("invoice", mapping.INVOICE_COLUMNS, invoices),
        ("invoice_item", mapping.INVOICE_ITEM_COLUMNS, items),
        ("payment", mapping.PAYMENT_COLUMNS, payments),
        ("refund", mapping.REFUND_COLUMNS, refunds),
    ):
        out[table] = (columns, _keyed(table, columns, (tuple(row) for row in rows)))
    return out


def actual_rows(store: Store, org_id: int, columns: dict[str, tuple[str, ...]]) -> dict[str, Rows]:
    """What the database holds for the org, in the given columns of each table."""
    out: dict[str, Rows] = {}
    with store.connect() as conn:
        for name, model in TABLES.items():
            table = table_of(model)
            query = select(*(table.c[c] for c in columns[name])).where(table.c.org_id == org_id)
            out[name] = _keyed(name, columns[name], (tuple(r) for r in conn.execute(query)))
    return out


def assert_matches_truth(
    store: Store, sb: Sandbox, org_id: int, account_id: int | None = None, future_days: int = 90
) -> dict[str, int]:
    """Fail with a precise difference unless the database equals the truth; return row counts."""
    horizon = grid_window(
        sb.now.date() + timedelta(days=future_days), SyncSettings().window_days
    ).end
    want = expected_rows(sb, org_id, account_id, horizon)
    have = actual_rows(store, org_id, {t: cols for t, (cols, _) in want.items()})
    for table in TABLES:
        columns, w = want[table]
        h = have[table]
        if w == h:
            continue
        missing = sorted(set(w) - set(h))[:5]
        extra = sorted(set(h) - set(w))[:5]
        assert not missing and not extra, f"{table}: missing {missing}, extra {extra}"
        for k, row in w.items():
            if h[k] != row:
                diff = {c: (a, b) for c, a, b in zip(columns, row, h[k], strict=True) if a != b}
                raise AssertionError(f"{table} {k} differs (expected, stored): {diff}")
    return {t: len(rows) for t, (_, rows) in want.items()}
