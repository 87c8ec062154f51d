"""The generated data: AR's invariants on every invoice, realistic shares, determinism, PHI."""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from aiq.sandbox import PHI_MARKERS, Sandbox, phi_values
from aiq.sandbox.server import RunningSandbox
from aiq.sandbox.testing import TEST_TODAY, make_config, sign_in
from tests.sandbox.helpers import cents, fetch_all, get_all, local

YEAR = ((TEST_TODAY - dt.timedelta(days=365)).isoformat(), TEST_TODAY.isoformat())
NOW = dt.datetime.combine(TEST_TODAY, dt.time(12, 0))


@pytest.fixture(scope="module")
def year_invoices(api: httpx.Client) -> list[dict[str, Any]]:
    return fetch_all(api, "invoices", *YEAR)


@pytest.fixture(scope="module")
def year_appointments(api: httpx.Client) -> list[dict[str, Any]]:
    return fetch_all(api, "appointments", *YEAR)


def check_invoice(inv: dict[str, Any]) -> None:
    """AR's invariants (docs/ar-api.md), exact in cents."""
    items = inv["items"]
    assert items and len({i["id"] for i in items}) == len(items)
    value = 0
    for it in items:
        qty = cents(it["quantity"])  # hundredths
        unit = cents(it["unit_price"])
        assert unit * qty % 100 == 0, "item value is a whole number of cents"
        line = unit * qty // 100
        value += line
        assert cents(it["total"]) == line - cents(it["discount"]) + cents(it["tax"])
        assert 0 <= cents(it["discount"]) <= line
        assert 0 <= cents(it["wallet_debit"]) <= line - cents(it["discount"])
        if it["item_type"] != "retail":
            assert cents(it["tax"]) == 0, "tax is charged on retail only"
        if it["item_type"] == "service" and it["name"] != "Quick Pay":
            assert it["service_id"] is not None and it["product_id"] is None
        if it["item_type"] == "retail":
            assert it["product_id"] is not None and it["service_id"] is None
    subtotal, discount, tax, tip = (cents(inv[k]) for k in ("subtotal", "discount", "tax", "tip"))
    total = cents(inv["total"])
    assert subtotal == value
    assert discount == sum(cents(i["discount"]) for i in items)
    assert tax == sum(cents(i["tax"]) for i in items)
    assert total == subtotal - discount + tax + tip
    service_value = sum(
        cents(i["unit_price"]) * cents(i["quantity"]) // 100
        for i in items
        if i["item_type"] == "service"
    )
    assert tip <= service_value * 25 // 100, "tips are figured on the pre-discount service value"
    paid = sum(cents(p["amount"]) for p in inv["payments"])
    wallet_debit = sum(cents(i["wallet_debit"]) for i in items)
    refunded = sum(cents(r["amount"]) for r in inv["refunds"])
    created = local(inv["created_at"])
    card = [cents(p["amount"]) for p in inv["payments"] if p["method"] == "card"]
    assert cents(inv["processing_fee"]) == sum((a * 29 + 500) // 1000 + 30 for a in card)
    for p in inv["payments"]:
        assert local(p["paid_at"]) >= created and cents(p["amount"]) > 0
    for r in inv["refunds"]:
        assert local(r["refunded_at"]) > created and cents(r["amount"]) > 0
    assert refunded <= paid <= total
    status = inv["status"]
    if status in ("paid", "refunded", "partially_refunded"):
        assert paid + wallet_debit == total, "payments and wallet debits settle the total"
        assert inv["paid_at"] is not None
    if status == "partially_paid":
        assert 0 < paid < total - wallet_debit and inv["paid_at"] is None
    if status in ("open", "draft"):
        assert paid == 0 or status == "open"
    assert (status == "refunded") == (refunded > 0 and refunded == paid and status != "void")
    assert (status == "partially_refunded") == (0 < refunded < paid and status != "void")
    assert (inv["voided_at"] is not None) == (status == "void")
    assert local(inv["updated_at"]) >= created


def test_every_invoice_of_a_year_keeps_ars_invariants(
    year_invoices: list[dict[str, Any]],
) -> None:
    assert len(year_invoices) > 5_000
    for inv in year_invoices:
        check_invoice(inv)


def test_invoices_cover_every_kind_of_sale(year_invoices: list[dict[str, Any]]) -> None:
    types = collections.Counter(i["invoice_type"] for i in year_invoices)
    assert set(types) == {
        "procedure",
        "retail",
        "quickpay",
        "membership",
        "egift_purchase",
        "package",
        "deposit",
        "cancellation_fee",
    }
    statuses = collections.Counter(i["status"] for i in year_invoices)
    assert set(statuses) == {
        "draft",
        "open",
        "partially_paid",
        "paid",
        "void",
        "refunded",
        "partially_refunded",
    }
    assert statuses["paid"] / len(year_invoices) > 0.9
    methods = {p["method"] for i in year_invoices for p in i["payments"]}
    assert methods == {
        "card",
        "cash",
        "check",
        "wallet",
        "egift",
        "cherry",
        "care_credit",
        "klarna",
    }
    items = [it for i in year_invoices for it in i["items"]]
    assert {it["item_type"] for it in items} == {
        "service",
        "retail",
        "membership",
        "package",
        "egift",
        "cancellation_fee",
        "deposit",
    }
    assert any(cents(it["wallet_debit"]) for it in items), "package redemptions"
    assert any(len(i["payments"]) > 1 for i in year_invoices), "split payments"
    assert any(cents(i["discount"]) for i in year_invoices)
    assert any(cents(i["tip"]) for i in year_invoices)
    assert any(cents(i["tax"]) for i in year_invoices)
    # Refunds land days or weeks after the invoice; some invoices are voided later too.
    gaps = [
        (local(r["refunded_at"]) - local(i["created_at"])).days
        for i in year_invoices
        for r in i["refunds"]
    ]
    assert min(gaps) >= 1 and max(gaps) >= 21
    void_gaps = [
        (local(i["voided_at"]) - local(i["created_at"])).days
        for i in year_invoices
        if i["voided_at"]
    ]
    assert 0 in void_gaps and max(void_gaps) >= 1
    appointment_invoices = [i for i in year_invoices if i["invoice_type"] == "procedure"]
    assert all(i["appointment_id"] for i in appointment_invoices)
    fees = [i for i in year_invoices if i["invoice_type"] == "cancellation_fee"]
    assert fees and all(i["appointment_id"] for i in fees)


def test_appointment_shares(
    year_appointments: list[dict[str, Any]], year_invoices: list[dict[str, Any]]
) -> None:
    past = [
        a
        for a in year_appointments
        if a["kind"] != "out_of_office" and local(a["start"]) < NOW - dt.timedelta(days=7)
    ]
    statuses = collections.Counter(a["status"] for a in past)
    resolved = statuses["completed"] + statuses["canceled"] + statuses["no_show"]
    assert resolved == len(past), "a week after, every appointment is resolved"
    assert 0.76 <= statuses["completed"] / resolved <= 0.86
    assert 0.12 <= statuses["canceled"] / resolved <= 0.16
    assert 0.03 <= statuses["no_show"] / resolved <= 0.05
    canceled = [a for a in past if a["status"] == "canceled"]
    late = [
        a for a in canceled if local(a["start"]) - local(a["canceled_at"]) < dt.timedelta(hours=24)
    ]
    assert 0.15 <= len(late) / len(canceled) <= 0.5
    completed = [a for a in past if a["status"] == "completed"]
    assert 0.12 <= sum(a["is_new_patient"] for a in completed) / len(completed) <= 0.35
    assert 0.2 <= sum(a["booked_via"] == "online" for a in past) / len(past) <= 0.5
    assert any(a["kind"] == "virtual" for a in past)
    assert any(a["kind"] == "out_of_office" for a in year_appointments)
    # Completed appointments are checked out with an invoice (free consultations aside).
    invoiced = {i["appointment_id"] for i in year_invoices if i["invoice_type"] == "procedure"}
    paid_services = [a for a in completed if a["id"] in invoiced]
    assert len(paid_services) / len(completed) > 0.85


def test_weekday_season_and_growth(year_appointments: list[dict[str, Any]]) -> None:
    days = collections.Counter(local(a["start"]).weekday() for a in year_appointments)
    assert days[6] == 0, "closed on Sundays"
    assert days[2] > days[5], "midweek is busier than Saturday"
    months = collections.Counter(local(a["start"]).strftime("%m") for a in year_appointments)
    assert months["05"] > months["08"], "busier before summer than in high summer"


def test_future_bookings_thin_out(api: httpx.Client) -> None:
    ahead = fetch_all(
        api,
        "appointments",
        (TEST_TODAY + dt.timedelta(days=1)).isoformat(),
        (TEST_TODAY + dt.timedelta(days=120)).isoformat(),
    )
    assert ahead and all(a["status"] in ("booked", "confirmed", "canceled") for a in ahead)
    near = sum(local(a["start"]).date() <= TEST_TODAY + dt.timedelta(days=14) for a in ahead)
    far = sum(local(a["start"]).date() > TEST_TODAY + dt.timedelta(days=60) for a in ahead)
    assert near > far
    assert all(local(a["booked_at"]) <= NOW for a in ahead)


def test_growth_over_time() -> None:
    sb = Sandbox(make_config(years=2, clinics=2))
    appts = sb.practice().appointments.values()
    first = sum(a.start.date() < TEST_TODAY - dt.timedelta(days=550) for a in appts)
    last = sum(TEST_TODAY - dt.timedelta(days=180) < a.start.date() <= TEST_TODAY for a in appts)
    assert last > first * 1.1


def test_same_seed_same_bytes(sandbox_factory: Callable[..., RunningSandbox]) -> None:
    one, two, other = sandbox_factory(), sandbox_factory(), sandbox_factory(seed=8)
    bodies = []
    for running in (one, two, other):
        with httpx.Client(base_url=running.base_url) as client:
            sign_in(client)
            got = []
            for path, body in (
                (
                    "/api/appointment",
                    {"start": "2026-03-01", "end": "2026-03-31", "page_number": 3},
                ),
                (
                    "/api/sales/invoices",
                    {"fromDate": "2026-03-01", "toDate": "2026-03-31", "page_number": 2},
                ),
            ):
                got.append(client.post(path, json=body).content)
            got.append(client.get("/api/users").content)
            bodies.append(got)
    assert bodies[0] == bodies[1]
    assert bodies[0][0] != bodies[2][0] and bodies[0][1] != bodies[2][1]
    assert one.sandbox.truth() == two.sandbox.truth()


def test_records_carry_recognisable_fake_patient_data(
    shared: RunningSandbox,
    year_appointments: list[dict[str, Any]],
    year_invoices: list[dict[str, Any]],
) -> None:
    for record in (*year_appointments, *year_invoices):
        if record.get("kind") == "out_of_office":
            assert record["patient"] is None
            continue
        patient = record["patient"]
        assert patient["email"].endswith("@patient.example")
        assert patient["phone"].startswith("+1-555-01")
        assert "PHI-NOTE" in record["notes"]
        assert patient["firstname"] in record["notes"]
        dt.date.fromisoformat(patient["date_of_birth"])
    values = phi_values(shared.sandbox)
    assert "@patient.example" in PHI_MARKERS and "PHI-NOTE" in PHI_MARKERS
    sample = year_invoices[0]["patient"]
    assert {
        sample["email"],
        sample["phone"],
        sample["lastname"],
        year_invoices[0]["notes"],
        f"{sample['firstname']} {sample['lastname']}",
    } <= values
    # Business data never looks like patient data, so leak scans have no false alarms.
    business = " ".join(
        str(v)
        for k in ("users", "clinics", "services", "products", "product_categories")
        for r in shared.sandbox.truth()[k]
        for v in r.values()
    )
    names = {v for v in values if v.isalpha()}
    assert not [n for n in names if n in business]
    assert not any(m in business for m in PHI_MARKERS)


def test_reference_data_from_the_api_equals_the_truth(
    shared: RunningSandbox, api: httpx.Client
) -> None:
    truth = shared.sandbox.truth()
    for path, key in (
        ("/api/services", "services"),
        ("/api/products", "products"),
        ("/api/product-categories", "product_categories"),
    ):
        assert get_all(api, path) == truth[key]
