"""Advancing the sandbox's clock adds bookings and sales and changes the past as AR does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import httpx

from aiq.sandbox import Sandbox
from aiq.sandbox.server import RunningSandbox
from aiq.sandbox.testing import TEST_TODAY, make_config, sign_in
from tests.sandbox.helpers import fetch_all, local
from tests.sandbox.test_sandbox_data import check_invoice

ALL = ("2000-01-01", "2100-12-31")


def test_advancing_changes_the_past(sandbox_factory: Callable[..., RunningSandbox]) -> None:
    running = sandbox_factory()
    old_now = dt.datetime.combine(TEST_TODAY, dt.time(12, 0))
    with httpx.Client(base_url=running.base_url, timeout=60) as client:
        sign_in(client)
        appts_before = {a["id"]: a for a in fetch_all(client, "appointments", *ALL)}
        invoices_before = {i["id"]: i for i in fetch_all(client, "invoices", *ALL)}
        resp = client.post("/__sandbox/advance", json={"days": 30})
        assert resp.json() == {"now": "2026-12-26 12:00:00"}
        new_now = old_now + dt.timedelta(days=30)
        appts_after = {a["id"]: a for a in fetch_all(client, "appointments", *ALL)}
        invoices_after = {i["id"]: i for i in fetch_all(client, "invoices", *ALL)}

    # New bookings, with ids after every earlier one (ids follow booking order).
    new = [a for k, a in appts_after.items() if k not in appts_before]
    assert len(new) > 100 and min(a["id"] for a in new) > max(appts_before)
    assert all(old_now < local(a["booked_at"]) <= new_now for a in new)
    # Booked appointments whose time came were completed, canceled or missed.
    came_due = [
        a
        for k, a in appts_before.items()
        if a["status"] in ("booked", "confirmed")
        and k in appts_after
        and local(a["start"]) + dt.timedelta(days=7) < new_now
    ]
    assert came_due
    outcomes = {appts_after[a["id"]]["status"] for a in came_due}
    assert {"completed", "canceled", "no_show"} <= outcomes
    for a in came_due:
        assert local(appts_after[a["id"]]["updated_at"]) > old_now
    # Some were moved to another date: same id, another window.
    moved = [
        k
        for k, a in appts_before.items()
        if k in appts_after and appts_after[k]["start"][:10] != a["start"][:10]
    ]
    assert moved
    for k in moved:
        assert local(appts_after[k]["updated_at"]) > old_now
    # Some were deleted and simply no longer appear.
    assert [k for k in appts_before if k not in appts_after]
    # New sales, and late refunds and voids of invoices created before.
    new_invoices = [i for k, i in invoices_after.items() if k not in invoices_before]
    assert new_invoices and min(i["id"] for i in new_invoices) > max(invoices_before)
    assert all(local(i["created_at"]) > old_now for i in new_invoices)
    late_refunds = [
        k
        for k, i in invoices_before.items()
        if len(invoices_after[k]["refunds"]) > len(i["refunds"])
    ]
    assert late_refunds
    for k in late_refunds:
        after = invoices_after[k]
        assert after["status"] in ("refunded", "partially_refunded")
        assert any(local(r["refunded_at"]) > old_now for r in after["refunds"])
        assert local(after["updated_at"]) > old_now
    late_voids = [
        k
        for k, i in invoices_before.items()
        if i["status"] != "void" and invoices_after[k]["status"] == "void"
    ]
    assert late_voids
    assert all(local(invoices_after[k]["voided_at"]) > old_now for k in late_voids)
    unchanged = [k for k, i in invoices_before.items() if invoices_after[k] == i]
    assert len(unchanged) > 0.9 * len(invoices_before), "the rest of the past stays put"
    for inv in new_invoices:
        check_invoice(inv)


def test_one_step_or_many_gives_the_same_data() -> None:
    a, b = Sandbox(make_config(clinics=1)), Sandbox(make_config(clinics=1))
    a.advance(3)
    for _ in range(3):
        b.advance(1)
    assert a.truth() == b.truth()
    assert a.now == b.now == dt.datetime.combine(TEST_TODAY + dt.timedelta(days=3), dt.time(12, 0))


def test_an_account_generated_late_matches_one_generated_early() -> None:
    early = Sandbox(make_config(clinics=1))
    early.warm()
    early.advance(2)
    late = Sandbox(make_config(clinics=1))
    late.advance(2)  # nothing generated yet: the practice catches up on first use
    assert early.truth() == late.truth()


def test_injected_anomaly_is_a_day_of_cancellations() -> None:
    sb = Sandbox(make_config(clinics=1))
    clinic = sb.truth()["clinics"][0]["id"]
    day = TEST_TODAY - dt.timedelta(days=9)
    while day.weekday() in (0, 5, 6):
        day -= dt.timedelta(days=1)

    def day_view() -> tuple[int, int, int]:
        truth = sb.truth()
        appts = [a for a in truth["appointments"] if a["start"].startswith(day.isoformat())]
        canceled = sum(a["status"] == "canceled" for a in appts)
        invoices = sum(
            i["created_at"].startswith(day.isoformat()) and i["invoice_type"] == "procedure"
            for i in truth["invoices"]
        )
        return len(appts), canceled, invoices

    total, canceled, invoices = day_view()
    changed = sb.inject_anomaly(None, clinic, day)
    total2, canceled2, invoices2 = day_view()
    assert changed > 0 and total2 == total
    assert canceled2 == canceled + changed and canceled2 / total2 > 0.5
    assert invoices2 < invoices


def test_sandboxes_of_one_config_share_the_data_until_one_changes_it() -> None:
    """In a test process practices are kept (tests/conftest.py): sandboxes of one config read
    the same data, answers included, and the one whose clock moves or data changes goes on with
    its own copy, leaving the others as they were, over HTTP too."""
    from aiq.sandbox.server import serve_in_thread
    from tests.sandbox.helpers import page

    config = make_config(clinics=1, seed=31)
    still, moved, hit = Sandbox(config), Sandbox(config), Sandbox(config)
    assert still.practice() is moved.practice() is hit.practice()
    truth = still.truth()
    # The coming days' appointments: two days on, what was booked has happened.
    start, end = TEST_TODAY.isoformat(), (TEST_TODAY + dt.timedelta(days=2)).isoformat()
    with (
        serve_in_thread(still) as a,
        serve_in_thread(moved) as b,
        httpx.Client(base_url=a.base_url) as on_still,
        httpx.Client(base_url=b.base_url) as on_moved,
    ):
        sign_in(on_still)
        sign_in(on_moved)
        before = page(on_still, "appointments", start, end)
        assert page(on_moved, "appointments", start, end) == before
        moved.advance(2)
        clinic = truth["clinics"][0]["id"]
        hit.inject_anomaly(None, clinic, TEST_TODAY - dt.timedelta(days=3))
        assert len({id(s.practice()) for s in (still, moved, hit)}) == 3
        assert still.practice().shared and not moved.practice().shared
        assert page(on_still, "appointments", start, end) == before  # the kept answer, still right
        assert page(on_moved, "appointments", start, end) != before  # two days of changes since
    assert still.truth() == truth
    assert moved.truth() != truth and hit.truth() != truth
