"""The PHI firewall: AR records in, rows of business facts out.

Each record passes through an allow-list. The ``patient`` object, ``notes``, staff email and phone,
and any field not named here are dropped in this module and go no further: not into a log line, a
row, an export or an error report. Unknown field *names* (never values) are collected so that a sync
can report new upstream fields once.

Money strings become integer cents, quantities integer thousandths, local timestamps naive UTC plus
the clinic-local date.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiq.errors import RecordInvalid

# Fields aiq keeps, and fields it knows and drops on purpose (so they are not "new upstream").
KNOWN_FIELDS: dict[str, frozenset[str]] = {
    "clinics": frozenset({"id", "name", "timezone", "address", "is_active"}),
    "users": frozenset(
        {
            "id",
            "firstname",
            "lastname",
            "email",
            "phone",
            "role",
            "is_provider",
            "clinic_ids",
            "commission_rate",
            "goals",
            "is_active",
        }
    ),
    "services": frozenset({"id", "name", "category_id", "price", "duration_minutes", "is_active"}),
    "products": frozenset(
        {"id", "name", "inventory_type", "category_id", "price", "cost_to_company", "is_active"}
    ),
    "product_categories": frozenset({"id", "name"}),
    # Appointments and invoices: the kept fields (whose values make the row and its hash, below)
    # plus the nested lists and the fields dropped on purpose.
    "appointments": frozenset(
        {
            "id",
            "clinic_id",
            "provider_id",
            "kind",
            "status",
            "start",
            "end",
            "booked_at",
            "canceled_at",
            "booked_via",
            "is_new_patient",
            "updated_at",
        }
        | {"services", "patient", "notes"}
    ),
    "invoices": frozenset(
        {
            "id",
            "invoice_number",
            "clinic_id",
            "status",
            "invoice_type",
            "appointment_id",
            "employee_id",
            "created_at",
            "paid_at",
            "voided_at",
            "subtotal",
            "discount",
            "tax",
            "tip",
            "processing_fee",
            "total",
            "updated_at",
        }
        | {"items", "payments", "refunds", "patient", "notes"}
    ),
}


@dataclass
class FieldWatch:
    """Collects field names AR sent that aiq does not know (names only, never values)."""

    unknown: dict[str, set[str]] = field(default_factory=dict)

    def check(self, stream: str, record: dict[str, Any]) -> None:
        known = KNOWN_FIELDS[stream]
        if len(record) <= len(known) and record.keys() <= known:
            return
        extra = record.keys() - known
        if extra:
            self.unknown.setdefault(stream, set()).update(extra)


# --- scalar conversions -------------------------------------------------------------------------


def cents(value: Any) -> int:
    """A decimal money string ("450.00") as integer cents. Never goes through a float."""
    if value is None or value == "":
        return 0
    if isinstance(value, int):
        return value * 100
    text = str(value).strip()
    neg = text.startswith("-")
    body = text[1:] if neg else text
    whole, dot, frac = body.partition(".")
    if whole.isdigit() and (not dot or (frac.isdigit() and len(frac) <= 2)):
        n = int(whole) * 100 + (int(frac.ljust(2, "0")) if frac else 0)
        return -n if neg else n
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not a money amount: {text[:20]!r}") from None
    return int((d * 100).to_integral_value())


def milli(value: Any) -> int:
    """A decimal quantity ("1.00", "0.5") as integer thousandths."""
    if value is None or value == "":
        return 1000
    try:
        return int((Decimal(str(value)) * 1000).to_integral_value())
    except InvalidOperation:
        raise ValueError(f"not a quantity: {str(value)[:20]!r}") from None


def percent_bp(value: Any) -> int | None:
    """A percentage string ("40.00") as basis points (4000)."""
    if value is None or value == "":
        return None
    return int((Decimal(str(value)) * 100).to_integral_value())


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The IANA time zone, cached."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


_OFFSETS: dict[tuple[ZoneInfo, str], timedelta] = {}


def local_to_utc(value: str | None, tz: ZoneInfo) -> datetime | None:
    """An AR local timestamp ("YYYY-MM-DD HH:MM:SS", no offset) as naive UTC."""
    if not value:
        return None
    local = datetime.fromisoformat(value)
    if local.tzinfo is not None:  # tolerate an offset if AR ever sends one
        return local.astimezone(UTC).replace(tzinfo=None)
    # One offset lookup per zone and local hour serves every timestamp in it (a sync converts
    # millions); an hour in which the offset changes (a half-hour DST shift) is not cached.
    # Same result as astimezone with fold=0.
    key = (tz, value[:13])
    offset = _OFFSETS.get(key)
    if offset is None:
        offset = local.replace(tzinfo=tz).utcoffset()
        assert offset is not None
        hour = local.replace(minute=0, second=0, microsecond=0)
        start = hour.replace(tzinfo=tz).utcoffset()
        end = (hour + timedelta(minutes=59, seconds=59)).replace(tzinfo=tz).utcoffset()
        if start == end:
            if len(_OFFSETS) > 500_000:
                _OFFSETS.clear()
            _OFFSETS[key] = offset
    return local - offset


def local_date(value: str) -> date:
    """The calendar date of an AR local timestamp."""
    return date.fromisoformat(value[:10])


def row_hash(*parts: Any) -> int:
    """A 63-bit digest of a record's kept content; equal content gives an equal hash."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def _req(stream: str, record: dict[str, Any], name: str) -> Any:
    value = record.get(name)
    if value is None or value == "":
        raise RecordInvalid(stream, record.get("id", "?"), name)
    return value


def _opt_int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def _display_name(first: Any, last: Any) -> str:
    first = str(first or "").strip()
    last = str(last or "").strip()
    return f"{first} {last[:1]}.".strip() if last else first


# --- reference streams --------------------------------------------------------------------------


def map_clinic(org_id: int, r: dict[str, Any]) -> dict[str, Any]:
    """A clinic row."""
    rid = int(_req("clinics", r, "id"))
    tz = str(_req("clinics", r, "timezone"))
    zone(tz)  # an unknown zone fails the record here, not every timestamp later
    addr = r.get("address") or {}
    row = {
        "org_id": org_id,
        "id": rid,
        "name": str(r.get("name") or f"Clinic {rid}"),
        "timezone": tz,
        "city": addr.get("city"),
        "state": addr.get("state"),
        "zip": addr.get("zip"),
        "is_active": bool(r.get("is_active", True)),
    }
    row["row_hash"] = row_hash(*row.values())
    return row


def map_staff(org_id: int, r: dict[str, Any]) -> dict[str, Any]:
    """A staff row: display name only, never email or phone."""
    rid = int(_req("users", r, "id"))
    goals = r.get("goals") or {}
    sales_goal = goals.get("sales_per_month")
    row = {
        "org_id": org_id,
        "id": rid,
        "display_name": _display_name(r.get("firstname"), r.get("lastname")) or f"Staff {rid}",
        "role": str(r.get("role") or ""),
        "is_provider": bool(r.get("is_provider", False)),
        "clinic_ids": sorted(int(c) for c in (r.get("clinic_ids") or [])),
        "commission_bp": percent_bp(r.get("commission_rate")),
        "goal_procedures_per_month": _opt_int(goals.get("procedures_per_month")),
        "goal_sales_per_month_cents": None if sales_goal in (None, "") else cents(sales_goal),
        "is_active": bool(r.get("is_active", True)),
    }
    row["row_hash"] = row_hash(*row.values())
    return row


def map_category(org_id: int, r: dict[str, Any]) -> dict[str, Any]:
    """A category row."""
    rid = int(_req("product_categories", r, "id"))
    row = {"org_id": org_id, "id": rid, "name": str(r.get("name") or f"Category {rid}")}
    row["row_hash"] = row_hash(*row.values())
    return row


def map_service(org_id: int, r: dict[str, Any]) -> dict[str, Any]:
    """A service row."""
    rid = int(_req("services", r, "id"))
    row = {
        "org_id": org_id,
        "id": rid,
        "name": str(r.get("name") or f"Service {rid}"),
        "category_id": _opt_int(r.get("category_id")),
        "price_cents": None if r.get("price") is None else cents(r.get("price")),
        "duration_minutes": _opt_int(r.get("duration_minutes")),
        "is_active": bool(r.get("is_active", True)),
    }
    row["row_hash"] = row_hash(*row.values())
    return row


def map_product(org_id: int, r: dict[str, Any]) -> dict[str, Any]:
    """A product row."""
    rid = int(_req("products", r, "id"))
    row = {
        "org_id": org_id,
        "id": rid,
        "name": str(r.get("name") or f"Product {rid}"),
        "inventory_type": str(r.get("inventory_type") or "retail"),
        "category_id": _opt_int(r.get("category_id")),
        "price_cents": None if r.get("price") is None else cents(r.get("price")),
        "cost_cents": None if r.get("cost_to_company") is None else cents(r.get("cost_to_company")),
        "is_active": bool(r.get("is_active", True)),
    }
    row["row_hash"] = row_hash(*row.values())
    return row


# --- windowed streams ---------------------------------------------------------------------------


# The source fields whose values make a windowed record's row (and so its hash).
_APPOINTMENT_KEEP = tuple(sorted(KNOWN_FIELDS["appointments"] - {"services", "patient", "notes"}))
_INVOICE_KEEP = tuple(
    sorted(KNOWN_FIELDS["invoices"] - {"items", "payments", "refunds", "patient", "notes"})
)
_ITEM_KEEP = (
    "id",
    "item_type",
    "service_id",
    "product_id",
    "name",
    "category_id",
    "quantity",
    "unit_price",
    "discount",
    "tax",
    "total",
    "employee_id",
    "wallet_debit",
)
_PAYMENT_KEEP = ("id", "method", "amount", "paid_at")
_REFUND_KEEP = ("id", "amount", "refunded_at", "destination")


@dataclass
class MappedAppointment:
    """An appointment row and its service links."""

    row: dict[str, Any]
    services: list[dict[str, Any]]


@dataclass
class MappedInvoice:
    """An invoice row with its items, payments and refunds."""

    row: dict[str, Any]
    items: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    refunds: list[dict[str, Any]]


def map_appointment(
    org_id: int, r: dict[str, Any], zones: dict[int, ZoneInfo]
) -> MappedAppointment:
    """An appointment row; the patient object and notes are not read."""
    s = "appointments"
    rid = int(_req(s, r, "id"))
    clinic_id = int(_req(s, r, "clinic_id"))
    tz = zones.get(clinic_id)
    if tz is None:
        raise RecordInvalid(s, rid, "clinic_id (unknown clinic)")
    start_local = str(_req(s, r, "start"))
    end_local = str(_req(s, r, "end"))
    start_at = local_to_utc(start_local, tz)
    end_at = local_to_utc(end_local, tz)
    assert start_at is not None and end_at is not None
    canceled_at = local_to_utc(r.get("canceled_at"), tz)
    row = {
        "org_id": org_id,
        "id": rid,
        "clinic_id": clinic_id,
        "provider_id": _opt_int(r.get("provider_id")),
        "kind": str(r.get("kind") or "in_person"),
        "status": str(_req(s, r, "status")),
        "start_at": start_at,
        "end_at": end_at,
        "local_date": local_date(start_local),
        "duration_minutes": int((end_at - start_at) / timedelta(minutes=1)),
        "booked_at": local_to_utc(r.get("booked_at"), tz),
        "canceled_at": canceled_at,
        "cancel_lead_minutes": None
        if canceled_at is None
        else int((start_at - canceled_at) / timedelta(minutes=1)),
        "booked_via": r.get("booked_via"),
        "is_new_patient": bool(r.get("is_new_patient", False)),
        "updated_at": local_to_utc(r.get("updated_at"), tz),
    }
    services = [
        {
            "org_id": org_id,
            "appointment_id": rid,
            "position": i,
            "service_id": _opt_int(sv.get("id")),
            "duration_minutes": _opt_int(sv.get("duration_minutes")),
        }
        for i, sv in enumerate(r.get("services") or [])
    ]
    row["row_hash"] = row_hash(
        str(tz),
        *map(r.get, _APPOINTMENT_KEEP),
        *((sv.get("id"), sv.get("duration_minutes")) for sv in r.get("services") or ()),
    )
    return MappedAppointment(row, services)


def map_invoice(org_id: int, r: dict[str, Any], zones: dict[int, ZoneInfo]) -> MappedInvoice:
    """An invoice row with its children; the patient object and notes are not read."""
    s = "invoices"
    rid = int(_req(s, r, "id"))
    clinic_id = int(_req(s, r, "clinic_id"))
    tz = zones.get(clinic_id)
    if tz is None:
        raise RecordInvalid(s, rid, "clinic_id (unknown clinic)")
    created_local = str(_req(s, r, "created_at"))
    row = {
        "org_id": org_id,
        "id": rid,
        "invoice_number": None if r.get("invoice_number") is None else str(r["invoice_number"]),
        "clinic_id": clinic_id,
        "status": str(_req(s, r, "status")),
        "invoice_type": str(r.get("invoice_type") or "procedure"),
        "appointment_id": _opt_int(r.get("appointment_id")),
        "employee_id": _opt_int(r.get("employee_id")),
        "created_at": local_to_utc(created_local, tz),
        "local_date": local_date(created_local),
        "paid_at": local_to_utc(r.get("paid_at"), tz),
        "voided_at": local_to_utc(r.get("voided_at"), tz),
        "subtotal_cents": cents(_req(s, r, "subtotal")),
        "discount_cents": cents(r.get("discount")),
        "tax_cents": cents(r.get("tax")),
        "tip_cents": cents(r.get("tip")),
        "processing_fee_cents": cents(r.get("processing_fee")),
        "total_cents": cents(_req(s, r, "total")),
        "updated_at": local_to_utc(r.get("updated_at"), tz),
    }
    items = []
    for it in r.get("items") or []:
        qty = milli(it.get("quantity"))
        unit = cents(it.get("unit_price"))
        items.append(
            {
                "org_id": org_id,
                "id": int(_req(s, it, "id")),
                "invoice_id": rid,
                "item_type": str(_req(s, it, "item_type")),
                "service_id": _opt_int(it.get("service_id")),
                "product_id": _opt_int(it.get("product_id")),
                "name": None if it.get("name") is None else str(it["name"]),
                "category_id": _opt_int(it.get("category_id")),
                "quantity_milli": qty,
                "unit_price_cents": unit,
                # Item value is unit price times quantity, before discounts (AR's "subtotal").
                "value_cents": (unit * qty + 500) // 1000,
                "discount_cents": cents(it.get("discount")),
                "tax_cents": cents(it.get("tax")),
                "total_cents": cents(it.get("total")),
                "employee_id": _opt_int(it.get("employee_id")),
                "wallet_debit_cents": cents(it.get("wallet_debit")),
            }
        )
    payments = []
    for p in r.get("payments") or []:
        paid = p.get("paid_at")
        payments.append(
            {
                "org_id": org_id,
                "id": int(_req(s, p, "id")),
                "invoice_id": rid,
                "method": str(p.get("method") or "other"),
                "amount_cents": cents(p.get("amount")),
                "paid_at": local_to_utc(paid, tz),
                "local_date": local_date(paid) if paid else row["local_date"],
            }
        )
    refunds = []
    for f in r.get("refunds") or []:
        when = f.get("refunded_at")
        refunds.append(
            {
                "org_id": org_id,
                "id": int(_req(s, f, "id")),
                "invoice_id": rid,
                "amount_cents": cents(f.get("amount")),
                "refunded_at": local_to_utc(when, tz),
                "local_date": local_date(when) if when else row["local_date"],
                "destination": f.get("destination"),
            }
        )
    # Hashing the kept source values (not the converted row) is cheaper and just as exact: the
    # row is a function of them and of the clinic's time zone.
    row["row_hash"] = row_hash(
        str(tz),
        *map(r.get, _INVOICE_KEEP),
        *(tuple(map(it.get, _ITEM_KEEP)) for it in r.get("items") or ()),
        *(tuple(map(p.get, _PAYMENT_KEEP)) for p in r.get("payments") or ()),
        *(tuple(map(f.get, _REFUND_KEEP)) for f in r.get("refunds") or ()),
    )
    return MappedInvoice(row, items, payments, refunds)
