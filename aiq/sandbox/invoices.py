"""Invoice builders: the money of a med spa, with every invariant AR keeps exact in cents.

- subtotal = sum of item unit_price * quantity (before discounts);
- total = subtotal - discount + tax + tip, where discount and tax are the sums over items;
- item total = unit_price * quantity - item discount + item tax;
- tax is charged on retail items only, tips are figured on the pre-discount service value;
- a paid invoice is settled by its payments plus its wallet debits (package redemptions, which
  spend value bought earlier and so are not payments): sum(payments) = total - wallet debits;
  a partially paid one has received less; refunds never exceed what was paid;
- credit a patient holds is spent by that patient: a package's sessions (wallet debits), the
  wallet (deposits, refunds to the wallet; `wallet` payments), a gift card's balance (`egift`
  payments). The demand model keeps the balances; the builders here only spend what it offers.
- processing fees are charged on card payments only (2.9% + 30 cents each).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import TypeVar

from aiq.sandbox.catalog import (
    AESTH,
    CAT_EGIFT,
    CAT_FEES,
    CAT_MEMBERSHIP,
    CAT_PACKAGE,
    INJECT,
    IV,
    LASER,
    MEMBERSHIPS,
    PACKAGES,
    Catalog,
    Clinic,
    Product,
    Service,
)
from aiq.sandbox.records import Appointment, Invoice, Item, Payment, Refund

_MIN = dt.timedelta(minutes=1)
_DAY = dt.timedelta(days=1)
FINANCING = ("cherry", "care_credit", "klarna")
_TIP_CHANCE = {AESTH: 0.55, LASER: 0.4, IV: 0.25, INJECT: 0.12}


_T = TypeVar("_T")


# Uniform draws from one `rng.random()` each: `randrange`, `randint` and `choice` cost several
# times as much, and a practice makes hundreds of thousands of them.
def below(rng: random.Random, n: int) -> int:
    """A uniform integer in [0, n)."""
    return int(rng.random() * n)


def between(rng: random.Random, lo: int, hi: int) -> int:
    """A uniform integer in [lo, hi)."""
    return lo + int(rng.random() * (hi - lo))


def pick(rng: random.Random, seq: Sequence[_T]) -> _T:
    """A uniform element of a non-empty sequence."""
    return seq[int(rng.random() * len(seq))]


def card_fee(amount: int) -> int:
    """The processor's fee on a card payment: 2.9% + 30 cents, rounded half up."""
    return (amount * 29 + 500) // 1000 + 30


def retail_tax(net: int, rate: int) -> int:
    """Tax on a retail line's net value; `rate` in 1/1000 of a percent, rounded half up."""
    return (net * rate + 50_000) // 100_000


def service_item(svc: Service, qty: int, employee_id: int) -> Item:
    """A service line for `qty` units (whole units)."""
    return Item(
        "service",
        svc.id,
        None,
        svc.name,
        svc.category_id,
        qty * 100,
        svc.price,
        0,
        0,
        employee_id,
        0,
    )


def retail_item(p: Product, qty: int, employee_id: int, clinic: Clinic, discount_pct: int) -> Item:
    """A retail line with its discount and the clinic's retail tax."""
    assert p.price is not None
    value = p.price * qty
    discount = value * discount_pct // 100
    return Item(
        "retail",
        None,
        p.id,
        p.name,
        p.category_id,
        qty * 100,
        p.price,
        discount,
        retail_tax(value - discount, clinic.tax_rate),
        employee_id,
        0,
    )


def simple_item(item_type: str, name: str, category_id: int, price: int, employee_id: int) -> Item:
    """A line that is not in the catalogue: membership, package, gift card, fee, deposit."""
    return Item(item_type, None, None, name, category_id, 100, price, 0, 0, employee_id, 0)


def pay(
    rng: random.Random, due: int, at: dt.datetime, wallet: int = 0, egift: int = 0
) -> list[Payment]:
    """How a patient settles `due` cents: their wallet and gift card balance first (up to
    `wallet` and `egift` cents), then mostly card; cash, checks, financing, splits."""
    payments: list[Payment] = []
    t = at + _MIN * between(rng, 1, 6)
    if wallet or egift:
        for method, balance in (("wallet", wallet), ("egift", egift)):
            if balance > 0 and due > 0:
                used = min(balance, due)
                payments.append(Payment(method, used, t, 0))
                due -= used
    if due <= 0:
        return payments
    r = rng.random()
    if due >= 100_000 and r < 0.22:
        # Financing covers most of a large ticket; the patient puts the rest on a card.
        financed = due if rng.random() < 0.6 else due * pick(rng, (50, 70, 80)) // 100
        payments.append(Payment(pick(rng, FINANCING), financed, t, 0))
        due -= financed
    elif 0.04 <= r < 0.11:
        cash = due if rng.random() < 0.7 else due // 2
        payments.append(Payment("cash", cash, t, 0))
        due -= cash
    elif 0.11 <= r < 0.12:
        payments.append(Payment("check", due, t, 0))
        due = 0
    if due > 0:
        payments.append(Payment("card", due, t, card_fee(due)))
    return payments


class InvoicePlanner:
    """Builds the invoices of one practice from one random stream."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._retail = catalog.retail
        # Cheaper products sell more often.
        self._retail_weights = [1 / (p.price or 1) ** 0.5 for p in self._retail]

    def _retail_products(self, rng: random.Random, k: int) -> list[Product]:
        chosen: list[Product] = []
        for p in rng.choices(self._retail, weights=self._retail_weights, k=k):
            if p not in chosen:
                chosen.append(p)
        return chosen

    def _settle(
        self,
        rng: random.Random,
        inv_kwargs: dict[str, object],
        items: tuple[Item, ...],
        tip: int,
        created: dt.datetime,
        wallet: int = 0,
        egift: int = 0,
        refund_rate: float = 0.025,
        void_rate: float = 0.02,
        late_rate: float = 0.025,
    ) -> Invoice:
        """Payments, late payments, refunds, voids and drafts for an invoice of these items."""
        due = tip
        for i in items:
            due += i.unit_price * i.quantity // 100 - i.discount + i.tax - i.wallet_debit
        draft = rng.random() < 0.003
        payments: list[Payment] = [] if draft else pay(rng, due, created, wallet, egift)
        refunds: list[Refund] = []
        voided_at = None
        r = rng.random()
        if not draft and payments and r < late_rate:
            # Some balances are settled later: an unpaid invoice (open) or a financing split
            # whose second part arrives weeks later (partially paid meanwhile); a few never are.
            last = payments[-1]
            later = created + _DAY * between(rng, 1, 30)
            if len(payments) == 1 and last.amount > 200 and rng.random() < 0.6:
                first = last.amount // 2
                payments[-1] = last._replace(
                    amount=first, fee=card_fee(first) if last.method == "card" else 0
                )
                rest = last.amount - first
                payments.append(
                    last._replace(
                        amount=rest,
                        paid_at=later,
                        fee=card_fee(rest) if last.method == "card" else 0,
                    )
                )
            elif rng.random() < 0.1:
                payments.pop()
            else:
                payments[-1] = last._replace(paid_at=later)
        elif not draft and payments and r < late_rate + refund_rate:
            paid = sum(p.amount for p in payments)
            amount = paid if rng.random() < 0.4 else max(1, paid * between(rng, 10, 60) // 100)
            when = payments[-1].paid_at + _DAY * pick(rng, (1, 2, 3, 5, 7, 10, 14, 21, 30, 45))
            dest = rng.choices(("original", "wallet", "cash", "check"), (70, 15, 10, 5))[0]
            if amount < paid and rng.random() < 0.25:
                # A second partial refund a little later, still within what was paid.
                second = min(paid - amount, max(1, amount // 2))
                refunds.append(Refund(amount, when, dest))
                refunds.append(Refund(second, when + _DAY * between(rng, 1, 15), dest))
            else:
                refunds.append(Refund(amount, when, dest))
        elif not draft and r < late_rate + refund_rate + void_rate:
            voided_at = created + (
                _MIN * between(rng, 5, 240) if rng.random() < 0.5 else _DAY * between(rng, 1, 30)
            )
        return Invoice(
            items=items,
            tip=tip,
            payments=tuple(payments),
            refunds=tuple(refunds),
            voided_at=voided_at,
            draft=draft,
            created_at=created,
            **inv_kwargs,  # type: ignore[arg-type]
        )

    def procedure(
        self,
        rng: random.Random,
        appt: Appointment,
        clinic: Clinic,
        skill: str,
        created: dt.datetime,
        wallet: int = 0,
        egift: int = 0,
        package: tuple[int, int] | None = None,
    ) -> Invoice | None:
        """The checkout invoice of a completed appointment (None when nothing was charged).

        `wallet` and `egift` are the patient's balances it may spend; `package` is (category,
        value of one session) when the patient holds a package of a category: the first
        service line of that category is redeemed from it, up to that value (a wallet debit).
        """
        services = [self.catalog.services_by_id[s] for s in appt.services]
        if not any(s.price for s in services):
            return None  # free consultations and follow-ups are not invoiced
        items: list[Item] = []
        for svc in services:
            items.append(
                service_item(svc, between(rng, svc.qty_lo, svc.qty_hi + 1), appt.provider_id)
            )
        redeem = -1
        if package is not None:
            redeem = next(
                (n for n, svc in enumerate(services) if svc.category_id == package[0]), -1
            )
        if redeem >= 0:
            assert package is not None
            it = items[redeem]
            items[redeem] = it._replace(wallet_debit=min(it.value, package[1]))
        elif rng.random() < 0.2:
            # Member pricing (a percentage) or a promotion (a fixed amount) on service lines.
            pct = pick(rng, (10, 15, 20)) if rng.random() < 0.7 else 0
            fixed = 0 if pct else pick(rng, (2_500, 5_000, 10_000))
            for n, it in enumerate(items):
                if it.unit_price == 0:
                    continue
                cut = it.value * pct // 100 if pct else min(fixed, it.value)
                items[n] = it._replace(discount=cut)
                if fixed:
                    break
        service_value = sum(i.value for i in items)
        if rng.random() < 0.22:
            pct = 10 if rng.random() < 0.3 else 0
            for p in self._retail_products(rng, pick(rng, (1, 1, 1, 2))):
                items.append(
                    retail_item(p, 2 if rng.random() < 0.1 else 1, appt.provider_id, clinic, pct)
                )
        tip = 0
        if rng.random() < _TIP_CHANCE.get(skill, 0.1):
            tip = service_value * pick(rng, (10, 15, 18, 20, 25)) // 100
        return self._settle(
            rng,
            {
                "clinic_id": clinic.id,
                "invoice_type": "procedure",
                "appointment": appt,
                "employee_id": appt.provider_id,
                "patient_id": appt.patient_id,
                "seed": rng.getrandbits(31),
            },
            tuple(items),
            tip,
            created,
            wallet=wallet,
            egift=egift,
        )

    def retail(
        self,
        rng: random.Random,
        clinic: Clinic,
        employee_id: int,
        patient_id: int,
        created: dt.datetime,
        egift: int = 0,
    ) -> Invoice:
        """A retail-only sale at the front desk (`egift`: the buyer's gift card balance)."""
        pct = pick(rng, (10, 15)) if rng.random() < 0.1 else 0
        items = tuple(
            retail_item(p, 2 if rng.random() < 0.12 else 1, employee_id, clinic, pct)
            for p in self._retail_products(rng, pick(rng, (1, 1, 2, 3)))
        )
        return self._settle(
            rng,
            {
                "clinic_id": clinic.id,
                "invoice_type": "retail",
                "appointment": None,
                "employee_id": employee_id,
                "patient_id": patient_id,
                "seed": rng.getrandbits(31),
            },
            items,
            0,
            created,
            egift=egift,
            refund_rate=0.04,
            void_rate=0.01,
        )

    def single(
        self,
        rng: random.Random,
        clinic: Clinic,
        invoice_type: str,
        employee_id: int,
        patient_id: int,
        created: dt.datetime,
        appt: Appointment | None = None,
        amount: int | None = None,
        plan: tuple[str, int] | None = None,
    ) -> Invoice:
        """A one-line invoice: membership dues, a package, a gift card, a quick pay, a deposit
        or a cancellation fee. `plan` is the membership or package (name, price) sold; a
        random one of the catalogue when None."""
        if invoice_type == "membership":
            name, price = plan or pick(rng, MEMBERSHIPS)
            item = simple_item("membership", name, CAT_MEMBERSHIP, price, employee_id)
        elif invoice_type == "package":
            name, price = plan or pick(rng, PACKAGES)
            item = simple_item("package", name, CAT_PACKAGE, price, employee_id)
        elif invoice_type == "egift_purchase":
            price = amount or pick(rng, (5_000, 10_000, 10_000, 15_000, 20_000, 25_000, 50_000))
            item = simple_item("egift", "eGift Card", CAT_EGIFT, price, employee_id)
        elif invoice_type == "deposit":
            item = simple_item("deposit", "Booking Deposit", CAT_FEES, amount or 5_000, employee_id)
        elif invoice_type == "cancellation_fee":
            item = simple_item(
                "cancellation_fee",
                "Late Cancellation / No-Show Fee",
                CAT_FEES,
                amount or 5_000,
                employee_id,
            )
        else:  # quickpay: a custom amount rung up without a catalogue service
            item = Item(
                "service",
                None,
                None,
                "Quick Pay",
                7,
                100,
                amount or between(rng, 20, 400) * 100,
                0,
                0,
                employee_id,
                0,
            )
        return self._settle(
            rng,
            {
                "clinic_id": clinic.id,
                "invoice_type": invoice_type,
                "appointment": appt,
                "employee_id": employee_id,
                "patient_id": patient_id,
                "seed": rng.getrandbits(31),
            },
            (item,),
            0,
            created,
            refund_rate=0.01,
            void_rate=0.01,
            late_rate=0.03 if invoice_type in ("membership", "cancellation_fee") else 0.0,
        )
