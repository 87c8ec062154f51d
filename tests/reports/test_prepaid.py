"""`aiq report prepaid` on the hand-built practice (tests/reports/handmade.py), on both databases.

The hand-built October: a package of 100000 sold (I5a, Austin, a wallet credit), 28000 of it
redeemed as a wallet debit (I5b) and 10825 paid from the wallet (I5c); a gift card of 15000 sold
(I6a, Scottsdale) and redeemed in full (I6b). No sync recorded what it read, so the history begins
with the oldest sale, I13 on 2025-10-15.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest

from aiq.reports import api
from aiq.store.db import Store
from tests.helpers import aiq
from tests.reports.conftest import request_for


def test_prepaid_balances_month_by_month(hand_store: Store) -> None:
    r = api.prepaid(hand_store, request_for())  # the 12 months up to the last full month
    assert r.since == date(2025, 10, 15)
    assert [f"{m.month.start:%Y-%m}" for m in r.months] == [
        f"{y}-{m:02d}" for y, m in [(2025, 11), (2025, 12), *((2026, i) for i in range(1, 11))]
    ]
    # The opening: 15-31 October 2025, before the first month shown; nothing prepaid in it.
    assert r.opening is not None
    assert (r.opening.counted.start, r.opening.counted.end) == (
        date(2025, 10, 15),
        date(2025, 10, 31),
    )
    assert r.opening.is_empty and r.opening.balance_cents == 0
    assert all(m.is_empty and m.balance_cents == 0 for m in r.months[:-1])
    october = r.months[-1]
    w, g = october.wallet, october.gift_cards
    assert (w.credits_cents, w.refunds_cents, w.in_cents) == (100000, 0, 100000)
    assert (w.debits_cents, w.payments_cents, w.out_cents) == (28000, 10825, 38825)
    assert (w.net_cents, w.balance_cents) == (61175, 61175)
    assert (g.in_cents, g.out_cents, g.net_cents, g.balance_cents) == (15000, 15000, 0, 0)
    assert october.balance_cents == 61175 and not october.partial
    # The same figures as the Sales Summary's.
    s = api.revenue(hand_store, request_for(month="2026-10")).summary
    assert w.credits_cents == s.wallet_credits and w.debits_cents == s.wallet_debits
    assert w.payments_cents == s.wallet_payments
    assert (g.in_cents, g.out_cents) == (s.gift_card_sales, s.gift_card_redemptions)


def test_prepaid_this_month_and_the_month_the_history_begins(hand_store: Store) -> None:
    r = api.prepaid(hand_store, request_for(month="2026-11"))
    nov = r.months[-1]
    assert nov.partial and (nov.counted.start, nov.counted.end) == (
        date(2026, 11, 1),
        date(2026, 11, 26),
    )
    assert nov.is_empty and nov.wallet.balance_cents == 61175  # carried over from October
    # A last month the history begins in: only it is shown, from the history's first day.
    r = api.prepaid(hand_store, request_for(month="2025-10"))
    assert r.opening is None
    assert [(m.counted.start, m.partial) for m in r.months] == [(date(2025, 10, 15), True)]
    # Months wholly before the history: nothing to show.
    r = api.prepaid(hand_store, request_for(month="2024-05"))
    assert r.months == [] and r.closing is None and not r.has_data


def test_prepaid_per_clinic(hand_store: Store) -> None:
    austin = api.prepaid(hand_store, request_for(clinic="Austin")).months[-1]
    scottsdale = api.prepaid(hand_store, request_for(clinic="Scottsdale")).months[-1]
    assert (austin.wallet.balance_cents, austin.gift_cards.in_cents) == (61175, 0)
    assert (scottsdale.wallet.in_cents, scottsdale.gift_cards.in_cents) == (0, 15000)
    assert scottsdale.gift_cards.out_cents == 15000


def test_prepaid_through_the_cli(capsys: pytest.CaptureFixture[str], hand_url: str) -> None:
    base = ("--db", hand_url, "report", "prepaid", "--today", "2026-11-26")
    r = aiq(capsys, *base)
    assert r.code == 0, r.err
    assert "Prepaid liability" in r.out and "since 2025-10-15" in r.out
    assert "Nov 2025–Oct 2026" in r.out and "from 2025-10-15" in r.out
    assert "$611.75 in wallets" in r.out  # owed on 31 October
    assert "what patients held before then is not known" in r.out

    doc = json.loads(aiq(capsys, *base, "-m", "2026-11", "-f", "json").out)
    assert doc["report"] == "prepaid" and doc["since"] == "2025-10-15"
    assert doc["period"]["start"] == "2025-12-01" and doc["period"]["end"] == "2026-11-30"
    assert doc["opening"]["to"] == "2025-11-30" and doc["opening"]["balance_cents"] == 0
    oct_, nov = doc["months"][-2:]
    assert oct_["month"] == "2026-10" and oct_["wallet"]["in_cents"] == 100000
    assert oct_["wallet"]["out_cents"] == 38825 and oct_["gift_cards"]["balance_cents"] == 0
    assert (nov["month"], nov["to"], nov["partial"]) == ("2026-11", "2026-11-26", True)
    assert doc["balance"] == {
        "as_of": "2026-11-26",
        "wallet_cents": 61175,
        "gift_cards_cents": 0,
        "total_cents": 61175,
    }

    r = aiq(capsys, *base, "-f", "csv", "--clinic", "Scottsdale")
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert len(rows) == 12 and rows[-1]["month"] == "2026-10"
    assert rows[-1]["gift_cards_in_cents"] == "15000" and rows[-1]["wallet_in_cents"] == "0"
    assert rows[-1]["since"] == "2025-10-15"
    lines = [json.loads(line) for line in aiq(capsys, *base, "-f", "ndjson").out.splitlines()]
    assert lines[-1]["wallet_balance_cents"] == 61175

    r = aiq(capsys, *base, "-m", "2024-05")
    assert r.code == 0 and "The synced history begins 2025-10-15, after" in r.out
    r = aiq(capsys, *base, "-m", "2027-01")
    assert r.code == 2 and "in the future" in r.err
