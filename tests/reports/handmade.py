"""A small practice built by hand, fact by fact, whose every figure was worked out on paper.

Two clinics: Austin (America/Chicago) and Scottsdale (America/Phoenix, UTC-7 all year, "a clinic
west of UTC"). Providers Mia R. (Austin; 40 % commission; goals $10,000 and 20 procedures a
month) and Noah K. (Scottsdale; 30 %; no goals); Front D. rings up sales but is not a provider.

October 2026 is the month under test (1 October 2026 is a Thursday). Invoices (money in cents):

- I1 Austin, Mia, 10-05: Botox 40 u x 1400 = 56000 less 10 % (5600), SPF 50 x1 = 5000 with tax
  413; tip 11200 (20 % of the pre-discount service value: a tip on a discounted service);
  total 61000 - 5600 + 413 + 11200 = 67013 paid by card; fee 2.9 % + 30 = 1973.
- I2 Austin, Mia, 10-06: Hydrafacial 20000 paid by card, then VOIDED on 10-20 (its payment stays
  listed) and "refunded" 5000 on 10-21: neither counts anywhere.
- I3 Austin, Mia, 10-10: Hydrafacial 20000 paid cash; refunded 5000 on 10-12: partially refunded.
- I4 Scottsdale, Noah, 10-15: Vitamin C 2 x 12000 = 24000, tax 1980; card 25980, fee 783;
  refunded in full on 11-14: a refund a month after its invoice lowers November.
- I5a Austin, Front D., 10-02: a package, 100000 (a wallet credit), card, fee 2930.
- I5b Austin, Mia, 10-20: Botox 20 u = 28000 redeemed from the package (wallet debit 28000) and
  a 2000 tip by card (fee 88): a package redemption.
- I5c Austin, Front D., 10-21: SPF 50 x2 = 10000, tax 825, paid 10825 from the wallet.
- I6a Scottsdale, Front D., 10-03: a gift card, 15000, card, fee 465.
- I6b Scottsdale, Noah, 10-22: Hydrafacial 20000, paid 15000 by gift card and 5000 by card (fee
  175): a gift card redemption.
- I7 Austin, Mia, 10-23: a cancellation fee, 5000, card, fee 175.
- I8 Scottsdale, Noah: a membership, 9900, created at 23:30 on 10-31 local (06:30 UTC on 11-01)
  and paid a minute later by card (fee 317): it belongs to 31 October.
- I10 Austin, draft, and I12 Austin, open: not counted.
- I11 Austin, Mia, 10-26: Botox 10 u = 14000, 7000 paid by card (fee 233): partially paid,
  counted.
- I9 Scottsdale, Noah: Botox 10 u = 14000 paid cash at 23:50 on 09-30 local (06:50 UTC on 10-01):
  belongs to September (the previous period).
- I13 Austin, Mia, 2025-10-15: Botox 20 u = 28000, card, fee 842 (the same month a year earlier).

June 2026 has no data at all.

Appointments in October (Austin unless noted): A1 completed 10-05 (60 min, new, online), A2
completed 10-06 (60 min), A3 canceled 19 h ahead (late; online), A4 canceled 3 days ahead, A5
no-show 10-09, A6 out of office 10-12 (not an appointment), A7 booked 10-28, A8 confirmed
10-13, A9 Scottsdale completed 10-20 (90 min, new, online), A10 Scottsdale completed 23:00 local
10-31 (30 min). September: completed Austin 09-09 (Wed) and 09-10 (Thu), Scottsdale 09-12
(Sat), for the open days of the run rate.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiq.store import bulk
from aiq.store.db import Store
from aiq.store.models import (
    Appointment,
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
from aiq.store.rollups import rebuild_appointments, rebuild_sales

AUSTIN, SCOTTSDALE = 1, 2
MIA, NOAH, FRONT = 10, 11, 12
ZONES = {AUSTIN: ZoneInfo("America/Chicago"), SCOTTSDALE: ZoneInfo("America/Phoenix")}
BOTOX, HYDRA = 200, 201
SPF, VITC = 300, 301
NEUROTOXINS, SKINCARE, PACKAGES, GIFT_CARDS, MEMBERSHIPS, FEES, FACIALS = (
    100,
    101,
    102,
    103,
    104,
    105,
    106,
)


def utc(local: str, clinic: int) -> datetime:
    """A clinic-local ``YYYY-MM-DD HH:MM`` as naive UTC."""
    dt = datetime.fromisoformat(local).replace(tzinfo=ZONES[clinic])
    return dt.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


class Builder:
    """Collects rows, then writes them and rebuilds the rollups of every date they touch."""

    def __init__(self, org_id: int) -> None:
        self.org = org_id
        self.rows: dict[Any, list[dict[str, Any]]] = {}
        self.sale_dates: set[date] = set()
        self.appt_dates: set[date] = set()

    def add(self, model: Any, **row: Any) -> None:
        self.rows.setdefault(model, []).append({"org_id": self.org, **row})

    def invoice(
        self,
        iid: int,
        clinic: int,
        employee: int | None,
        created: str,
        status: str = "paid",
        invoice_type: str = "procedure",
        *,
        items: list[dict[str, Any]],
        tip: int = 0,
        fee: int = 0,
        payments: list[tuple[str, int, str]] = (),  # type: ignore[assignment]
        refunds: list[tuple[int, str]] = (),  # type: ignore[assignment]
        voided: str | None = None,
    ) -> None:
        day = date.fromisoformat(created[:10])
        self.sale_dates.add(day)
        subtotal = discount = tax = 0
        for n, it in enumerate(items, 1):
            qty = it.get("qty", 1000)
            unit = it["unit"]
            value = unit * qty // 1000
            d, t = it.get("discount", 0), it.get("tax", 0)
            subtotal, discount, tax = subtotal + value, discount + d, tax + t
            self.add(
                InvoiceItem,
                id=iid * 10 + n,
                invoice_id=iid,
                item_type=it["type"],
                service_id=it.get("service"),
                product_id=it.get("product"),
                name=it.get("name"),
                category_id=it.get("category"),
                quantity_milli=qty,
                unit_price_cents=unit,
                value_cents=value,
                discount_cents=d,
                tax_cents=t,
                total_cents=value - d + t,
                employee_id=it.get("employee", employee),
                wallet_debit_cents=it.get("wallet_debit", 0),
            )
        self.add(
            Invoice,
            id=iid,
            invoice_number=f"INV-{iid:08d}",
            clinic_id=clinic,
            status=status,
            invoice_type=invoice_type,
            appointment_id=None,
            employee_id=employee,
            created_at=utc(created, clinic),
            local_date=day,
            paid_at=utc(payments[-1][2], clinic) if payments and status != "open" else None,
            voided_at=utc(voided, clinic) if voided else None,
            subtotal_cents=subtotal,
            discount_cents=discount,
            tax_cents=tax,
            tip_cents=tip,
            processing_fee_cents=fee,
            total_cents=subtotal - discount + tax + tip,
            updated_at=utc(created, clinic),
            row_hash=iid,
        )
        for n, (method, amount, when) in enumerate(payments, 1):
            pday = date.fromisoformat(when[:10])
            self.sale_dates.add(pday)
            self.add(
                Payment,
                id=iid * 10 + n,
                invoice_id=iid,
                method=method,
                amount_cents=amount,
                paid_at=utc(when, clinic),
                local_date=pday,
            )
        for n, (amount, when) in enumerate(refunds, 1):
            rday = date.fromisoformat(when[:10])
            self.sale_dates.add(rday)
            self.add(
                Refund,
                id=iid * 10 + 5 + n,
                invoice_id=iid,
                amount_cents=amount,
                refunded_at=utc(when, clinic),
                local_date=rday,
                destination="original",
            )

    def appointment(
        self,
        aid: int,
        clinic: int,
        provider: int | None,
        start: str,
        minutes: int,
        status: str,
        *,
        kind: str = "in_person",
        canceled_hours_ahead: float | None = None,
        new: bool = False,
        online: bool = False,
    ) -> None:
        start_at = utc(start, clinic)
        canceled_at = (
            None
            if canceled_hours_ahead is None
            else start_at - timedelta(hours=canceled_hours_ahead)
        )
        day = date.fromisoformat(start[:10])
        self.appt_dates.add(day)
        self.add(
            Appointment,
            id=aid,
            clinic_id=clinic,
            provider_id=provider,
            kind=kind,
            status=status,
            start_at=start_at,
            end_at=start_at + timedelta(minutes=minutes),
            local_date=day,
            duration_minutes=minutes,
            booked_at=start_at - timedelta(days=10),
            canceled_at=canceled_at,
            cancel_lead_minutes=None
            if canceled_at is None
            else int((start_at - canceled_at).total_seconds() // 60),
            booked_via="online" if online else "staff",
            is_new_patient=new,
            updated_at=start_at,
            row_hash=aid,
        )

    def write(self, store: Store) -> None:
        order = [Clinic, Staff, Category, Service, Product, Appointment]
        order += [Invoice, InvoiceItem, Payment, Refund]
        with store.begin() as conn:
            for model in order:
                if model in self.rows:
                    bulk.upsert(conn, table_of(model), self.rows[model])
            rebuild_sales(conn, self.org, self.sale_dates)
            rebuild_appointments(conn, self.org, self.appt_dates)


def svc(service: int, units: float, unit: int, **kw: Any) -> dict[str, Any]:
    category = NEUROTOXINS if service == BOTOX else FACIALS
    name = "Botox" if service == BOTOX else "Hydrafacial"
    return {
        "type": "service",
        "service": service,
        "category": category,
        "name": name,
        "qty": int(units * 1000),
        "unit": unit,
        **kw,
    }


def retail(product: int, units: int, unit: int, **kw: Any) -> dict[str, Any]:
    name = "SPF 50" if product == SPF else "Vitamin C Serum"
    return {
        "type": "retail",
        "product": product,
        "category": SKINCARE,
        "name": name,
        "qty": units * 1000,
        "unit": unit,
        **kw,
    }


def build(store: Store, org_id: int) -> None:
    """Write the practice described in the module docstring into ``store`` for ``org_id``."""
    b = Builder(org_id)
    for cid, name, tz in (
        (AUSTIN, "Austin", "America/Chicago"),
        (SCOTTSDALE, "Scottsdale", "America/Phoenix"),
    ):
        b.add(
            Clinic,
            id=cid,
            name=name,
            timezone=tz,
            city=None,
            state=None,
            zip=None,
            is_active=True,
            row_hash=cid,
        )
    staff = [
        (MIA, "Mia R.", "provider", True, [AUSTIN], 4000, 20, 1_000_000),
        (NOAH, "Noah K.", "provider", True, [SCOTTSDALE], 3000, None, None),
        (FRONT, "Front D.", "front_desk", False, [AUSTIN, SCOTTSDALE], None, None, None),
    ]
    for sid, name, role, prov, clinics, bp, goal_n, goal_s in staff:
        b.add(
            Staff,
            id=sid,
            display_name=name,
            role=role,
            is_provider=prov,
            clinic_ids=clinics,
            commission_bp=bp,
            goal_procedures_per_month=goal_n,
            goal_sales_per_month_cents=goal_s,
            is_active=True,
            row_hash=sid,
        )
    for cid, name in (
        (NEUROTOXINS, "Neurotoxins"),
        (SKINCARE, "Skincare"),
        (PACKAGES, "Packages"),
        (GIFT_CARDS, "Gift Cards"),
        (MEMBERSHIPS, "Memberships"),
        (FEES, "Fees & Deposits"),
        (FACIALS, "Facials"),
    ):
        b.add(Category, id=cid, name=name, row_hash=cid)
    for sid, name, cat, price in (
        (BOTOX, "Botox", NEUROTOXINS, 1400),
        (HYDRA, "Hydrafacial", FACIALS, 20000),
    ):
        b.add(
            Service,
            id=sid,
            name=name,
            category_id=cat,
            price_cents=price,
            duration_minutes=60,
            is_active=True,
            row_hash=sid,
        )
    for pid, name, price, cost in (
        (SPF, "SPF 50", 5000, 2000),
        (VITC, "Vitamin C Serum", 12000, 5000),
    ):
        b.add(
            Product,
            id=pid,
            name=name,
            inventory_type="retail",
            category_id=SKINCARE,
            price_cents=price,
            cost_cents=cost,
            is_active=True,
            row_hash=pid,
        )

    # --- invoices ---
    b.invoice(
        1,
        AUSTIN,
        MIA,
        "2026-10-05 10:00",
        items=[svc(BOTOX, 40, 1400, discount=5600), retail(SPF, 1, 5000, tax=413)],
        tip=11200,
        fee=1973,
        payments=[("card", 67013, "2026-10-05 10:30")],
    )
    b.invoice(
        2,
        AUSTIN,
        MIA,
        "2026-10-06 11:00",
        "void",
        items=[svc(HYDRA, 1, 20000)],
        fee=610,
        payments=[("card", 20000, "2026-10-06 11:30")],
        refunds=[(5000, "2026-10-21 09:00")],
        voided="2026-10-20 09:00",
    )
    b.invoice(
        3,
        AUSTIN,
        MIA,
        "2026-10-10 12:00",
        "partially_refunded",
        items=[svc(HYDRA, 1, 20000)],
        payments=[("cash", 20000, "2026-10-10 12:30")],
        refunds=[(5000, "2026-10-12 16:00")],
    )
    b.invoice(
        4,
        SCOTTSDALE,
        NOAH,
        "2026-10-15 14:00",
        "refunded",
        "retail",
        items=[retail(VITC, 2, 12000, tax=1980)],
        fee=783,
        payments=[("card", 25980, "2026-10-15 14:05")],
        refunds=[(25980, "2026-11-14 10:00")],
    )
    b.invoice(
        51,
        AUSTIN,
        FRONT,
        "2026-10-02 09:00",
        "paid",
        "package",
        items=[{"type": "package", "category": PACKAGES, "unit": 100000, "name": "Botox package"}],
        fee=2930,
        payments=[("card", 100000, "2026-10-02 09:10")],
    )
    b.invoice(
        52,
        AUSTIN,
        MIA,
        "2026-10-20 15:00",
        items=[svc(BOTOX, 20, 1400, wallet_debit=28000)],
        tip=2000,
        fee=88,
        payments=[("card", 2000, "2026-10-20 15:20")],
    )
    b.invoice(
        53,
        AUSTIN,
        FRONT,
        "2026-10-21 13:00",
        "paid",
        "retail",
        items=[retail(SPF, 2, 5000, tax=825)],
        payments=[("wallet", 10825, "2026-10-21 13:05")],
    )
    b.invoice(
        61,
        SCOTTSDALE,
        FRONT,
        "2026-10-03 10:00",
        "paid",
        "egift_purchase",
        items=[{"type": "egift", "category": GIFT_CARDS, "unit": 15000, "name": "Gift card"}],
        fee=465,
        payments=[("card", 15000, "2026-10-03 10:01")],
    )
    b.invoice(
        62,
        SCOTTSDALE,
        NOAH,
        "2026-10-22 11:00",
        items=[svc(HYDRA, 1, 20000)],
        fee=175,
        payments=[("egift", 15000, "2026-10-22 11:40"), ("card", 5000, "2026-10-22 11:41")],
    )
    b.invoice(
        7,
        AUSTIN,
        MIA,
        "2026-10-23 09:00",
        "paid",
        "cancellation_fee",
        items=[{"type": "cancellation_fee", "category": FEES, "unit": 5000, "name": "Late cancel"}],
        fee=175,
        payments=[("card", 5000, "2026-10-23 09:00")],
    )
    b.invoice(
        8,
        SCOTTSDALE,
        NOAH,
        "2026-10-31 23:30",
        "paid",
        "membership",
        items=[{"type": "membership", "category": MEMBERSHIPS, "unit": 9900, "name": "Glow club"}],
        fee=317,
        payments=[("card", 9900, "2026-10-31 23:31")],
    )
    b.invoice(
        9,
        SCOTTSDALE,
        NOAH,
        "2026-09-30 23:50",
        items=[svc(BOTOX, 10, 1400)],
        payments=[("cash", 14000, "2026-09-30 23:55")],
    )
    b.invoice(10, AUSTIN, MIA, "2026-10-25 10:00", "draft", items=[svc(HYDRA, 1, 20000)])
    b.invoice(
        11,
        AUSTIN,
        MIA,
        "2026-10-26 10:00",
        "partially_paid",
        items=[svc(BOTOX, 10, 1400)],
        fee=233,
        payments=[("card", 7000, "2026-10-26 10:20")],
    )
    b.invoice(12, AUSTIN, FRONT, "2026-10-27 10:00", "open", "retail", items=[retail(SPF, 1, 5000)])
    b.invoice(
        13,
        AUSTIN,
        MIA,
        "2025-10-15 10:00",
        items=[svc(BOTOX, 20, 1400)],
        fee=842,
        payments=[("card", 28000, "2025-10-15 10:10")],
    )

    # --- appointments ---
    b.appointment(1, AUSTIN, MIA, "2026-10-05 09:00", 60, "completed", new=True, online=True)
    b.appointment(2, AUSTIN, MIA, "2026-10-06 10:00", 60, "completed")
    b.appointment(
        3, AUSTIN, MIA, "2026-10-07 10:00", 60, "canceled", canceled_hours_ahead=19, online=True
    )
    b.appointment(4, AUSTIN, MIA, "2026-10-08 10:00", 60, "canceled", canceled_hours_ahead=72)
    b.appointment(5, AUSTIN, MIA, "2026-10-09 10:00", 60, "no_show")
    b.appointment(6, AUSTIN, MIA, "2026-10-12 08:00", 240, "booked", kind="out_of_office")
    b.appointment(7, AUSTIN, MIA, "2026-10-28 10:00", 60, "booked")
    b.appointment(8, AUSTIN, MIA, "2026-10-13 10:00", 60, "confirmed")
    b.appointment(9, SCOTTSDALE, NOAH, "2026-10-20 11:00", 90, "completed", new=True, online=True)
    b.appointment(10, SCOTTSDALE, NOAH, "2026-10-31 23:00", 30, "completed")
    b.appointment(21, AUSTIN, MIA, "2026-09-09 10:00", 60, "completed")
    b.appointment(22, AUSTIN, MIA, "2026-09-10 10:00", 60, "completed")
    b.appointment(23, SCOTTSDALE, NOAH, "2026-09-12 10:00", 60, "completed")
    b.write(store)
