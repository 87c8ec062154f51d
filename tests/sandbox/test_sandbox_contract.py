"""The sandbox speaks the contract of docs/ar-api.md, over real HTTP."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import httpx
import pytest

from aiq.sandbox import AccountSpec
from aiq.sandbox.server import RunningSandbox
from aiq.sandbox.testing import TEST_TODAY, sign_in
from tests.sandbox.helpers import cents, fetch_all, get_all, local, page

EMAIL, PASSWORD = "owner@glowmedspa.example", "sandbox-password"
YEAR_START = (TEST_TODAY - dt.timedelta(days=366)).isoformat()
FAR_END = (TEST_TODAY + dt.timedelta(days=200)).isoformat()


def test_login_returns_a_token_the_api_accepts(shared: RunningSandbox) -> None:
    with httpx.Client(base_url=shared.base_url) as client:
        resp = client.post("/api/login", json={"email": EMAIL, "password": PASSWORD})
        assert resp.status_code == 200
        data = resp.json()["data"]
        assert data["expires_in"] == 3600
        assert data["account"] == {"id": 4411, "name": "Glow Med Spa"}
        assert data["user"]["role"] == "admin" and isinstance(data["user"]["id"], int)
        assert client.get("/api/clinics").status_code == 401
        bad = client.get("/api/clinics", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and bad.json()["status"] == 401
        ok = client.get("/api/clinics", headers={"Authorization": f"Bearer {data['token']}"})
        assert ok.status_code == 200


def test_two_factor_sign_in(sandbox_factory: Callable[..., RunningSandbox]) -> None:
    running = sandbox_factory(otp="123456", clinics=1)
    with httpx.Client(base_url=running.base_url) as client:
        data = client.post("/api/login", json={"email": EMAIL, "password": PASSWORD}).json()
        assert data["data"]["requires_2fa"] is True
        challenge = data["data"]["challenge"]
        wrong = client.post("/api/login/2fa", json={"challenge": challenge, "code": "000000"})
        assert wrong.status_code == 401
        right = client.post("/api/login/2fa", json={"challenge": challenge, "code": "123456"})
        assert right.status_code == 200 and right.json()["data"]["token"]
        token = right.json()["data"]["token"]
        resp = client.get("/api/clinics", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200
        # A challenge is good for one sign-in only.
        again = client.post("/api/login/2fa", json={"challenge": challenge, "code": "123456"})
        assert again.status_code == 401


def test_wrong_password_then_lockout(sandbox_factory: Callable[..., RunningSandbox]) -> None:
    running = sandbox_factory(clinics=1, lockout_after=3)
    with httpx.Client(base_url=running.base_url) as client:
        statuses = [
            client.post("/api/login", json={"email": EMAIL, "password": "wrong"}).status_code
            for _ in range(4)
        ]
        assert statuses == [401, 401, 423, 423]
        locked = client.post("/api/login", json={"email": EMAIL, "password": PASSWORD})
        assert locked.status_code == 423
        assert locked.json() == {"status": 423, "message": "Account locked"}
        client.post("/__sandbox/unlock")
        assert client.post("/api/login", json={"email": EMAIL, "password": PASSWORD}).is_success


def test_tokens_expire_in_real_time(sandbox_factory: Callable[..., RunningSandbox]) -> None:
    running = sandbox_factory(clinics=1, token_ttl=1)
    with httpx.Client(base_url=running.base_url) as client:
        sign_in(client)
        assert client.get("/api/clinics").status_code == 200
        time.sleep(1.1)
        assert client.get("/api/clinics").status_code == 401


def test_several_accounts_are_separate_practices(
    sandbox_factory: Callable[..., RunningSandbox],
) -> None:
    other = AccountSpec(
        account_id=5522,
        name="Lumen Aesthetics",
        email="ops@lumen.example",
        password="another-password",
    )
    running = sandbox_factory(clinics=1, accounts=(AccountSpec(), other))
    with httpx.Client(base_url=running.base_url) as a, httpx.Client(base_url=running.base_url) as b:
        sign_in(a)
        sign_in(b, other)
        ca, cb = get_all(a, "/api/clinics"), get_all(b, "/api/clinics")
        assert ca[0]["name"].startswith("Glow Med Spa") and cb[0]["name"].startswith("Lumen")
        day = (TEST_TODAY - dt.timedelta(days=30)).isoformat()
        ia, ib = fetch_all(a, "invoices", day, day), fetch_all(b, "invoices", day, day)
        assert ia and ib and ia != ib


def test_reference_endpoints(api: httpx.Client) -> None:
    clinics = get_all(api, "/api/clinics")
    assert len(clinics) == 2
    assert len({c["timezone"] for c in clinics}) == 2, "clinics sit in different time zones"
    for c in clinics:
        assert set(c) == {"id", "name", "timezone", "address", "is_active"}
        assert set(c["address"]) == {"city", "state", "zip"}
    users = get_all(api, "/api/users")
    roles = {u["role"] for u in users}
    assert {"admin", "medical_director", "provider", "front_desk"} <= roles
    for u in users:
        assert set(u) == {
            "id",
            "firstname",
            "lastname",
            "email",
            "phone",
            "role",
            "is_provider",
            "clinic_ids",
            "commission_rate",
            "goals",
            "is_active",
        }
        cents(u["commission_rate"])
        if u["goals"] is not None:
            assert isinstance(u["goals"]["procedures_per_month"], int)
            cents(u["goals"]["sales_per_month"])
    providers = [u for u in users if u["is_provider"]]
    assert any(len(u["clinic_ids"]) == 2 for u in providers), "some providers work at two clinics"
    assert any(not u["is_active"] for u in users), "staff turnover leaves inactive users"
    services = get_all(api, "/api/services")
    assert len(services) >= 30
    for s in services:
        assert set(s) == {"id", "name", "category_id", "price", "duration_minutes", "is_active"}
        cents(s["price"])
    products = get_all(api, "/api/products")
    kinds = {p["inventory_type"] for p in products}
    assert kinds == {"retail", "service", "medical_supply"}
    for p in products:
        assert set(p) == {
            "id",
            "name",
            "inventory_type",
            "category_id",
            "price",
            "cost_to_company",
            "is_active",
        }
        assert (p["price"] is None) == (p["inventory_type"] == "medical_supply")
        cents(p["cost_to_company"])
    categories = get_all(api, "/api/product-categories")
    ids = {c["id"] for c in categories}
    assert {s["category_id"] for s in services} <= ids
    assert {p["category_id"] for p in products} <= ids


def test_reference_pagination_and_per_page_cap(api: httpx.Client) -> None:
    all_services = get_all(api, "/api/services")
    small = get_all(api, "/api/services", per_page=7)
    assert small == all_services
    resp = api.get("/api/services", params={"per_page": 10_000}).json()["data"]
    assert resp["per_page"] == 500
    beyond = api.get("/api/services", params={"page_number": 99, "per_page": 7}).json()["data"]
    assert beyond["data"] == [] and beyond["current_page"] == 99
    bad = api.get("/api/services", params={"page_number": 0})
    assert bad.status_code == 422 and "page_number" in bad.json()["errors"]


def test_appointment_records(api: httpx.Client) -> None:
    start = (TEST_TODAY - dt.timedelta(days=14)).isoformat()
    end = (TEST_TODAY + dt.timedelta(days=14)).isoformat()
    rows = fetch_all(api, "appointments", start, end)
    assert rows
    fields = {
        "id",
        "clinic_id",
        "provider_id",
        "kind",
        "status",
        "start",
        "end",
        "services",
        "booked_at",
        "canceled_at",
        "booked_via",
        "is_new_patient",
        "patient",
        "notes",
        "updated_at",
    }
    for a in rows:
        assert set(a) == fields
        assert a["kind"] in ("in_person", "virtual", "out_of_office")
        assert a["status"] in (
            "booked",
            "confirmed",
            "checked_in",
            "completed",
            "canceled",
            "no_show",
        )
        assert local(a["start"]) < local(a["end"])
        assert local(a["booked_at"]) <= local(a["updated_at"])
        assert (a["canceled_at"] is None) == (a["status"] != "canceled")
        assert a["booked_via"] in ("online", "staff")
        for s in a["services"]:
            assert set(s) == {"id", "name", "duration_minutes"}
        if a["kind"] != "out_of_office":
            assert a["services"]
            assert set(a["patient"]) == {
                "id",
                "firstname",
                "lastname",
                "email",
                "phone",
                "date_of_birth",
                "address",
            }


def test_window_boundaries_are_inclusive_local_dates(api: httpx.Client) -> None:
    day = TEST_TODAY - dt.timedelta(days=10)
    while day.weekday() in (0, 5, 6):  # a weekday on which both clinics open
        day -= dt.timedelta(days=1)
    d = day.isoformat()
    one_day = fetch_all(api, "appointments", d, d)
    assert one_day and all(a["start"].startswith(d) for a in one_day)
    week = fetch_all(api, "appointments", d, (day + dt.timedelta(days=6)).isoformat())
    assert {a["id"] for a in one_day} <= {a["id"] for a in week}
    before = fetch_all(api, "appointments", (day - dt.timedelta(days=6)).isoformat(), d)
    assert {a["id"] for a in one_day} <= {a["id"] for a in before}
    inv_day = fetch_all(api, "invoices", d, d)
    assert inv_day and all(i["created_at"].startswith(d) for i in inv_day)
    # Windows that touch end to end hold every record once.
    split = [
        fetch_all(
            api,
            "appointments",
            (day + dt.timedelta(days=k)).isoformat(),
            (day + dt.timedelta(days=k)).isoformat(),
        )
        for k in range(7)
    ]
    assert sorted(a["id"] for part in split for a in part) == [a["id"] for a in week]


def test_windows_add_up_to_the_truth(shared: RunningSandbox, api: httpx.Client) -> None:
    truth = shared.sandbox.truth()
    appts = fetch_all(api, "appointments", "2000-01-01", "2100-12-31")
    assert appts == truth["appointments"]
    invoices = fetch_all(api, "invoices", "2000-01-01", "2100-12-31")
    assert invoices == truth["invoices"]
    assert any(local(a["start"]).date() > TEST_TODAY for a in appts), "future bookings exist"
    assert get_all(api, "/api/users") == truth["users"]
    assert get_all(api, "/api/clinics") == truth["clinics"]


def test_filters(shared: RunningSandbox, api: httpx.Client) -> None:
    start, end = (TEST_TODAY - dt.timedelta(days=20)).isoformat(), TEST_TODAY.isoformat()
    every = fetch_all(api, "appointments", start, end)
    clinic = every[0]["clinic_id"]
    provider = every[0]["provider_id"]
    by_clinic = fetch_all(api, "appointments", start, end, clinic_id=clinic)
    assert by_clinic == [a for a in every if a["clinic_id"] == clinic]
    by_provider = fetch_all(api, "appointments", start, end, provider_id=provider)
    assert by_provider == [a for a in every if a["provider_id"] == provider]
    invoices = fetch_all(api, "invoices", start, end)
    assert fetch_all(api, "invoices", start, end, clinic_id=[clinic]) == [
        i for i in invoices if i["clinic_id"] == clinic
    ]
    employee = invoices[0]["employee_id"]
    assert fetch_all(api, "invoices", start, end, user_id=[employee]) == [
        i for i in invoices if i["employee_id"] == employee
    ]
    wanted = ["void", "refunded", "partially_refunded"]
    assert fetch_all(api, "invoices", "2000-01-01", "2100-01-01", invoice_status=wanted) == [
        i for i in shared.sandbox.truth()["invoices"] if i["status"] in wanted
    ]
    assert (
        fetch_all(
            api, "invoices", start, end, clinic_id=[], user_id=[], invoice_status=[], search_key=""
        )
        == invoices
    )


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/appointment", {"end": "2026-01-01"}, "start"),
        ("/api/appointment", {"start": "2026-01-02", "end": "2026-01-01"}, "end"),
        ("/api/appointment", {"start": "01/02/2026", "end": "2026-01-01"}, "start"),
        ("/api/sales/invoices", {"fromDate": "2026-01-01"}, "toDate"),
        (
            "/api/sales/invoices",
            {"fromDate": "2026-01-01", "toDate": "2026-01-01", "invoice_status": ["lost"]},
            "invoice_status",
        ),
        (
            "/api/sales/invoices",
            {"fromDate": "2026-01-01", "toDate": "2026-01-01", "page_number": 0},
            "page_number",
        ),
    ],
)
def test_bad_requests_get_422(
    api: httpx.Client, path: str, body: dict[str, object], field: str
) -> None:
    resp = api.post(path, json=body)
    assert resp.status_code == 422
    doc = resp.json()
    assert doc["status"] == 422 and field in doc["errors"]


def test_page_past_the_end_is_empty(api: httpx.Client) -> None:
    d = (TEST_TODAY - dt.timedelta(days=3)).isoformat()
    data = page(api, "invoices", d, d, 1000)
    assert data["data"] == [] and data["current_page"] == 1000 and data["total"] > 0
    empty = page(api, "appointments", "1990-01-01", "1990-01-31")
    assert empty == {"current_page": 1, "last_page": 1, "per_page": 100, "total": 0, "data": []}
