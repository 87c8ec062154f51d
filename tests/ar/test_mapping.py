"""The PHI firewall and the conversions, on hand-written records with hand-worked expectations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from aiq.ar import mapping
from aiq.errors import RecordInvalid

LA = mapping.zone("America/Los_Angeles")
PATIENT = {
    "id": 991,
    "firstname": "Maria",
    "lastname": "Lopez",
    "email": "maria@patient.example",
    "phone": "+1-555-0100-1234",
    "date_of_birth": "1980-02-03",
    "address": "1 Main St",
}


def invoice(**over: object) -> dict[str, object]:
    rec: dict[str, object] = {
        "id": 77,
        "invoice_number": "INV-77",
        "clinic_id": 1,
        "status": "paid",
        "invoice_type": "procedure",
        "appointment_id": 5,
        "employee_id": 12,
        "created_at": "2026-10-31 23:30:00",
        "paid_at": "2026-10-31 23:45:00",
        "voided_at": None,
        "subtotal": "450.00",
        "discount": "45.00",
        "tax": "0.00",
        "tip": "90.00",
        "processing_fee": "14.66",
        "total": "495.00",
        "items": [
            {
                "id": 1,
                "item_type": "service",
                "service_id": 3,
                "product_id": None,
                "name": "Botox",
                "category_id": 2,
                "quantity": "1.50",
                "unit_price": "300.00",
                "discount": "45.00",
                "tax": "0.00",
                "total": "405.00",
                "employee_id": 12,
                "wallet_debit": "0.00",
            }
        ],
        "payments": [
            {"id": 9, "method": "card", "amount": "495.00", "paid_at": "2026-11-01 00:10:00"}
        ],
        "refunds": [
            {
                "id": 4,
                "amount": "100.00",
                "refunded_at": "2026-12-02 10:00:00",
                "destination": "original",
            }
        ],
        "patient": PATIENT,
        "notes": "PHI-NOTE allergic to lidocaine",
        "updated_at": "2026-12-02 10:00:00",
    }
    rec.update(over)
    return rec


def test_money_and_quantities_are_exact() -> None:
    assert mapping.cents("450.00") == 45000
    assert mapping.cents("0.07") == 7
    assert mapping.cents("-12.5") == -1250
    assert mapping.cents("1234567.89") == 123456789
    assert mapping.cents(None) == 0
    assert mapping.milli("1.50") == 1500
    assert mapping.percent_bp("42.50") == 4250
    with pytest.raises(ValueError):
        mapping.cents("12,00")


def invoice_dicts(m: mapping.MappedInvoice) -> tuple[dict[str, Any], ...]:
    """The invoice row, its first item, payment and refund, as dicts."""
    return (
        mapping.as_dict(mapping.INVOICE_COLUMNS, m.row),
        mapping.as_dict(mapping.INVOICE_ITEM_COLUMNS, m.items[0]),
        mapping.as_dict(mapping.PAYMENT_COLUMNS, m.payments[0]),
        mapping.as_dict(mapping.REFUND_COLUMNS, m.refunds[0]),
    )


def test_invoice_near_midnight_west_of_utc() -> None:
    row, item, payment, refund = invoice_dicts(mapping.map_invoice(1, invoice(), {1: LA}))
    # 23:30 on Oct 31 in Los Angeles (PDT, UTC-7) is 06:30 UTC on Nov 1, but it belongs to Oct 31.
    assert row["created_at"] == datetime(2026, 11, 1, 6, 30)
    assert row["local_date"] == date(2026, 10, 31)
    # The payment at 00:10 local on Nov 1 belongs to Nov 1; the refund to its own date (PST).
    assert payment["local_date"] == date(2026, 11, 1)
    assert refund["refunded_at"] == datetime(2026, 12, 2, 18, 0)
    assert refund["local_date"] == date(2026, 12, 2)
    assert item["value_cents"] == 45000  # 300.00 x 1.5, before discount
    assert (item["quantity_milli"], item["discount_cents"]) == (1500, 4500)
    assert row["processing_fee_cents"] == 1466


def test_an_item_keeps_its_name_only_when_the_catalogue_has_it() -> None:
    typed = invoice()
    typed["items"][0]["name"] = "Jane Roe jane.roe@patient.example"  # a custom line item
    named = mapping.map_invoice(1, invoice(), {1: LA}, frozenset({"Botox"}))
    custom = mapping.map_invoice(1, typed, {1: LA}, frozenset({"Botox"}))
    column = mapping.INVOICE_ITEM_COLUMNS.index("name")
    assert named.items[0][column] == "Botox"
    assert custom.items[0][column] == mapping.CUSTOM_ITEM
    assert "Jane" not in repr((custom.row, custom.items))
    # Without a catalogue no typed name is kept at all.
    assert mapping.map_invoice(1, invoice(), {1: LA}).items[0][column] == mapping.CUSTOM_ITEM


def test_patient_and_notes_never_pass() -> None:
    m = mapping.map_invoice(1, invoice(), {1: LA})
    everything = repr((m.row, m.items, m.payments, m.refunds))
    for value in [*map(str, PATIENT.values()), "PHI-NOTE", "lidocaine"]:
        assert value not in everything
    assert len(m.row) == len(mapping.INVOICE_COLUMNS)  # the allow-listed columns, nothing more
    appt = {
        "id": 5,
        "clinic_id": 1,
        "provider_id": 12,
        "kind": "in_person",
        "status": "completed",
        "start": "2026-10-31 09:00:00",
        "end": "2026-10-31 10:30:00",
        "services": [{"id": 3, "name": "Botox", "duration_minutes": 30}],
        "booked_at": "2026-10-01 12:00:00",
        "canceled_at": None,
        "booked_via": "online",
        "is_new_patient": True,
        "patient": PATIENT,
        "notes": "PHI-NOTE x",
        "updated_at": None,
    }
    a = mapping.map_appointment(1, appt, {1: LA})
    assert "Maria" not in repr(a) and "PHI-NOTE" not in repr(a)
    row = mapping.as_dict(mapping.APPOINTMENT_COLUMNS, a.row)
    assert row["duration_minutes"] == 90 and row["cancel_lead_minutes"] is None


def test_staff_keep_display_name_only() -> None:
    row = mapping.map_staff(
        1,
        {
            "id": 12,
            "firstname": "Ana",
            "lastname": "Reyes",
            "email": "ana@glow.example",
            "phone": "555",
            "role": "provider",
            "is_provider": True,
            "clinic_ids": [2, 1],
            "commission_rate": "40.00",
            "goals": {"procedures_per_month": 80, "sales_per_month": "30000.00"},
            "is_active": True,
        },
    )
    assert row["display_name"] == "Ana R."
    assert "ana@glow.example" not in repr(row) and "555" not in repr(row)
    assert row["clinic_ids"] == [1, 2] and row["commission_bp"] == 4000
    assert row["goal_sales_per_month_cents"] == 3_000_000


def test_late_cancellation_lead_time() -> None:
    appt = {
        "id": 6,
        "clinic_id": 1,
        "status": "canceled",
        "start": "2026-11-10 09:00:00",
        "end": "2026-11-10 10:00:00",
        "canceled_at": "2026-11-09 12:00:00",
    }
    a = mapping.map_appointment(1, appt, {1: LA})
    assert mapping.as_dict(mapping.APPOINTMENT_COLUMNS, a.row)["cancel_lead_minutes"] == 21 * 60


@pytest.mark.parametrize("field", ["id", "clinic_id", "status", "created_at", "subtotal", "total"])
def test_missing_required_field_names_stream_id_and_field(field: str) -> None:
    rec = invoice()
    rec[field] = None
    with pytest.raises(RecordInvalid) as info:
        mapping.map_invoice(1, rec, {1: LA})
    assert info.value.stream == "invoices" and info.value.field == field
    assert "invoices record" in str(info.value) and field in str(info.value)


def test_unknown_fields_are_collected_by_name_only() -> None:
    watch = mapping.FieldWatch()
    watch.check("invoices", invoice(loyalty_points="secret-value"))
    watch.check("invoices", invoice())
    assert watch.unknown == {"invoices": {"loyalty_points"}}


def test_row_hash_changes_with_content() -> None:
    a = mapping.map_invoice(1, invoice(), {1: LA}).row[mapping.ROW_HASH]
    b = mapping.map_invoice(1, invoice(status="refunded"), {1: LA}).row[mapping.ROW_HASH]
    c = mapping.map_invoice(1, invoice(notes="other PHI"), {1: LA}).row[mapping.ROW_HASH]
    assert a != b
    assert a == c  # notes are not kept, so they cannot change the hash
    assert 0 <= a < 2**63


@pytest.mark.parametrize(
    "tz_name", ["America/Los_Angeles", "America/New_York", "Australia/Lord_Howe", "UTC"]
)
def test_local_to_utc_agrees_with_astimezone_across_dst_shifts(tz_name: str) -> None:
    tz = mapping.zone(tz_name)
    # Every 10 minutes over a year: ordinary days (one offset a day, looked up once) and the days
    # of a shift (converted one by one), including the skipped and the repeated hour (fold=0).
    t = datetime(2026, 1, 1)
    while t < datetime(2027, 1, 1):
        text = t.strftime("%Y-%m-%d %H:%M:%S")
        want = t.replace(tzinfo=tz).astimezone(UTC).replace(tzinfo=None)
        assert mapping.local_to_utc(text, tz) == want, text
        t += timedelta(minutes=10)
    assert mapping.local_to_utc("2026-03-08 10:00:00+02:00", tz) == datetime(2026, 3, 8, 8, 0)
    assert mapping.local_to_utc(None, tz) is None and mapping.local_to_utc("", tz) is None
    with pytest.raises(ValueError):
        mapping.local_to_utc("2026-02-30 10:00:00", tz)


def test_conversions_remembered_are_the_same_conversions() -> None:
    for _ in range(2):  # the second round is answered from the memo
        assert [mapping.cents(v) for v in ("0.00", "450.00", "-12.5", None, "", 3)] == [
            0,
            45000,
            -1250,
            0,
            0,
            300,
        ]
        assert mapping.milli("0.5") == 500 and mapping.milli(None) == 1000
    with pytest.raises(ValueError):
        mapping.cents("12,00")
    with pytest.raises(ValueError):
        mapping.cents("12,00")  # a failure is not remembered as a value
