"""The sandbox's compact records and how they look on the wire at a given moment.

A record holds its whole planned life (when it is booked, confirmed, canceled, completed,
paid, refunded, voided) and the wire view is derived from the sandbox's "now". So the clock only
has to move a few records between date windows (bookings, reschedules, deletions); every
status change, late payment, refund and void simply becomes visible when its time comes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, NamedTuple

from aiq.sandbox.people import Patient, appointment_note, invoice_note

# Planned outcomes of an appointment.
COMPLETED, NO_SHOW, CANCELED = 0, 1, 2
OUT_OF_OFFICE = "out_of_office"


def money(cents: int) -> str:
    """Cents as AR's decimal string: 45000 -> "450.00"."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def stamp(moment: dt.datetime) -> str:
    """A local timestamp as AR writes it: "YYYY-MM-DD HH:MM:SS", no offset."""
    return moment.isoformat(" ", "seconds")


class Item(NamedTuple):
    """One invoice line; money in cents, quantity in hundredths."""

    item_type: str
    service_id: int | None
    product_id: int | None
    name: str
    category_id: int
    quantity: int  # hundredths: 150 = 1.5
    unit_price: int
    discount: int
    tax: int
    employee_id: int
    wallet_debit: int

    @property
    def value(self) -> int:
        """Item value before discounts: unit_price * quantity, in cents (exact by construction)."""
        return self.unit_price * self.quantity // 100


class Payment(NamedTuple):
    """One payment; `fee` is the card processor's fee on it (0 for other methods)."""

    method: str
    amount: int
    paid_at: dt.datetime
    fee: int


class Refund(NamedTuple):
    """One refund, dated when it happened (often weeks after the invoice)."""

    amount: int
    refunded_at: dt.datetime
    destination: str


class Appointment:
    """An appointment with its planned life; `start` is the current scheduled start."""

    __slots__ = (
        "booked_at",
        "cancel_at",
        "clinic_id",
        "confirm_at",
        "delete_at",
        "deleted",
        "id",
        "kind",
        "minutes",
        "new_patient",
        "new_start",
        "online",
        "outcome",
        "patient_id",
        "provider_id",
        "resched_at",
        "resolve_at",
        "seed",
        "services",
        "start",
    )

    def __init__(
        self,
        *,
        clinic_id: int,
        provider_id: int,
        kind: str,
        start: dt.datetime,
        minutes: int,
        services: tuple[int, ...],
        booked_at: dt.datetime,
        online: bool,
        new_patient: bool,
        patient_id: int,
        outcome: int,
        seed: int,
    ) -> None:
        self.id = 0  # given when the booking becomes visible, so ids follow booking order
        self.clinic_id = clinic_id
        self.provider_id = provider_id
        self.kind = kind
        self.start = start
        self.minutes = minutes
        self.services = services
        self.booked_at = booked_at
        self.online = online
        self.new_patient = new_patient
        self.patient_id = patient_id
        self.outcome = outcome
        self.seed = seed
        self.cancel_at: dt.datetime | None = None
        self.confirm_at: dt.datetime | None = None
        self.resolve_at: dt.datetime | None = None
        self.resched_at: dt.datetime | None = None
        self.new_start: dt.datetime | None = None
        self.delete_at: dt.datetime | None = None
        self.deleted = False

    def state(self, now: dt.datetime) -> tuple[str, dt.datetime | None, dt.datetime]:
        """(status, canceled_at, updated_at) as AR would show them at `now`."""
        updated = self.booked_at
        if self.resched_at is not None and self.resched_at <= now:
            updated = self.resched_at
        if self.cancel_at is not None and self.cancel_at <= now:
            return "canceled", self.cancel_at, max(updated, self.cancel_at)
        if self.resolve_at is not None and self.resolve_at <= now:
            status = "completed" if self.outcome == COMPLETED else "no_show"
            return status, None, max(updated, self.resolve_at)
        if self.outcome == COMPLETED and self.kind != OUT_OF_OFFICE:
            checked_in = self.start - _CHECK_IN_EARLY
            if checked_in <= now:
                return "checked_in", None, max(updated, checked_in)
        if self.confirm_at is not None and self.confirm_at <= now:
            return "confirmed", None, max(updated, self.confirm_at)
        return "booked", None, updated


_CHECK_IN_EARLY = dt.timedelta(minutes=5)


class Invoice:
    """An invoice with its planned payments, refunds and void; totals fixed at creation."""

    __slots__ = (
        "appointment",
        "clinic_id",
        "created_at",
        "dead",
        "discount",
        "draft",
        "employee_id",
        "id",
        "invoice_type",
        "items",
        "patient_id",
        "payments",
        "refunds",
        "seed",
        "subtotal",
        "tax",
        "tip",
        "total",
        "voided_at",
    )

    def __init__(
        self,
        *,
        clinic_id: int,
        invoice_type: str,
        appointment: Appointment | None,
        employee_id: int,
        created_at: dt.datetime,
        items: tuple[Item, ...],
        tip: int,
        payments: tuple[Payment, ...],
        refunds: tuple[Refund, ...],
        voided_at: dt.datetime | None,
        draft: bool,
        patient_id: int,
        seed: int,
    ) -> None:
        self.id = 0  # given when the invoice is created, so ids follow creation order
        self.clinic_id = clinic_id
        self.invoice_type = invoice_type
        self.appointment = appointment
        self.employee_id = employee_id
        self.created_at = created_at
        self.items = items
        subtotal = discount = tax = 0
        for i in items:  # one pass: a practice creates tens of thousands
            subtotal += i.unit_price * i.quantity // 100
            discount += i.discount
            tax += i.tax
        self.subtotal = subtotal
        self.discount = discount
        self.tax = tax
        self.tip = tip
        self.total = subtotal - discount + tax + tip
        self.payments = payments
        self.refunds = refunds
        self.voided_at = voided_at
        self.draft = draft
        self.patient_id = patient_id
        self.seed = seed
        self.dead = False  # removed by an injected anomaly before it was ever seen

    @property
    def wallet_debit(self) -> int:
        """Value redeemed from prepaid packages: it settles part of the total without a payment."""
        return sum(i.wallet_debit for i in self.items)

    def state(
        self, now: dt.datetime
    ) -> tuple[str, list[Payment], list[Refund], dt.datetime | None, dt.datetime]:
        """(status, visible payments, visible refunds, paid_at, updated_at) at `now`."""
        payments = [p for p in self.payments if p.paid_at <= now]
        refunds = [r for r in self.refunds if r.refunded_at <= now]
        updated = self.created_at
        for p in payments:
            updated = max(updated, p.paid_at)
        for r in refunds:
            updated = max(updated, r.refunded_at)
        paid = sum(p.amount for p in payments)
        due = self.total - self.wallet_debit
        paid_at: dt.datetime | None = None
        if not self.draft and paid >= due:
            paid_at = payments[-1].paid_at if payments else self.created_at
        if self.draft:
            status = "draft"
        elif self.voided_at is not None and self.voided_at <= now:
            status = "void"
            updated = max(updated, self.voided_at)
        elif refunds:
            status = "refunded" if sum(r.amount for r in refunds) >= paid else "partially_refunded"
        elif paid >= due:
            status = "paid"
        elif paid > 0:
            status = "partially_paid"
        else:
            status = "open"
        return status, payments, refunds, paid_at, updated


class Serializer:
    """Turns records into the dicts of the wire format, given the lookups of one practice."""

    def __init__(
        self, patient: Callable[[int], Patient], service_names: dict[int, tuple[str, int]]
    ) -> None:
        self._patient = patient
        self._patient_dicts: dict[int, dict[str, Any]] = {}
        self._service_dicts = {
            sid: {"id": sid, "name": name, "duration_minutes": minutes}
            for sid, (name, minutes) in service_names.items()
        }

    def patient_dict(self, patient_id: int) -> dict[str, Any] | None:
        """The `patient` object (cached: the same patient is on many records)."""
        if not patient_id:
            return None
        d = self._patient_dicts.get(patient_id)
        if d is None:
            d = self._patient_dicts[patient_id] = self._patient(patient_id).as_dict()
        return d

    def appointment(self, a: Appointment, now: dt.datetime) -> dict[str, Any]:
        """An appointment as `POST /api/appointment` returns it."""
        status, canceled_at, updated = a.state(now)
        notes = "" if not a.patient_id else appointment_note(self._patient(a.patient_id), a.seed)
        return {
            "id": a.id,
            "clinic_id": a.clinic_id,
            "provider_id": a.provider_id,
            "kind": a.kind,
            "status": status,
            "start": stamp(a.start),
            "end": stamp(a.start + dt.timedelta(minutes=a.minutes)),
            "services": [self._service_dicts[s] for s in a.services],
            "booked_at": stamp(a.booked_at),
            "canceled_at": None if canceled_at is None else stamp(canceled_at),
            "booked_via": "online" if a.online else "staff",
            "is_new_patient": a.new_patient,
            "patient": self.patient_dict(a.patient_id),
            "notes": notes,
            "updated_at": stamp(updated),
        }

    def invoice(self, inv: Invoice, now: dt.datetime) -> dict[str, Any]:
        """An invoice as `POST /api/sales/invoices` returns it."""
        status, payments, refunds, paid_at, updated = inv.state(now)
        base = inv.id * 10
        return {
            "id": inv.id,
            "invoice_number": f"INV-{inv.id:08d}",
            "clinic_id": inv.clinic_id,
            "status": status,
            "invoice_type": inv.invoice_type,
            "appointment_id": inv.appointment.id if inv.appointment is not None else None,
            "employee_id": inv.employee_id,
            "created_at": stamp(inv.created_at),
            "paid_at": None if paid_at is None else stamp(paid_at),
            "voided_at": None
            if status != "void" or inv.voided_at is None
            else stamp(inv.voided_at),
            "subtotal": money(inv.subtotal),
            "discount": money(inv.discount),
            "tax": money(inv.tax),
            "tip": money(inv.tip),
            "processing_fee": money(sum(p.fee for p in payments)),
            "total": money(inv.total),
            "items": [
                {
                    "id": base + n,
                    "item_type": it.item_type,
                    "service_id": it.service_id,
                    "product_id": it.product_id,
                    "name": it.name,
                    "category_id": it.category_id,
                    "quantity": money(it.quantity),
                    "unit_price": money(it.unit_price),
                    "discount": money(it.discount),
                    "tax": money(it.tax),
                    "total": money(it.value - it.discount + it.tax),
                    "employee_id": it.employee_id,
                    "wallet_debit": money(it.wallet_debit),
                }
                for n, it in enumerate(inv.items)
            ],
            "payments": [
                {
                    "id": base + n,
                    "method": p.method,
                    "amount": money(p.amount),
                    "paid_at": stamp(p.paid_at),
                }
                for n, p in enumerate(payments)
            ],
            "refunds": [
                {
                    "id": base + n,
                    "amount": money(r.amount),
                    "refunded_at": stamp(r.refunded_at),
                    "destination": r.destination,
                }
                for n, r in enumerate(refunds)
            ],
            "patient": self.patient_dict(inv.patient_id),
            "notes": invoice_note(self._patient(inv.patient_id), inv.seed),
            "updated_at": stamp(updated),
        }
