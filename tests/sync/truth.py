"""Compare aiq's database with the sandbox's ground truth, field by field."""

from __future__ import annotations

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


def _key(table: str, row: dict[str, Any]) -> tuple[Any, ...]:
    if table == "appointment_service":
        return (row["appointment_id"], row["position"])
    return (row["id"],)


def expected_rows(
    sb: Sandbox, org_id: int, account_id: int | None = None, horizon: date | None = None
) -> dict[str, dict[Any, dict[str, Any]]]:
    """What the database should hold for the org: the truth through the mapping.

    Appointments dated after ``horizon`` (the last day a sync reads ahead) are left out.
    """
    truth = sb.truth(account_id)
    out: dict[str, dict[Any, dict[str, Any]]] = {t: {} for t in TABLES}

    def put(table: str, row: dict[str, Any]) -> None:
        out[table][_key(table, row)] = row

    for r in truth["clinics"]:
        put("clinic", mapping.map_clinic(org_id, r))
    zones = {c["id"]: mapping.zone(c["timezone"]) for c in truth["clinics"]}
    for r in truth["users"]:
        put("staff", mapping.map_staff(org_id, r))
    for r in truth["product_categories"]:
        put("category", mapping.map_category(org_id, r))
    for r in truth["services"]:
        put("service", mapping.map_service(org_id, r))
    for r in truth["products"]:
        put("product", mapping.map_product(org_id, r))
    as_dict = mapping.as_dict
    for r in truth["appointments"]:
        a = mapping.map_appointment(org_id, r, zones)
        row = as_dict(mapping.APPOINTMENT_COLUMNS, a.row)
        if horizon is not None and row["local_date"] > horizon:
            continue
        put("appointment", row)
        for s in a.services:
            put("appointment_service", as_dict(mapping.APPOINTMENT_SERVICE_COLUMNS, s))
    for r in truth["invoices"]:
        m = mapping.map_invoice(org_id, r, zones)
        put("invoice", as_dict(mapping.INVOICE_COLUMNS, m.row))
        for i in m.items:
            put("invoice_item", as_dict(mapping.INVOICE_ITEM_COLUMNS, i))
        for p in m.payments:
            put("payment", as_dict(mapping.PAYMENT_COLUMNS, p))
        for f in m.refunds:
            put("refund", as_dict(mapping.REFUND_COLUMNS, f))
    return out


def actual_rows(store: Store, org_id: int) -> dict[str, dict[Any, dict[str, Any]]]:
    """What the database holds for the org."""
    out: dict[str, dict[Any, dict[str, Any]]] = {}
    with store.connect() as conn:
        for name, model in TABLES.items():
            table = table_of(model)
            rows = conn.execute(select(table).where(table.c.org_id == org_id)).mappings().all()
            found: dict[Any, dict[str, Any]] = {}
            for r in rows:
                d = dict(r)
                k = _key(name, d)
                assert k not in found, f"{name} {k} is duplicated"
                found[k] = d
            out[name] = found
    return out


def assert_matches_truth(
    store: Store, sb: Sandbox, org_id: int, account_id: int | None = None, future_days: int = 90
) -> dict[str, int]:
    """Fail with a precise difference unless the database equals the truth; return row counts."""
    horizon = grid_window(
        sb.now.date() + timedelta(days=future_days), SyncSettings().window_days
    ).end
    want = expected_rows(sb, org_id, account_id, horizon)
    have = actual_rows(store, org_id)
    for table in TABLES:
        w, h = want[table], have[table]
        missing = sorted(set(w) - set(h))[:5]
        extra = sorted(set(h) - set(w))[:5]
        assert not missing and not extra, f"{table}: missing {missing}, extra {extra}"
        for k, row in w.items():
            got = {c: h[k][c] for c in row}
            if got != row:
                diff = {c: (row[c], got[c]) for c in row if row[c] != got[c]}
                raise AssertionError(f"{table} {k} differs (expected, stored): {diff}")
    return {t: len(v) for t, v in want.items()}
