"""Every Sales Summary figure of docs/reports.md on the hand-built practice, worked out by hand.

See tests/reports/handmade.py for the invoices; the arithmetic is in the comments. Each test runs
on SQLite and on Postgres (the ``hand_store`` fixture).
"""

from __future__ import annotations

from datetime import date

from aiq.reports import api
from aiq.reports.sales import SalesSummary
from aiq.store.db import Store
from tests.reports import handmade
from tests.reports.conftest import request_for

# October 2026, counted invoices: I1 I3 I4 I5a I5b I5c I6a I6b I7 I8 I11 (I2 is void, I10 a
# draft, I12 open).
OCTOBER = {
    # service items: I1 56000 + I3 20000 + I5b 28000 + I6b 20000 + I11 14000
    "procedures": 138000,
    # retail items: I1 5000 + I4 24000 + I5c 10000
    "retail": 39000,
    "memberships": 9900,  # I8 (23:30 local on 10-31 in Scottsdale: 06:30 UTC on 11-01)
    "wallet_credits": 100000,  # I5a, the package
    "gift_card_sales": 15000,  # I6a
    "cancellation_fees": 5000,  # I7
    "other_items": 0,
    "discounts": 5600,  # I1: 10 % of 56000
    "tips": 13200,  # I1 11200 (20 % of the pre-discount 56000) + I5b 2000
    "tax": 3218,  # I1 413 + I4 1980 + I5c 825
    # I1 1973 + I4 783 + I5a 2930 + I5b 88 + I6a 465 + I6b 175 + I7 175 + I8 317 + I11 233
    "processing_fees": 7139,
    "wallet_debits": 28000,  # I5b, the package redemption
    "wallet_payments": 10825,  # I5c
    "gift_card_redemptions": 15000,  # I6b
    # I3's partial refund on 10-12; I2's "refund" is of a void invoice; I4's is in November
    "refunds": 5000,
    "invoices": 11,
    # 138000 + 39000 + 13200 + 3218
    "sales_from_procedures_and_retail": 193418,
    # item value 138000 + 39000 + 9900 + 100000 + 15000 + 5000 = 306900; + 13200 + 3218
    "total_sales": 323318,
    # 323318 - 13200 - 3218 - 28000 - 15000 - 5000 - 7139 - 5600 - 10825
    "net_sales": 235336,
}


def _figures(s: SalesSummary) -> dict[str, int]:
    d = s.as_dict()
    return {k: d[k] for k in OCTOBER}


def test_every_sales_summary_figure_of_october(hand_store: Store) -> None:
    r = api.revenue(hand_store, request_for(month="2026-10"))
    assert _figures(r.summary) == OCTOBER
    # Payments by method, by payment date, counted invoices only (I2's card payment is void):
    # card 67013 + 25980 + 100000 + 2000 + 15000 + 5000 + 5000 + 9900 + 7000 = 236893
    assert r.summary.payments == {"card": 236893, "cash": 20000, "wallet": 10825, "egift": 15000}
    assert r.has_data and not r.partial


def test_average_ticket(hand_store: Store) -> None:
    r = api.revenue(hand_store, request_for(month="2026-10"))
    # Invoices holding a service or retail item: I1 I3 I4 I5b I5c I6b I11 = 7.
    # (procedures 138000 + retail 39000 - their discounts 5600) / 7 = 171400 / 7 = 24485.71
    assert (r.ticket.invoices, r.ticket.value_cents, r.ticket.average_cents) == (7, 171400, 24486)


def test_a_refund_a_month_after_its_invoice_lowers_that_month(hand_store: Store) -> None:
    r = api.revenue(hand_store, request_for(month="2026-11"))
    # November holds only I4's refund of 25980 (its invoice stays in October).
    assert r.summary.refunds == 25980
    assert r.summary.total_sales == 0
    assert r.summary.net_sales == -25980
    assert r.has_data


def test_a_day_near_midnight_west_of_utc_stays_on_its_local_date(hand_store: Store) -> None:
    r = api.revenue(hand_store, request_for(date_from="2026-10-31", date_to="2026-10-31"))
    # I8: 9900 membership at 23:30 in Scottsdale; fee 317.
    assert (r.summary.memberships, r.summary.net_sales) == (9900, 9900 - 317)
    nov1 = api.revenue(hand_store, request_for(date_from="2026-11-01", date_to="2026-11-01"))
    assert nov1.summary.is_empty
    # I9 at 23:50 on 09-30 local (06:50 UTC on 10-01) is September's.
    oct1 = api.revenue(hand_store, request_for(date_from="2026-10-01", date_to="2026-10-01"))
    assert oct1.summary.procedures == 0
    sep30 = api.revenue(hand_store, request_for(date_from="2026-09-30", date_to="2026-09-30"))
    assert sep30.summary.procedures == 14000


def test_a_month_with_no_data(hand_store: Store) -> None:
    r = api.revenue(hand_store, request_for(month="2026-06"))
    assert not r.has_data
    assert r.summary.net_sales == 0 and r.summary.invoices == 0
    assert all(p.net_sales_cents == 0 for p in r.trend) and len(r.trend) == 30


def test_comparisons_with_the_previous_month_and_a_year_earlier(hand_store: Store) -> None:
    r = api.revenue(hand_store, request_for(month="2026-10"))
    prev, ago = r.comparisons
    assert (prev.name, prev.period.start, prev.period.end) == (
        "previous",
        date(2026, 9, 1),
        date(2026, 9, 30),
    )
    # September: only I9, 14000 of Botox paid cash.
    assert prev.summary.net_sales == 14000
    assert prev.change_of("net_sales", r.summary) == (235336 - 14000, (235336 - 14000) / 14000)
    # October 2025: I13, 28000 less its 842 fee.
    assert (ago.period.start, ago.summary.net_sales) == (date(2025, 10, 1), 27158)
    assert ago.change_of("procedures", r.summary) == (138000 - 28000, 110000 / 28000)
    # Nothing to compare with: no percentage.
    assert ago.change_of("memberships", r.summary) == (9900, None)


def test_clinic_filter(hand_store: Store) -> None:
    austin = api.revenue(hand_store, request_for(month="2026-10", clinic="austin"))
    # Austin: I1 I3 I5a I5b I5c I7 I11; item value 61000 + 20000 + 100000 + 28000 + 10000 +
    # 5000 + 14000 = 238000; tips 13200; tax 413 + 825 = 1238;
    # fees 1973 + 2930 + 88 + 175 + 233 = 5399; net = 252438 - 13200 - 1238 - 28000 - 5000
    # - 5399 - 5600 - 10825 = 183176
    assert austin.summary.total_sales == 252438
    assert austin.summary.net_sales == 183176
    scottsdale = api.revenue(hand_store, request_for(month="2026-10", clinic="Scottsdale"))
    # 68900 + 1980 tax = 70880; net 70880 - 1980 - 15000 gift card - 1740 fees = 52160
    assert (scottsdale.summary.total_sales, scottsdale.summary.net_sales) == (70880, 52160)


def test_provider_filter(hand_store: Store) -> None:
    mia = api.revenue(hand_store, request_for(month="2026-10", provider="mia"))
    # Mia's items 128000 (discount 5600, tax 413, wallet debit 28000); her invoices' tips 13200,
    # fees 1973 + 88 + 175 + 233 = 2469 and I3's refund 5000.
    assert mia.summary.item_value == 128000
    assert mia.summary.total_sales == 128000 + 13200 + 413
    assert mia.summary.net_sales == 86931


def _sum(rows: list[SalesSummary]) -> SalesSummary:
    total = SalesSummary()
    for s in rows:
        total.add(s)
    return total


def test_breakdowns_add_up_to_their_totals_to_the_cent(hand_store: Store) -> None:
    for by in ("clinic", "provider", "category", "day"):
        r = api.revenue(hand_store, request_for(month="2026-10"), by=by)
        assert r.breakdown is not None
        total = _sum([row.summary for row in r.breakdown.rows])
        assert total.as_dict() == r.summary.as_dict(), by
    pm = api.revenue(hand_store, request_for(month="2026-10"), by="payment-method")
    assert pm.breakdown is not None
    assert sum(p.amount_cents for p in pm.breakdown.payments) == 282718  # 236893 + 20000 + ...
    assert [p.method for p in pm.breakdown.payments] == ["card", "cash", "egift", "wallet"]


def test_breakdown_by_clinic_provider_and_category(hand_store: Store) -> None:
    by = {}
    for dim in ("clinic", "provider", "category"):
        r = api.revenue(hand_store, request_for(month="2026-10"), by=dim)
        assert r.breakdown is not None
        by[dim] = {row.label: row.summary.net_sales for row in r.breakdown.rows}
    assert by["clinic"] == {"Austin": 183176, "Scottsdale": 52160}
    # Mia: see test_provider_filter. Noah: 53900 items + 1980 tax - 1980 - 15000 gift card -
    # fees 783 + 175 + 317. Front D.: 125000 + 825 tax - 825 - fees 2930 + 465 - wallet 10825.
    assert by["provider"] == {"Mia R.": 86931, "Noah K.": 37625, "Front D.": 110780}
    assert by["category"] == {
        "Neurotoxins": 98000 - 28000 - 5600,  # value, wallet debit, item discount
        "Facials": 40000,
        "Skincare": 39000,  # 42218 with tax, less the tax
        "Packages": 100000,
        "Gift Cards": 15000,
        "Memberships": 9900,
        "Fees & Deposits": 5000,
        # tips 13200 are sales but no category's; the rest is taken out of net sales:
        # 13200 - 13200 - 15000 - 5000 - 7139 - 10825
        "(no category)": -37964,
    }


def test_month_to_date_and_run_rate(hand_store: Store) -> None:
    r = api.revenue(hand_store, request_for(today=date(2026, 10, 15)))
    assert r.period.start == date(2026, 10, 1) and r.partial
    m = r.month_to_date
    assert m is not None
    clinics = {c.clinic_id: c for c in m.clinics}
    # Open weekdays from completed appointments of 2026-08-20..10-14: Austin Mon (10-05),
    # Tue (10-06), Wed (09-09), Thu (09-10); Scottsdale Sat (09-12).
    # Austin: October has 4 + 4 + 4 + 5 = 17 such days, 2 + 2 + 2 + 3 = 9 of them by the 15th.
    # Net sales 1-15: I1 53427 (72613 - 11200 - 413 - 1973 - 5600) + I3 15000 + I5a 97070.
    a = clinics[handmade.AUSTIN]
    assert (a.net_sales_cents, a.elapsed_open_days, a.open_days) == (165497, 9, 17)
    assert a.projection_cents == 312605  # 165497 * 17 / 9 = 312605.44
    # Scottsdale: Saturdays 3, 10 of 3, 10, 17, 24, 31; I4 23217 + I6a 14535.
    s = clinics[handmade.SCOTTSDALE]
    assert (s.net_sales_cents, s.elapsed_open_days, s.open_days) == (37752, 2, 5)
    assert s.projection_cents == 94380  # 37752 * 5 / 2
    assert (m.net_sales_cents, m.projection_cents) == (165497 + 37752, 312605 + 94380)
    # The comparison is month to date too: 1-15 September, nothing.
    assert r.comparisons[0].period.end == date(2026, 9, 15)
