"""`aiq report prepaid`: what the practice owes its patients, month by month (docs/reports.md).

Two balances, each a running sum since the synced history begins (what patients held before
then is unknown):

- wallets: credited by the item value of ``package`` and ``deposit`` items (the Sales Summary's
  wallet credits) and by refunds paid into the wallet; spent by wallet debits (package
  redemptions) and wallet payments;
- gift cards: sold (``egift`` items, the Sales Summary's gift card sales), redeemed (payments by
  gift card).

Everything but the refunds comes from ``rollup_sales_daily`` through the Sales Summary's own
figures (``sales_lines_by_period`` and ``summarize``), one query for every month; the rollup does
not keep a refund's destination, so refunds into wallets are read from the facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from aiq.reports.period import Period, months_up_to
from aiq.reports.sales import SalesSummary, period_case, sales_lines_by_period, summarize
from aiq.reports.sync_health import Coverage, Freshness, data_coverage, data_freshness
from aiq.store.reader import as_date

if TYPE_CHECKING:
    from aiq.reports.scope import Scope
    from aiq.store.reader import Reader

MONTHS = 12
"""Months shown, the last being the one asked for (by default the last full month)."""

WALLET_REFUND = "wallet"
"""The refund destination that puts the money back into the patient's wallet."""


@dataclass
class Balance:
    """One balance (wallets or gift cards) over one month: what came in, what went out, and
    what was left at the end of the month (since the history began)."""

    in_cents: int = 0
    out_cents: int = 0
    balance_cents: int = 0

    @property
    def net_cents(self) -> int:
        """The month's change: in - out."""
        return self.in_cents - self.out_cents


@dataclass
class WalletBalance(Balance):
    """The wallets' balance, with what its in and out are made of."""

    credits_cents: int = 0
    """Item value of package and deposit items (the Sales Summary's wallet credits)."""
    refunds_cents: int = 0
    """Refunds paid into the wallet."""
    debits_cents: int = 0
    """Item wallet debits: package value redeemed (the Sales Summary's wallet debits)."""
    payments_cents: int = 0
    """Payments made with the wallet (the Sales Summary's wallet payments)."""


@dataclass
class PrepaidMonth:
    """Both balances over one month (or the opening stretch before the first month shown)."""

    month: Period
    """The calendar month (for the opening: the dates it covers)."""
    counted: Period
    """The dates counted: from the later of the month's first day and the history's, to the
    earlier of its last day and today."""
    wallet: WalletBalance
    gift_cards: Balance

    @property
    def partial(self) -> bool:
        """Only part of the month is counted: it began before the history, or is still running."""
        return not self.counted.month

    @property
    def balance_cents(self) -> int:
        """What the practice owes at the end of the month: wallets + gift cards."""
        return self.wallet.balance_cents + self.gift_cards.balance_cents

    @property
    def is_empty(self) -> bool:
        w, g = self.wallet, self.gift_cards
        return not (w.in_cents or w.out_cents or g.in_cents or g.out_cents)


@dataclass
class PrepaidReport:
    """The answer to "how much prepaid money do we owe our patients?"."""

    scope: Scope
    period: Period
    """The months asked for, from the first month's first day to the last month's last."""
    since: date
    """The first date counted: where the synced history begins. The balances before it are not
    known, so every balance here is the change since that date."""
    today: date
    months: list[PrepaidMonth]
    """The months shown, oldest first: those of ``period`` that end on or after ``since``."""
    freshness: Freshness
    coverage: Coverage | None = None
    """Which dates from ``since`` to the last month's end the sync has read (a gap anywhere
    changes every balance after it); None: not looked at."""
    opening: PrepaidMonth | None = None
    """From ``since`` to the day before the first month shown, when the history begins earlier:
    its flows, and the balances the first month starts from."""

    @property
    def has_data(self) -> bool:
        return any(
            not m.is_empty for m in (*self.months, *([self.opening] if self.opening else []))
        )

    @property
    def closing(self) -> PrepaidMonth | None:
        """The last month shown."""
        return self.months[-1] if self.months else None


def history_start(db: Reader, scope: Scope, synced_from: date | None) -> date | None:
    """Where the synced history begins: the oldest date a sync has read (``synced_from``), or
    an older sale if the database holds one (the oldest sale when no sync recorded what it
    read); None when there is nothing at all."""
    (oldest,) = db.one(
        "select min(local_date) from rollup_sales_daily where org_id = :org", org=scope.org_id
    )
    found = [synced_from, None if oldest is None else as_date(oldest)]
    dates = [d for d in found if d is not None]
    return min(dates) if dates else None


def wallet_refunds(db: Reader, scope: Scope, periods: list[Period]) -> list[int]:
    """Refunds paid into the wallet, by the refund's local date, of invoices that are not void
    (as the Sales Summary's refunds), summed per period."""
    out = [0] * len(periods)
    if not periods:
        return out
    bucket, buckets = period_case("r.local_date", periods)
    where = (
        "r.org_id = :org and r.local_date >= :start and r.local_date <= :end"
        " and r.destination = :destination and i.status <> 'void'"
    )
    if scope.clinic_id is not None:
        where += " and i.clinic_id = :clinic"
    start, end = periods[0].start, periods[-1].end
    for k, amount in db.rows(
        f"select {bucket} as period_no, sum(r.amount_cents) from refund r join invoice i"
        f" on i.org_id = r.org_id and i.id = r.invoice_id where {where} group by period_no",
        **scope.params(start, end),
        **buckets,
        destination=WALLET_REFUND,
    ):
        if k is not None:
            out[int(k)] = int(amount or 0)
    return out


def _flows(summary: SalesSummary, refunds: int) -> tuple[WalletBalance, Balance]:
    """Both balances' in and out, from the Sales Summary's figures and the wallet refunds."""
    wallet = WalletBalance(
        credits_cents=summary.wallet_credits,
        refunds_cents=refunds,
        debits_cents=summary.wallet_debits,
        payments_cents=summary.wallet_payments,
    )
    wallet.in_cents = wallet.credits_cents + wallet.refunds_cents
    wallet.out_cents = wallet.debits_cents + wallet.payments_cents
    gift = Balance(in_cents=summary.gift_card_sales, out_cents=summary.gift_card_redemptions)
    return wallet, gift


def prepaid_report(
    db: Reader,
    scope: Scope,
    last: Period,
    *,
    today: date,
    now: datetime,
    interval_minutes: int,
    months: int = MONTHS,
) -> PrepaidReport:
    """Both balances for the ``months`` months up to ``last``'s month, since the history began.

    A month still running counts to ``today``; months that end before the history begins are
    not shown. One query of the rollup and one of the refunds, whatever the history's length.
    """
    calendar = months_up_to(last, months)
    asked = Period(calendar[0].start, calendar[-1].end)
    synced_from = data_coverage(db, scope.org_id, asked.start, asked.end, today).synced_from
    since = history_start(db, scope, synced_from) or asked.start
    shown = [m for m in calendar if m.end >= since and m.start <= today]
    counted = []
    for m in shown:
        start, end = max(m.start, since), min(m.end, today)
        counted.append(Period(start, end, (start, end) == (m.start, m.end)))
    periods = list(counted)
    opening_span = None
    if shown and since < shown[0].start:
        opening_span = Period(since, shown[0].start - timedelta(days=1))
        periods.insert(0, opening_span)
    summaries = [summarize(lines) for lines in sales_lines_by_period(db, scope, periods)]
    refunds = wallet_refunds(db, scope, periods)
    rows = []
    wallet_total = gift_total = 0
    for s, r in zip(summaries, refunds, strict=True):
        wallet, gift = _flows(s, r)
        wallet_total += wallet.net_cents
        gift_total += gift.net_cents
        wallet.balance_cents, gift.balance_cents = wallet_total, gift_total
        rows.append((wallet, gift))
    opening = None
    if opening_span is not None:
        wallet, gift = rows.pop(0)
        opening = PrepaidMonth(opening_span, opening_span, wallet, gift)
    # A gap anywhere from the history's first date on changes every balance after it.
    end = counted[-1].end if counted else asked.end
    return PrepaidReport(
        scope=scope,
        period=asked,
        since=since,
        today=today,
        months=[
            PrepaidMonth(m, c, w, g) for m, c, (w, g) in zip(shown, counted, rows, strict=True)
        ],
        freshness=data_freshness(db, scope.org_id, now, interval_minutes),
        coverage=data_coverage(db, scope.org_id, max(since, synced_from or since), end, today),
        opening=opening,
    )
