"""`aiq report services` and `aiq report products`: what sold, per item and per category.

Per service, per retail product and per category (docs/reports.md): units (sum of quantity), item
value, discounts, net (value minus item discount) and share of the total net. Retail adds cost
(cost to company * units) and margin. The retail attach rate is the share of counted invoices
holding a ``service`` item that also hold a ``retail`` item.

Units are counted in their kind (``unit_kind``): AR's contract has no unit field, so the kind is
read from the catalogue name ("Botox (per unit)" is in units, "Juvederm (syringe)" in syringes).
A category holds several kinds, so its units are split by kind (``units_by_kind``) rather than
summed.

These read the facts (items of counted invoices in the period), grouped in SQL: the rollups do
not keep services and products apart, only their categories.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from aiq.errors import ConfigError
from aiq.reports.sales import divide_round
from aiq.reports.sync_health import Coverage, Freshness, data_coverage, data_freshness
from aiq.store.reader import in_list
from aiq.store.statuses import COUNTED_STATUSES

if TYPE_CHECKING:
    from aiq.reports.period import Period
    from aiq.reports.scope import Scope
    from aiq.store.reader import Reader

KINDS = {"service": "service", "retail": "product"}

SESSIONS = "sessions"
"""The kind of a service whose name names no unit: one of it is one treatment."""
ITEMS = "items"
"""The kind of a retail product."""
NAMED_UNITS = {"unit": "units", "syringe": "syringes", "vial": "vials", "cycle": "cycles"}
"""The units a service's name may end with, in parentheses, and the kind each is counted in."""
_SUFFIX = re.compile(r"\(([^()]*)\)\s*$")


def unit_kind(name: str | None, item_type: str, overrides: Mapping[str, str] = {}) -> str:
    """What one of a catalogue item's quantity is, read from its name: AR has no unit field.

    First ``overrides`` (``[report] unit_kinds``): the kind of the first name part found in the
    name, ignoring case. Then a retail product is in ``items``. A service is in the unit its
    name ends with in parentheses: "(per unit)" is ``units``, "(syringe)" ``syringes``,
    "(vial)" ``vials``, "(cycle)" ``cycles`` (singular or plural, "per" or not); any other
    service is in ``sessions``.
    """
    text = (name or "").casefold()
    for part, kind in overrides.items():
        if part.casefold() in text:
            return kind
    if item_type == "retail":
        return ITEMS
    m = _SUFFIX.search(text)
    if m is None:
        return SESSIONS
    unit = m.group(1).strip().removeprefix("per ").strip()
    return NAMED_UNITS.get(unit.removesuffix("s"), SESSIONS)


def parse_unit_kinds(text: str) -> dict[str, str]:
    """``[report] unit_kinds``, ``"Hylenex=vials, Latisse=bottles"``, as {name part: kind}."""
    out: dict[str, str] = {}
    for entry in text.split(","):
        if not entry.strip():
            continue
        part, sep, kind = entry.partition("=")
        if not sep or not part.strip() or not kind.strip():
            raise ConfigError(
                f"[report] unit_kinds: {entry.strip()!r} is not NAME=KIND",
                hint='write it as "Hylenex=vials, Latisse=bottles"',
            )
        out[part.strip()] = kind.strip()
    return out


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
    unit_kind: str | None = None
    """What a unit of this service or product is (``unit_kind``); None for a category or a
    total, which may hold several kinds."""
    units_by_kind: dict[str, int] = field(default_factory=dict)
    """Quantity in thousandths per kind of unit."""

    @property
    def units(self) -> float:
        """The quantity summed over every kind (kept for scripts; see ``units_by_kind``)."""
        return self.quantity_milli / 1000

    def kinds(self) -> list[tuple[str, float]]:
        """(kind, units) of each kind, the most first."""
        return [
            (k, q / 1000)
            for k, q in sorted(self.units_by_kind.items(), key=lambda kv: (-kv[1], kv[0]))
        ]

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
        for kind, qty in other.units_by_kind.items():
            self.units_by_kind[kind] = self.units_by_kind.get(kind, 0) + qty
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
            "unit_kind": self.unit_kind,
            "units_by_kind": dict(self.kinds()),
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
    coverage: Coverage | None = None
    """Which dates of the period the sync has read (None: not looked at)."""
    categories: list[CatalogRow] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        return bool(self.total.quantity_milli or self.total.value_cents)


def _counted_in(scope: Scope, period: Period) -> tuple[str, dict[str, Any]]:
    """The counted invoices ``i`` of the period in scope: a condition and its parameters."""
    cond = (
        "i.org_id = :org and i.local_date >= :start and i.local_date <= :end"
        f" and i.status in {in_list(COUNTED_STATUSES)}"
    )
    if scope.clinic_id is not None:
        cond += " and i.clinic_id = :clinic"
    params = scope.params(period.start, period.end)
    return cond, params


def attach_rate(db: Reader, scope: Scope, period: Period) -> AttachRate:
    """The retail attach rate (with a provider filter: of invoices holding their services)."""

    def holds(kind: str, provider: bool) -> str:
        cond = f"t.org_id = i.org_id and t.invoice_id = i.id and t.item_type = '{kind}'"
        if provider and scope.provider_id is not None:
            cond += " and t.employee_id = :provider"
        return f"exists (select 1 from invoice_item t where {cond})"

    counted, params = _counted_in(scope, period)
    base = f"{counted} and {holds('service', True)}"
    (n,) = db.one(f"select count(*) from invoice i where {base}", **params)
    (both,) = db.one(
        f"select count(*) from invoice i where {base} and {holds('retail', False)}", **params
    )
    return AttachRate(int(n or 0), int(both or 0))


def catalog_report(
    db: Reader,
    scope: Scope,
    period: Period,
    kind: str,
    *,
    today: date,
    now: datetime,
    interval_minutes: int,
    by: str = "item",
    unit_kinds: Mapping[str, str] = {},
) -> CatalogReport:
    """Services (``kind="service"``) or retail products (``kind="retail"``) of the period.

    ``unit_kinds`` overrides the kind of unit read from a name (see ``unit_kind``).
    """
    ref = "t.service_id" if kind == "service" else "t.product_id"
    counted, params = _counted_in(scope, period)
    where = f"{counted} and t.item_type = {in_list([kind])}"
    if scope.provider_id is not None:
        where += " and t.employee_id = :provider"
    facts = db.rows(
        f"select {ref}, t.category_id, sum(t.quantity_milli), sum(t.value_cents),"
        " sum(t.discount_cents), max(t.name) from invoice i join invoice_item t"
        f" on t.org_id = i.org_id and t.invoice_id = i.id where {where}"
        f" group by {ref}, t.category_id",
        **params,
    )
    categories = {
        int(cid): str(name)
        for cid, name in db.rows(
            "select id, name from category where org_id = :org", org=scope.org_id
        )
    }
    # The catalogue's own names (and, for retail, the cost) of the items sold.
    ids = sorted({int(f[0]) for f in facts if f[0] is not None})
    catalogue: dict[int, tuple[str, int | None]] = {}
    if ids:
        cost_col = "cost_cents" if kind == "retail" else "null"
        table = "service" if kind == "service" else "product"
        catalogue = {
            int(rid): (str(name), None if c is None else int(c))
            for rid, name, c in db.rows(
                f"select id, name, {cost_col} from {table}"
                f" where org_id = :org and id in {in_list(ids)}",
                org=scope.org_id,
            )
        }

    items: dict[int | None, CatalogRow] = {}
    by_cat: dict[int | None, CatalogRow] = {}
    for ref_id, cat_id, qty, value, discount, name in facts:
        rid = None if ref_id is None else int(ref_id)
        entry = catalogue.get(rid) if rid is not None else None
        cid = None if cat_id is None else int(cat_id)
        cost = None
        if kind == "retail" and entry is not None and entry[1] is not None:
            cost = divide_round(entry[1] * int(qty or 0), 1000)
        shown = entry[0] if entry is not None else str(name or f"#{rid}")
        unit = unit_kind(shown, kind, unit_kinds)
        part = CatalogRow(
            key=rid,
            name=shown,
            category=categories.get(cid) if cid is not None else None,
            quantity_milli=int(qty or 0),
            value_cents=int(value or 0),
            discount_cents=int(discount or 0),
            cost_cents=cost,
            unit_kind=unit,
            units_by_kind={unit: int(qty or 0)},
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
            units_by_kind=dict(part.units_by_kind),
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
        attach=attach_rate(db, scope, period),
        freshness=data_freshness(db, scope.org_id, now, interval_minutes),
        coverage=data_coverage(db, scope.org_id, period.start, period.end, today),
    )
