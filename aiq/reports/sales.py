"""AR's Sales Summary, computed from ``rollup_sales_daily`` (see docs/reports.md).

The rollup holds, per clinic-local day, clinic, employee, category and *line*, the sums a figure
needs: item lines (``service``, ``retail``, ...) carry item value, item discounts, item tax and
wallet debits; the ``invoice`` line carries the invoice-level discount, tax, tip and processing
fee (attributed to the invoice's employee); ``payment:<method>`` lines carry payments by the
payment's own date; the ``refund`` line carries refunds by the refund's own date. Only counted
invoices feed it, and refunds only of invoices that are not void.

``sales_lines`` reads those sums for a period, grouped by one key (or none); ``summarize`` turns
the lines of one group into a ``SalesSummary``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from typing import TYPE_CHECKING, Any

from aiq.store.reader import as_date, in_list
from aiq.store.statuses import COUNTED_STATUSES

if TYPE_CHECKING:
    from aiq.reports.period import Period
    from aiq.reports.scope import Scope
    from aiq.store.reader import Reader

# Item types, as docs/reports.md groups them.
PROCEDURES = ("service",)
RETAIL = ("retail",)
MEMBERSHIPS = ("membership",)
WALLET_CREDITS = ("package", "deposit")
GIFT_CARD_SALES = ("egift",)
CANCELLATION_FEES = ("cancellation_fee",)
INVOICE_LINE = "invoice"
REFUND_LINE = "refund"
PAYMENT_PREFIX = "payment:"


@dataclass
class LineSums:
    """The sums of one rollup line within one group."""

    line: str
    quantity_milli: int = 0
    value_cents: int = 0
    discount_cents: int = 0
    tax_cents: int = 0
    tip_cents: int = 0
    fee_cents: int = 0
    wallet_debit_cents: int = 0
    amount_cents: int = 0
    invoices: int = 0

    @property
    def is_item(self) -> bool:
        return self.line not in (INVOICE_LINE, REFUND_LINE) and not self.line.startswith(
            PAYMENT_PREFIX
        )


@dataclass
class SalesSummary:
    """Every figure of AR's Sales Summary for one period (and one group of a breakdown), in cents.

    ``other_items`` is the value of item types docs/reports.md does not name (none today); it
    counts in total sales like every item.
    """

    procedures: int = 0
    retail: int = 0
    memberships: int = 0
    wallet_credits: int = 0
    gift_card_sales: int = 0
    cancellation_fees: int = 0
    other_items: int = 0
    discounts: int = 0
    tips: int = 0
    tax: int = 0
    processing_fees: int = 0
    wallet_debits: int = 0
    wallet_payments: int = 0
    gift_card_redemptions: int = 0
    refunds: int = 0
    invoices: int = 0
    payments: dict[str, int] = field(default_factory=dict)

    @property
    def item_value(self) -> int:
        """Item value over every item type (AR's subtotals, cancellation fees and retail)."""
        return (
            self.procedures
            + self.retail
            + self.memberships
            + self.wallet_credits
            + self.gift_card_sales
            + self.cancellation_fees
            + self.other_items
        )

    @property
    def sales_from_procedures_and_retail(self) -> int:
        return self.procedures + self.retail + self.tips + self.tax

    @property
    def total_sales(self) -> int:
        return self.item_value + self.tips + self.tax

    @property
    def net_sales(self) -> int:
        return (
            self.total_sales
            - self.tips
            - self.tax
            - self.wallet_debits
            - self.gift_card_redemptions
            - self.refunds
            - self.processing_fees
            - self.discounts
            - self.wallet_payments
        )

    @property
    def is_empty(self) -> bool:
        return not (self.invoices or self.refunds or self.payments or self.item_value)

    def add(self, other: SalesSummary) -> None:
        """Add ``other``'s figures into this one."""
        for f in fields(self):
            if f.name == "payments":
                for k, v in other.payments.items():
                    self.payments[k] = self.payments.get(k, 0) + v
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, Any]:
        """Every figure, derived ones included, in cents."""
        d: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        d["payments"] = dict(sorted(self.payments.items()))
        d["sales_from_procedures_and_retail"] = self.sales_from_procedures_and_retail
        d["total_sales"] = self.total_sales
        d["net_sales"] = self.net_sales
        return d


# The Sales Summary, in the order AR shows it, with the names people read.
SUMMARY_FIGURES: tuple[tuple[str, str], ...] = (
    ("procedures", "Procedures"),
    ("retail", "Retail"),
    ("memberships", "Memberships"),
    ("wallet_credits", "Wallet credits (packages, deposits)"),
    ("gift_card_sales", "Gift card sales"),
    ("cancellation_fees", "Cancellation fees"),
    ("other_items", "Other items"),
    ("tips", "Tips"),
    ("tax", "Tax"),
    ("sales_from_procedures_and_retail", "Sales from procedures and retail"),
    ("total_sales", "Total sales"),
    ("discounts", "Discounts"),
    ("wallet_debits", "Wallet debits (package redemptions)"),
    ("wallet_payments", "Wallet payments"),
    ("gift_card_redemptions", "Gift card redemptions"),
    ("refunds", "Refunds"),
    ("processing_fees", "Processing fees"),
    ("net_sales", "Net sales"),
)
HEADLINE_FIGURES = ("sales_from_procedures_and_retail", "total_sales", "net_sales")


def summarize(lines: Iterable[LineSums], *, item_level: bool = False) -> SalesSummary:
    """The Sales Summary of one group's lines.

    With ``item_level``, discounts and tax come from the item lines (so they can be attributed to
    an item's employee or category) instead of the invoice line.
    """
    s = SalesSummary()
    for ln in lines:
        if ln.is_item:
            t = ln.line
            if t in PROCEDURES:
                s.procedures += ln.value_cents
            elif t in RETAIL:
                s.retail += ln.value_cents
            elif t in MEMBERSHIPS:
                s.memberships += ln.value_cents
            elif t in WALLET_CREDITS:
                s.wallet_credits += ln.value_cents
            elif t in GIFT_CARD_SALES:
                s.gift_card_sales += ln.value_cents
            elif t in CANCELLATION_FEES:
                s.cancellation_fees += ln.value_cents
            else:
                s.other_items += ln.value_cents
            s.wallet_debits += ln.wallet_debit_cents
            if item_level:
                s.discounts += ln.discount_cents
                s.tax += ln.tax_cents
        elif ln.line == INVOICE_LINE:
            if not item_level:
                s.discounts += ln.discount_cents
                s.tax += ln.tax_cents
            s.tips += ln.tip_cents
            s.processing_fees += ln.fee_cents
            s.invoices += ln.invoices
        elif ln.line == REFUND_LINE:
            s.refunds += ln.amount_cents
        else:
            method = ln.line[len(PAYMENT_PREFIX) :]
            s.payments[method] = s.payments.get(method, 0) + ln.amount_cents
            if method == "wallet":
                s.wallet_payments += ln.amount_cents
            elif method == "egift":
                s.gift_card_redemptions += ln.amount_cents
    return s


def line_net_sales(line: LineSums) -> int:
    """One rollup line's part of net sales, in cents: the Sales Summary of that line alone.

    For callers that attribute net sales line by line (the anomaly detector's clinic-days, their
    providers and categories); the sum of the parts is the net sales of the lines together.
    """
    return summarize((line,)).net_sales


_KEYS = {
    "clinic": "clinic_id",
    "employee": "employee_id",
    "category": "category_id",
    "day": "local_date",
}


_SUMS = (
    "sum(quantity_milli), sum(value_cents), sum(discount_cents), sum(tax_cents), sum(tip_cents),"
    " sum(fee_cents), sum(wallet_debit_cents), sum(amount_cents), sum(invoices)"
)


def _rollup_where(scope: Scope, employee_filter: bool) -> str:
    where = "org_id = :org and local_date >= :start and local_date <= :end"
    if scope.clinic_id is not None:
        where += " and clinic_id = :clinic"
    if scope.provider_id is not None and employee_filter:
        where += " and employee_id = :provider"
    return where


def sales_lines(
    db: Reader,
    scope: Scope,
    start: date,
    end: date,
    key: str | None = None,
    *,
    employee_filter: bool = True,
) -> dict[Any, list[LineSums]]:
    """The rollup's line sums for ``[start, end]`` in ``scope``, grouped by ``key``.

    ``key`` is ``clinic``, ``employee``, ``category``, ``day`` or None (one group, keyed None).
    """
    kc = f"{_KEYS[key]}, " if key is not None else ""
    where = _rollup_where(scope, employee_filter)
    sql = f"select {kc}line, {_SUMS} from rollup_sales_daily where {where} group by {kc}line"
    out: dict[Any, list[LineSums]] = defaultdict(list)
    for row in db.rows(
        sql,
        **scope.params(start, end),
    ):
        k = None
        vals = list(row)
        if key is not None:
            k = vals.pop(0)
            k = as_date(k) if key == "day" else int(k)
        line = str(vals[0])
        out[k].append(LineSums(line, *(int(v or 0) for v in vals[1:])))
    return dict(out)


def period_case(column: str, periods: Sequence[Period]) -> tuple[str, dict[str, Any]]:
    """A SQL expression numbering the period ``column`` falls in (0 for the first of
    ``periods``; null in none), and its parameters: one query groups several periods.

    The periods must not overlap. Select it under an alias and group by the alias (Postgres
    takes a GROUP BY expression holding parameters for another one than the select list's).
    """
    whens = " ".join(
        f"when {column} >= :p{i}_start and {column} <= :p{i}_end then {i}"
        for i in range(len(periods))
    )
    params: dict[str, Any] = {}
    for i, p in enumerate(periods):
        params[f"p{i}_start"], params[f"p{i}_end"] = p.start, p.end
    return f"case {whens} end", params


def sales_lines_by_period(
    db: Reader, scope: Scope, periods: Sequence[Period]
) -> list[list[LineSums]]:
    """The rollup's line sums of each of ``periods`` (which must not overlap), in one query.

    ``summarize`` turns each period's lines into its Sales Summary.
    """
    out: list[list[LineSums]] = [[] for _ in periods]
    if not periods:
        return out
    bucket, params = period_case("local_date", periods)
    sql = (
        f"select {bucket} as period_no, line, {_SUMS} from rollup_sales_daily"
        f" where {_rollup_where(scope, True)} group by period_no, line"
    )
    start, end = min(p.start for p in periods), max(p.end for p in periods)
    for row in db.rows(sql, **scope.params(start, end), **params):
        if row[0] is None:
            continue  # a date between the periods
        out[int(row[0])].append(LineSums(str(row[1]), *(int(v or 0) for v in row[2:])))
    return out


@dataclass
class TicketStats:
    """The invoices an average ticket is figured over, and the ticket."""

    invoices: int
    value_cents: int
    average_cents: int | None


def average_ticket(db: Reader, scope: Scope, period: Period) -> TicketStats:
    """(procedures + retail - discounts of invoices holding either) / those invoices.

    As docs/reports.md defines it.

    With a provider filter: the provider's service and retail items, less their item discounts,
    over the counted invoices that hold one of them.
    """
    return average_tickets(db, scope, [period])[0]


def average_tickets(db: Reader, scope: Scope, periods: Sequence[Period]) -> list[TicketStats]:
    """``average_ticket`` of each of ``periods`` (which must not overlap), in one pass."""
    if not periods:
        return []
    kinds = in_list((*PROCEDURES, *RETAIL))
    base = (
        "i.org_id = :org and i.local_date >= :start and i.local_date <= :end"
        f" and i.status in {in_list(COUNTED_STATUSES)}"
    )
    if scope.clinic_id is not None:
        base += " and i.clinic_id = :clinic"
    bucket, buckets = period_case("i.local_date", periods)
    start, end = min(p.start for p in periods), max(p.end for p in periods)
    params = {**scope.params(start, end), **buckets}
    joined = "invoice i join invoice_item t on t.org_id = i.org_id and t.invoice_id = i.id"
    counts = [0] * len(periods)
    values = [0] * len(periods)
    if scope.provider_id is not None:
        for k, n, value in db.rows(
            f"select {bucket} as period_no, count(distinct i.id),"
            " coalesce(sum(t.value_cents - t.discount_cents), 0)"
            f" from {joined} where {base} and t.item_type in {kinds}"
            " and t.employee_id = :provider group by period_no",
            **params,
        ):
            if k is not None:
                counts[int(k)], values[int(k)] = int(n or 0), int(value or 0)
    else:
        for k, value in db.rows(
            f"select {bucket} as period_no, coalesce(sum(t.value_cents), 0) from {joined}"
            f" where {base} and t.item_type in {kinds} group by period_no",
            **params,
        ):
            if k is not None:
                values[int(k)] += int(value or 0)
        for k, n, discounts in db.rows(
            f"select {bucket} as period_no, count(*), coalesce(sum(i.discount_cents), 0)"
            f" from invoice i where {base} and exists (select 1 from invoice_item t"
            " where t.org_id = i.org_id"
            f" and t.invoice_id = i.id and t.item_type in {kinds}) group by period_no",
            **params,
        ):
            if k is not None:
                counts[int(k)] = int(n or 0)
                values[int(k)] -= int(discounts or 0)
    return [
        TicketStats(n, value, divide_round(value, n) if n else None)
        for n, value in zip(counts, values, strict=True)
    ]


def divide_round(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero, in integers."""
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return q if numerator >= 0 else -q


def change(current: int | float, base: int | float | None) -> float | None:
    """The change from ``base`` to ``current`` as a fraction (0.12 is +12 %); None from zero."""
    if base is None or base == 0:
        return None
    return (current - base) / abs(base)


def lines_by(groups: Mapping[Any, list[LineSums]], *, item_level: bool) -> dict[Any, SalesSummary]:
    """``summarize`` for every group."""
    return {k: summarize(v, item_level=item_level) for k, v in groups.items()}
