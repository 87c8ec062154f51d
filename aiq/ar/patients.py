"""Patient facts: the one place aiq reads a patient's id from AR's answers.

The patient pass (``aiq.sync.patients``) follows patients from visit to visit to count rebooking,
return, retention and memberships. It needs to know which records share a patient, so here,
and only here, a record's ``patient.id`` is read: into a fact, a tuple of the record's business
fields beside the id, that lives in memory for one sync run and is never written, logged or
sent anywhere. The pass turns the facts into counts and sums and drops them. Nothing else of the
patient object is read.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NamedTuple

from aiq.ar.mapping import (
    APPOINTMENT_COLUMNS,
    INVOICE_COLUMNS,
    INVOICE_ITEM_COLUMNS,
    PAYMENT_COLUMNS,
    REFUND_COLUMNS,
    MappedAppointment,
    MappedInvoice,
    local_date,
)
from aiq.store.statuses import COUNTED_STATUSES

_A = {name: i for i, name in enumerate(APPOINTMENT_COLUMNS)}
_I = {name: i for i, name in enumerate(INVOICE_COLUMNS)}
_IT = {name: i for i, name in enumerate(INVOICE_ITEM_COLUMNS)}
_P = {name: i for i, name in enumerate(PAYMENT_COLUMNS)}
_R = {name: i for i, name in enumerate(REFUND_COLUMNS)}
_COUNTED = frozenset(COUNTED_STATUSES)
_REDEEMED = frozenset({"wallet", "egift"})  # payments net sales leaves out


class AppointmentFact(NamedTuple):
    """What the pass needs of one appointment (never stored)."""

    id: int
    patient: int
    start_at: datetime  # UTC: "later" is the real order, whatever the clinics' zones
    day: date  # the clinic-local date of the start
    booked_on: date  # the local date it was booked (date.max when AR did not say)
    canceled_on: date | None  # the local date it was canceled
    status: str
    clinic_id: int
    provider_id: int | None
    is_new_patient: bool


class InvoiceFact(NamedTuple):
    """What the pass needs of one invoice (never stored): its net-sales parts by date."""

    id: int
    patient: int | None  # None: AR named no patient (the invoice still counts in net sales)
    clinic_id: int
    day: date  # the clinic-local date of its creation
    counted: bool
    membership: bool  # counted, with a membership item: its patient is a member that month
    membership_cents: int  # item value of its membership items
    parts: tuple[tuple[date, int], ...]  # (local date, cents) that add up to its net sales


def patient_id(record: dict[str, Any]) -> int | None:
    """The record's patient id, or None when AR sent no usable one."""
    patient = record.get("patient")
    if not isinstance(patient, dict):
        return None
    pid = patient.get("id")
    if isinstance(pid, bool) or not isinstance(pid, int | str):
        return None
    try:
        return int(pid)
    except ValueError:
        return None


def appointment_fact(record: dict[str, Any], mapped: MappedAppointment) -> AppointmentFact | None:
    """The fact of an appointment that has a patient (None for out-of-office and the like)."""
    row = mapped.row
    if row[_A["kind"]] == "out_of_office":
        return None
    pid = patient_id(record)
    if pid is None:
        return None
    booked = record.get("booked_at")
    canceled = record.get("canceled_at")
    return AppointmentFact(
        id=row[_A["id"]],
        patient=pid,
        start_at=row[_A["start_at"]],
        day=row[_A["local_date"]],
        booked_on=local_date(str(booked)) if booked else date.max,
        canceled_on=local_date(str(canceled)) if canceled else None,
        status=row[_A["status"]],
        clinic_id=row[_A["clinic_id"]],
        provider_id=row[_A["provider_id"]],
        is_new_patient=row[_A["is_new_patient"]],
    )


def invoice_fact(record: dict[str, Any], mapped: MappedInvoice) -> InvoiceFact:
    """The fact of an invoice: its patient and its parts of net sales, each on its own date.

    Net sales (docs/reports.md) is item value - discounts - wallet debits - processing fees on
    the invoice's date, less wallet and gift card payments on their dates, less refunds on theirs
    (tips and tax are in total sales and out again). Only counted invoices add sales and
    payments; refunds count unless the invoice is void.
    """
    row = mapped.row
    day: date = row[_I["local_date"]]
    status = row[_I["status"]]
    counted = status in _COUNTED
    parts: list[tuple[date, int]] = []
    membership, member = 0, False
    if counted:
        value = debits = 0
        for it in mapped.items:
            value += it[_IT["value_cents"]]
            debits += it[_IT["wallet_debit_cents"]]
            if it[_IT["item_type"]] == "membership":
                member = True
                membership += it[_IT["value_cents"]]
        parts.append(
            (day, value - debits - row[_I["discount_cents"]] - row[_I["processing_fee_cents"]])
        )
        for p in mapped.payments:
            if p[_P["method"]] in _REDEEMED:
                parts.append((p[_P["local_date"]], -p[_P["amount_cents"]]))
    if status != "void":
        for r in mapped.refunds:
            parts.append((r[_R["local_date"]], -r[_R["amount_cents"]]))
    return InvoiceFact(
        id=row[_I["id"]],
        patient=patient_id(record),
        clinic_id=row[_I["clinic_id"]],
        day=day,
        counted=counted,
        membership=member,
        membership_cents=membership,
        parts=tuple(parts),
    )
