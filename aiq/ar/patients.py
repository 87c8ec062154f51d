"""Patient facts: the one place aiq reads a patient's id from AR's answers.

The patient pass (``aiq.sync.patients``) follows patients from visit to visit to count rebooking,
return, retention and memberships. It needs to know which records share a patient, so here,
and only here, a record's ``patient.id`` is read: into a fact, a tuple of the record's business
fields beside the id, that lives in memory for one sync run and is never written, logged or
sent anywhere. The pass turns the facts into counts and sums and drops them. Nothing else of the
patient object is read.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Final

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


# A fact is a plain tuple of integers in the order below (dates as ordinals, times as microseconds):
# the pass packs each into an array of 64-bit integers as it arrives (``aiq.sync.patients``), as
# a large practice's pass holds some 225,000 of them, and unpacks them a patient at a time.

AppointmentFact = tuple[int, int, int, int, int, int, bool, int, "int | None", bool]
"""What the pass needs of one appointment (never stored), at these positions:"""
A_ID: Final = 0
A_PATIENT: Final = 1
A_START: Final = 2  # UTC microseconds since 1970: "later" is the real order, whatever the zones
A_DAY: Final = 3  # the clinic-local date of the start (a date's ordinal, as all days here)
A_BOOKED: Final = 4  # the local date it was booked (NEVER when AR did not say)
A_CANCELED: Final = 5  # the local date it was canceled (NEVER when it was not)
A_COMPLETED: Final = 6
A_CLINIC: Final = 7
A_PROVIDER: Final = 8  # or None
A_NEW: Final = 9  # AR's is_new_patient

InvoiceFact = tuple[int, "int | None", int, bool, bool, int, tuple[tuple[int, int], ...]]
"""What the pass needs of one invoice (never stored), at these positions:"""
I_ID: Final = 0
I_PATIENT: Final = 1  # None: AR named no patient (the invoice still counts in net sales)
I_DAY: Final = 2  # the clinic-local date of its creation
I_COUNTED: Final = 3
I_MEMBER: Final = 4  # counted, with a membership item: its patient is a member that month
I_MEMBERSHIP_CENTS: Final = 5  # item value of its membership items
I_PARTS: Final = 6  # (local date, cents) pairs that add up to its net sales

NEVER: Final = date.max.toordinal()
"""The day of a booking or cancellation AR did not date: after every other."""
_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


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
    return (
        row[_A["id"]],
        pid,
        (row[_A["start_at"]] - _EPOCH) // _MICROSECOND,  # naive UTC
        row[_A["local_date"]].toordinal(),
        local_date(str(booked)).toordinal() if booked else NEVER,
        local_date(str(canceled)).toordinal() if canceled else NEVER,
        row[_A["status"]] == "completed",
        row[_A["clinic_id"]],
        row[_A["provider_id"]],
        row[_A["is_new_patient"]],
    )


def invoice_fact(record: dict[str, Any], mapped: MappedInvoice) -> InvoiceFact:
    """The fact of an invoice: its patient and its parts of net sales, each on its own date.

    Net sales (docs/reports.md) is item value - discounts - wallet debits - processing fees on
    the invoice's date, less wallet and gift card payments on their dates, less refunds on theirs
    (tips and tax are in total sales and out again). Only counted invoices add sales and
    payments; refunds count unless the invoice is void.
    """
    row = mapped.row
    day: int = row[_I["local_date"]].toordinal()
    status = row[_I["status"]]
    counted = status in _COUNTED
    parts: list[tuple[int, int]] = []
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
                parts.append((p[_P["local_date"]].toordinal(), -p[_P["amount_cents"]]))
    if status != "void":
        for r in mapped.refunds:
            parts.append((r[_R["local_date"]].toordinal(), -r[_R["amount_cents"]]))
    return (
        row[_I["id"]],
        patient_id(record),
        day,
        counted,
        member,
        membership,
        tuple(parts),
    )
