"""On the sandbox's data, synced over real HTTP, the revenue report equals a direct computation
from the sandbox's ground truth, for several months and clinics, on SQLite and Postgres.

The direct computation reads the invoices exactly as AR serialises them (decimal strings, local
timestamps) and applies docs/reports.md with nothing of aiq's in between: no mapping, no rollups.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from aiq.reports import api
from aiq.reports.api import ReportRequest
from aiq.reports.period import Period, parse_month
from aiq.sandbox.server import RunningSandbox
from aiq.store.db import Store, open_store
from tests.reports.conftest import module_database
from tests.sync.conftest import SyncedOrg, copy_synced_org

COUNTED = {"paid", "partially_paid", "refunded", "partially_refunded"}
ITEM_FIGURE = {
    "service": "procedures",
    "retail": "retail",
    "membership": "memberships",
    "package": "wallet_credits",
    "deposit": "wallet_credits",
    "egift": "gift_card_sales",
    "cancellation_fee": "cancellation_fees",
}


def cents(text: Any) -> int:
    return int((Decimal(str(text or "0")) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def truth_summary(truth: dict[str, Any], period: Period, clinic: int | None) -> dict[str, int]:
    """docs/reports.md's Sales Summary straight from the sandbox's invoices."""
    f: Counter[str] = Counter()

    def inside(ts: str | None, fallback: str) -> bool:
        day = date.fromisoformat((ts or fallback)[:10])
        return period.start <= day <= period.end

    for inv in truth["invoices"]:
        if clinic is not None and inv["clinic_id"] != clinic:
            continue
        counted = inv["status"] in COUNTED
        if counted and inside(inv["created_at"], ""):
            f["invoices"] += 1
            for it in inv["items"]:
                value = Decimal(it["unit_price"]) * Decimal(it["quantity"]) * 100
                value_cents = int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
                f[ITEM_FIGURE.get(it["item_type"], "other_items")] += value_cents
                f["wallet_debits"] += cents(it["wallet_debit"])
            f["discounts"] += cents(inv["discount"])
            f["tips"] += cents(inv["tip"])
            f["tax"] += cents(inv["tax"])
            f["processing_fees"] += cents(inv["processing_fee"])
        if counted:
            for p in inv["payments"]:
                if inside(p["paid_at"], inv["created_at"]):
                    if p["method"] == "wallet":
                        f["wallet_payments"] += cents(p["amount"])
                    elif p["method"] == "egift":
                        f["gift_card_redemptions"] += cents(p["amount"])
        if inv["status"] != "void":
            for rf in inv["refunds"]:
                if inside(rf["refunded_at"], inv["created_at"]):
                    f["refunds"] += cents(rf["amount"])
    items = sum(f[k] for k in set(ITEM_FIGURE.values()) | {"other_items"})
    f["sales_from_procedures_and_retail"] = f["procedures"] + f["retail"] + f["tips"] + f["tax"]
    f["total_sales"] = items + f["tips"] + f["tax"]
    f["net_sales"] = f["total_sales"] - sum(
        f[k]
        for k in (
            "tips",
            "tax",
            "wallet_debits",
            "gift_card_redemptions",
            "refunds",
            "processing_fees",
            "discounts",
            "wallet_payments",
        )
    )
    return dict(f)


def truth_appointments(truth: dict[str, Any], period: Period, clinic: int | None) -> Counter[str]:
    c: Counter[str] = Counter()
    for a in truth["appointments"]:
        if a["kind"] == "out_of_office" or (clinic is not None and a["clinic_id"] != clinic):
            continue
        if period.start <= date.fromisoformat(a["start"][:10]) <= period.end:
            c["all"] += 1
            c[a["status"]] += 1
    return c


def test_revenue_matches_the_sandbox_truth(synced: Store, served: RunningSandbox) -> None:
    store = synced
    sb = served.sandbox
    truth = sb.truth()
    today = sb.now.date()
    clinics = [c["id"] for c in truth["clinics"]]
    assert len(clinics) >= 2
    months = ["2025-12", "2026-03", "2026-07", "2026-10", f"{today:%Y-%m}"]
    checked = 0
    for month in months:
        period = parse_month(month)
        for clinic in [None, *clinics]:
            name = (
                None
                if clinic is None
                else next(c["name"] for c in truth["clinics"] if c["id"] == clinic)
            )
            req = ReportRequest(month=month, clinic=name, today=today)
            got = api.revenue(store, req).summary.as_dict()
            want = truth_summary(truth, period, clinic)
            assert want["invoices"] > 0, (month, clinic)
            diff = {k: (v, got[k]) for k, v in want.items() if got[k] != v}
            assert not diff, f"{month} clinic {clinic}: (truth, aiq) {diff}"
            checked += 1
            appts = api.appointments(store, req).summary
            t = truth_appointments(truth, period, clinic)
            assert (appts.booked, appts.completed, appts.canceled, appts.no_shows) == (
                t["all"],
                t["completed"],
                t["canceled"],
                t["no_show"],
            ), (month, clinic)
    assert checked == len(months) * (len(clinics) + 1)
    # A breakdown by clinic adds up to the practice, on real data too.
    r = api.revenue(store, ReportRequest(month="2026-10", today=today), by="category")
    assert r.breakdown is not None
    assert sum(row.summary.net_sales for row in r.breakdown.rows) == r.summary.net_sales
    assert sum(row.summary.discounts for row in r.breakdown.rows) == r.summary.discounts


def test_revenue_still_matches_after_the_clock_moves(
    synced_org: SyncedOrg, fresh_served: RunningSandbox
) -> None:
    """Late refunds, voids and late payments of earlier months reach the rollups on re-sync."""
    sb = fresh_served.sandbox
    store, run_sync = synced_org.store, synced_org.sync  # after a first sync of the sandbox
    before = {
        m: api.revenue(store, ReportRequest(month=m, today=sb.now.date())).summary
        for m in ("2026-10", "2026-11")
    }
    sb.advance(days=24)
    report = run_sync(fresh_served)
    assert report.status == "ok", report.errors
    truth = sb.truth()
    today = sb.now.date()
    changed = False
    for month in ("2026-10", "2026-11", f"{today:%Y-%m}"):
        got = api.revenue(store, ReportRequest(month=month, today=today)).summary.as_dict()
        want = truth_summary(truth, parse_month(month), None)
        diff = {k: (v, got[k]) for k, v in want.items() if got[k] != v}
        assert not diff, f"{month}: (truth, aiq) {diff}"
        if month in before and before[month].as_dict() != got:
            changed = True
    assert changed  # the past did change (refunds, voids, late payments), and aiq followed


def truth_prepaid(
    truth: dict[str, Any], periods: list[Period], clinic: int | None
) -> list[Counter[str]]:
    """docs/reports.md's prepaid flows of each period, straight from the sandbox's invoices."""
    out: list[Counter[str]] = [Counter() for _ in periods]

    def add(ts: str | None, fallback: str, figure: str, amount: int) -> None:
        day = date.fromisoformat((ts or fallback)[:10])
        for i, p in enumerate(periods):
            if p.start <= day <= p.end:
                out[i][figure] += amount

    for inv in truth["invoices"]:
        if clinic is not None and inv["clinic_id"] != clinic:
            continue
        created = inv["created_at"]
        if inv["status"] in COUNTED:
            for it in inv["items"]:
                value = cents(Decimal(it["unit_price"]) * Decimal(it["quantity"]))
                if it["item_type"] in ("package", "deposit"):
                    add(created, "", "wallet_credits", value)
                elif it["item_type"] == "egift":
                    add(created, "", "gift_in", value)
                add(created, "", "wallet_debits", cents(it["wallet_debit"]))
            for p in inv["payments"]:
                if p["method"] == "wallet":
                    add(p["paid_at"], created, "wallet_payments", cents(p["amount"]))
                elif p["method"] == "egift":
                    add(p["paid_at"], created, "gift_out", cents(p["amount"]))
        if inv["status"] != "void":
            for rf in inv["refunds"]:
                if rf["destination"] == "wallet":
                    add(rf["refunded_at"], created, "wallet_refunds", cents(rf["amount"]))
    return out


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def synced(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    served: RunningSandbox,
) -> Iterator[Store]:
    """The module's sandbox, synced into each database, for the tests that only read it (a copy
    of the run's synced org: the same sandbox config, synced once a run)."""
    with module_database(request.param, tmp_path_factory) as url:
        copy_synced_org(url)
        store = open_store(url, migrate=False)
        try:
            yield store
        finally:
            store.dispose()


def test_prepaid_matches_the_sandbox_truth(synced: Store, served: RunningSandbox) -> None:
    store = synced
    sb = served.sandbox
    truth = sb.truth()
    today = sb.now.date()
    first_sale = min(date.fromisoformat(inv["created_at"][:10]) for inv in truth["invoices"])
    clinics = {c["id"]: c["name"] for c in truth["clinics"]}
    checked = 0
    seen: Counter[str] = Counter()
    for month in ("2026-03", "2026-10", f"{today:%Y-%m}"):
        for clinic in [None, *clinics]:
            name = None if clinic is None else clinics[clinic]
            r = api.prepaid(store, ReportRequest(month=month, clinic=name, today=today))
            assert r.since <= first_sale  # the whole history is counted
            assert r.coverage is not None and r.coverage.complete
            rows = [*([r.opening] if r.opening is not None else []), *r.months]
            want = truth_prepaid(truth, [m.counted for m in rows], clinic)
            # Nothing before the history's first date, so the balances are the truth's sums.
            wallet = gift = 0
            for m, t in zip(rows, want, strict=True):
                w_in = t["wallet_credits"] + t["wallet_refunds"]
                w_out = t["wallet_debits"] + t["wallet_payments"]
                wallet += w_in - w_out
                gift += t["gift_in"] - t["gift_out"]
                got = (
                    m.wallet.credits_cents,
                    m.wallet.refunds_cents,
                    m.wallet.debits_cents,
                    m.wallet.payments_cents,
                    m.wallet.in_cents,
                    m.wallet.out_cents,
                    m.wallet.balance_cents,
                    m.gift_cards.in_cents,
                    m.gift_cards.out_cents,
                    m.gift_cards.balance_cents,
                )
                assert got == (
                    t["wallet_credits"],
                    t["wallet_refunds"],
                    t["wallet_debits"],
                    t["wallet_payments"],
                    w_in,
                    w_out,
                    wallet,
                    t["gift_in"],
                    t["gift_out"],
                    gift,
                ), (month, clinic, m.month.label)
                seen.update(+t)
                checked += 1
    assert checked >= 3 * 3 * 12
    # Every flow was there to be counted, refunds into the wallet too.
    assert set(seen) == {
        "wallet_credits",
        "wallet_refunds",
        "wallet_debits",
        "wallet_payments",
        "gift_in",
        "gift_out",
    }
    # This month runs to today.
    now = api.prepaid(store, ReportRequest(month=f"{today:%Y-%m}", today=today)).months[-1]
    assert now.partial and now.counted.end == today


UNIT_SUFFIXES = {
    "(per unit)": "units",
    "(syringe)": "syringes",
    "(vial)": "vials",
    "(cycle)": "cycles",
}


def truth_units(
    truth: dict[str, Any], period: Period, clinic: int | None
) -> tuple[dict[int | None, Counter[str]], dict[int | None, Counter[str]]]:
    """Units of services sold by kind, per service and per category, from the sandbox's
    invoices; the kind read from the catalogue name's last parenthesis (docs/reports.md)."""
    names = {s["id"]: s["name"] for s in truth["services"]}
    by_service: dict[int | None, Counter[str]] = {}
    by_category: dict[int | None, Counter[str]] = {}
    for inv in truth["invoices"]:
        if inv["status"] not in COUNTED or (clinic is not None and inv["clinic_id"] != clinic):
            continue
        if not period.start <= date.fromisoformat(inv["created_at"][:10]) <= period.end:
            continue
        for it in inv["items"]:
            if it["item_type"] != "service":
                continue
            name = names.get(it["service_id"], "")
            kind = next((k for sfx, k in UNIT_SUFFIXES.items() if name.endswith(sfx)), "sessions")
            milli = int(Decimal(it["quantity"]) * 1000)
            by_service.setdefault(it["service_id"], Counter())[kind] += milli
            by_category.setdefault(it["category_id"], Counter())[kind] += milli
    return by_service, by_category


def test_units_by_kind_match_the_sandbox_truth(synced: Store, served: RunningSandbox) -> None:
    truth = served.sandbox.truth()
    today = served.sandbox.now.date()
    clinics = {c["id"]: c["name"] for c in truth["clinics"]}
    kinds: set[str] = set()
    for month in ("2026-03", "2026-10"):
        for clinic in [None, *clinics]:
            req = ReportRequest(
                month=month, clinic=None if clinic is None else clinics[clinic], today=today
            )
            want_services, want_categories = truth_units(truth, parse_month(month), clinic)
            r = api.catalog(synced, req, "service")
            got = {row.key: Counter(row.units_by_kind) for row in r.rows}
            assert got == want_services, (month, clinic)
            for row in r.rows:  # one kind per service, shown with its units
                assert row.unit_kind is not None and list(row.units_by_kind) == [row.unit_kind]
            cats = api.catalog(synced, req, "service", by="category")
            got = {row.key: Counter(row.units_by_kind) for row in cats.rows}
            assert got == want_categories, (month, clinic)
            assert sum(cats.total.units_by_kind.values()) == cats.total.quantity_milli
            kinds |= set(r.total.units_by_kind)
    assert {"units", "syringes", "vials", "sessions"} <= kinds


def test_trend_matches_the_sandbox_truth(synced: Store, served: RunningSandbox) -> None:
    truth = served.sandbox.truth()
    today = served.sandbox.now.date()
    clinics = {c["id"]: c["name"] for c in truth["clinics"]}
    for month, clinic in (("2026-10", None), (f"{today:%Y-%m}", next(iter(clinics)))):
        req = ReportRequest(
            month=month, clinic=None if clinic is None else clinics[clinic], today=today
        )
        r = api.trend(synced, req)
        assert len(r.months) == 12 and r.has_data
        synced_from = r.coverage.synced_from if r.coverage is not None else None
        assert synced_from is not None
        for m in r.months:
            want = truth_summary(truth, m.counted, clinic)
            appts = truth_appointments(truth, m.counted, clinic)
            got = m.values
            assert got["net_sales_cents"].value == want["net_sales"], (month, m.month.label)
            assert got["completed"].value == appts["completed"], (month, m.month.label)
            resolved = appts["completed"] + appts["canceled"] + appts["no_show"]
            assert got["completion_rate"].value == (
                appts["completed"] / resolved if resolved else None
            )
            # A year earlier: the truth's figures where the sync read that month, else none.
            assert m.year_ago_synced == (m.year_ago.start >= synced_from), m.year_ago
            ago = got["net_sales_cents"].year_ago
            if m.year_ago_synced:
                assert ago == truth_summary(truth, m.year_ago, clinic)["net_sales"]
            else:
                assert ago is None and got["completed"].year_ago is None
        # The average ticket is the revenue report's, month by month.
        for m in r.months[-3:]:
            rev = api.revenue(
                synced,
                ReportRequest(month=f"{m.month.start:%Y-%m}", clinic=req.clinic, today=today),
            )
            assert m.values["average_ticket_cents"].value == rev.ticket.average_cents
        assert r.months[-1].partial == (month == f"{today:%Y-%m}")
