"""`aiq report services` and `aiq report products`: what sold, per item and per category.

Per service, per retail product and per category (metrics.md): units (sum of quantity), item
value, discounts, net (value minus item discount) and share of the total net. Retail adds cost
(cost to company * units) and margin. The retail attach rate is the share of counted invoices
holding a ``service`` item that also hold a ``retail`` item.

These read the facts (items of counted invoices in the period), grouped in SQL: the rollups do
not keep services and products apart, only their categories.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, func, select

from aiq.reports.period import Period
from aiq.reports.sales import divide_round
from aiq.reports.scope import Scope
from aiq.reports.sync_health import Freshness, data_freshness
from aiq.store.models import Category, Invoice, InvoiceItem, Product, Service, table_of
from aiq.store.rollups import COUNTED_STATUSES

KINDS = {"service": "service", "retail": "product"}


@dataclass
class CatalogRow:
    """One service, product or category."""

    key: int | None
    name: str
    category: str | None
    quantity_milli: int = 0
    value_cents: int = 0
    discount_cents: int = 0
    cost_cents: int | None = None
    share: float | None = None

    @property
    def units(self) -> float:
        return self.quantity_milli / 1000

    @property
    def net_cents(self) -> int:
        return self.value_cents - self.discount_cents

    @property
    def margin_cents(self) -> int | None:
        return None if self.cost_cents is None else self.net_cents - self.cost_cents

    @property
    def margin_rate(self) -> float | None:
        m = self.margin_cents
        return None if m is None or not self.net_cents else m / self.net_cents

    def add(self, other: CatalogRow) -> None:
        self.quantity_milli += other.quantity_milli
        self.value_cents += other.value_cents
        self.discount_cents += other.discount_cents
        if other.cost_cents is not None:
            self.cost_cents = (self.cost_cents or 0) + other.cost_cents

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "category": self.category,
            "units": self.units,
            "value_cents": self.value_cents,
            "discount_cents": self.discount_cents,
            "net_cents": self.net_cents,
            "share": self.share,
            "cost_cents": self.cost_cents,
            "margin_cents": self.margin_cents,
            "margin_rate": self.margin_rate,
        }


@dataclass
class AttachRate:
    """Counted invoices holding a service item, and those of them also holding a retail item."""

    service_invoices: int
    with_retail: int

    @property
    def rate(self) -> float | None:
        return self.with_retail / self.service_invoices if self.service_invoices else None


@dataclass
class CatalogReport:
    """Services or retail products over a period."""

    kind: str  # "service" | "retail"
    by: str  # "item" | "category"
    scope: Scope
    period: Period
    today: date
    rows: list[CatalogRow]
    total: CatalogRow
    attach: AttachRate
    freshness: Freshness
    categories: list[CatalogRow] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return bool(self.total.quantity_milli or self.total.value_cents)


def _counted_in(scope: Scope, period: Period) -> list[Any]:
    inv = table_of(Invoice)
    cond = [
        inv.c.org_id == scope.org_id,
        inv.c.local_date >= period.start,
        inv.c.local_date <= period.end,
        inv.c.status.in_(COUNTED_STATUSES),
    ]
    if scope.clinic_id is not None:
        cond.append(inv.c.clinic_id == scope.clinic_id)
    return cond


def attach_rate(conn: Connection, scope: Scope, period: Period) -> AttachRate:
    """The retail attach rate (with a provider filter: of invoices holding their services)."""
    inv = table_of(Invoice)
    item = table_of(InvoiceItem)

    def holds(kind: str, provider: bool) -> Any:
        cond = [
            item.c.org_id == inv.c.org_id,
            item.c.invoice_id == inv.c.id,
            item.c.item_type == kind,
        ]
        if provider and scope.provider_id is not None:
            cond.append(item.c.employee_id == scope.provider_id)
        return exists().where(*cond)

    base = [*_counted_in(scope, period), holds("service", True)]
    n = conn.execute(select(func.count()).select_from(inv).where(*base)).scalar_one()
    both = conn.execute(
        select(func.count()).select_from(inv).where(*base, holds("retail", False))
    ).scalar_one()
    return AttachRate(int(n or 0), int(both or 0))


def catalog_report(
    conn: Connection,
    scope: Scope,
    period: Period,
    kind: str,
    *,
    today: date,
    now: datetime,
    interval_minutes: int,
    by: str = "item",
) -> CatalogReport:
    """Services (``kind="service"``) or retail products (``kind="retail"``) of the period."""
    inv = table_of(Invoice)
    item = table_of(InvoiceItem)
    ref = item.c.service_id if kind == "service" else item.c.product_id
    query = (
        select(
            ref,
            item.c.category_id,
            func.sum(item.c.quantity_milli),
            func.sum(item.c.value_cents),
            func.sum(item.c.discount_cents),
            func.max(item.c.name),
        )
        .select_from(
            inv.join(item, and_(item.c.org_id == inv.c.org_id, item.c.invoice_id == inv.c.id))
        )
        .where(*_counted_in(scope, period), item.c.item_type == kind)
        .group_by(ref, item.c.category_id)
    )
    if scope.provider_id is not None:
        query = query.where(item.c.employee_id == scope.provider_id)
    facts = conn.execute(query).all()

    cat = table_of(Category)
    categories = {
        int(r.id): str(r.name)
        for r in conn.execute(select(cat.c.id, cat.c.name).where(cat.c.org_id == scope.org_id))
    }
    model = table_of(Service if kind == "service" else Product)
    catalogue: dict[int, Any] = (
        {
            int(r.id): r
            for r in conn.execute(
                select(model).where(
                    model.c.org_id == scope.org_id,
                    model.c.id.in_({int(f[0]) for f in facts if f[0] is not None}),
                )
            )
        }
        if facts
        else {}
    )

    items: dict[int | None, CatalogRow] = {}
    by_cat: dict[int | None, CatalogRow] = {}
    for ref_id, cat_id, qty, value, discount, name in facts:
        rid = None if ref_id is None else int(ref_id)
        entry = catalogue.get(rid) if rid is not None else None
        cid = None if cat_id is None else int(cat_id)
        cost = None
        if kind == "retail" and entry is not None and entry.cost_cents is not None:
            cost = divide_round(int(entry.cost_cents) * int(qty or 0), 1000)
        part = CatalogRow(
            key=rid,
            name=str(entry.name) if entry is not None else str(name or f"#{rid}"),
            category=categories.get(cid) if cid is not None else None,
            quantity_milli=int(qty or 0),
            value_cents=int(value or 0),
            discount_cents=int(discount or 0),
            cost_cents=cost,
        )
        if rid in items:
            items[rid].add(part)
        else:
            items[rid] = part
        c_part = CatalogRow(
            key=cid,
            name=categories.get(cid, f"category {cid}") if cid is not None else "(no category)",
            category=None,
            quantity_milli=part.quantity_milli,
            value_cents=part.value_cents,
            discount_cents=part.discount_cents,
            cost_cents=cost,
        )
        if cid in by_cat:
            by_cat[cid].add(c_part)
        else:
            by_cat[cid] = c_part

    total = CatalogRow(key=None, name="Total", category=None)
    for row in items.values():
        total.add(row)
    for rows in (items, by_cat):
        for row in rows.values():
            row.share = row.net_cents / total.net_cents if total.net_cents else None
    total.share = 1.0 if total.net_cents else None

    def ranked(rows: dict[int | None, CatalogRow]) -> list[CatalogRow]:
        return sorted(rows.values(), key=lambda r: (-r.net_cents, -r.quantity_milli, r.name))

    return CatalogReport(
        kind=kind,
        by=by,
        scope=scope,
        period=period,
        today=today,
        rows=ranked(items) if by == "item" else ranked(by_cat),
        categories=ranked(by_cat),
        total=total,
        attach=attach_rate(conn, scope, period),
        freshness=data_freshness(conn, scope.org_id, now, interval_minutes),
    )
