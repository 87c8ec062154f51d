"""Each fault appears when asked for: per request (header), per server (rules), over HTTP."""

from __future__ import annotations

import email.utils
import json
import threading
import time
import zlib
from collections.abc import Iterator

import httpx
import pytest

from aiq.sandbox import FAULT_KINDS, Sandbox
from aiq.sandbox.server import RunningSandbox, serve_in_thread
from aiq.sandbox.testing import make_config, sign_in

WINDOW = {"fromDate": "2026-11-01", "toDate": "2026-11-20"}


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[RunningSandbox]:
    """One small server for the module; each test gets a fresh session and no faults."""
    with serve_in_thread(Sandbox(make_config(clinics=1))) as running:
        yield running


@pytest.fixture
def sandbox_client(sandbox_server: RunningSandbox) -> Iterator[httpx.Client]:
    sandbox_server.sandbox.faults.clear()
    with httpx.Client(base_url=sandbox_server.base_url, timeout=30) as client:
        sign_in(client)
        yield client
    sandbox_server.sandbox.faults.clear()


def invoices(client: httpx.Client, **headers: str) -> httpx.Response:
    return client.post("/api/sales/invoices", json=WINDOW, headers=headers)


def test_429_with_retry_after_seconds(sandbox_client: httpx.Client) -> None:
    resp = invoices(sandbox_client, **{"X-Sandbox-Fault": "429"})
    assert resp.status_code == 429 and resp.headers["retry-after"] == "1"
    assert resp.json()["status"] == 429
    assert invoices(sandbox_client).status_code == 200


def test_429_with_retry_after_http_date(sandbox_client: httpx.Client) -> None:
    resp = invoices(sandbox_client, **{"X-Sandbox-Fault": "429_date"})
    assert resp.status_code == 429
    when = email.utils.parsedate_to_datetime(resp.headers["retry-after"])
    assert abs(when.timestamp() - time.time()) < 5


@pytest.mark.parametrize("kind", ["500", "502", "503", "504"])
def test_server_errors_with_html_bodies(sandbox_client: httpx.Client, kind: str) -> None:
    resp = invoices(sandbox_client, **{"X-Sandbox-Fault": kind})
    assert resp.status_code == int(kind)
    assert resp.headers["content-type"].startswith("text/html")
    assert resp.text.lstrip().startswith("<")


def test_connection_reset(sandbox_client: httpx.Client) -> None:
    with pytest.raises(httpx.TransportError):
        invoices(sandbox_client, **{"X-Sandbox-Fault": "reset"})
    assert invoices(sandbox_client).status_code == 200, "the next connection works"


def test_truncated_json(sandbox_client: httpx.Client) -> None:
    full = invoices(sandbox_client)
    cut = invoices(sandbox_client, **{"X-Sandbox-Fault": "truncate"})
    assert cut.status_code == 200 and len(cut.content) < len(full.content)
    assert full.content.startswith(cut.content)
    with pytest.raises(json.JSONDecodeError):
        cut.json()


def test_corrupt_gzip(sandbox_client: httpx.Client) -> None:
    full = invoices(sandbox_client)
    with pytest.raises(httpx.DecodingError):
        invoices(sandbox_client, **{"X-Sandbox-Fault": "corrupt_gzip"})
    with sandbox_client.stream(
        "POST", "/api/sales/invoices", json=WINDOW, headers={"X-Sandbox-Fault": "corrupt_gzip"}
    ) as resp:
        assert resp.status_code == 200 and resp.headers["content-encoding"] == "gzip"
        raw = b"".join(resp.iter_raw())
    # The real answer, whole: only the checksum in the gzip trailer is wrong.
    assert zlib.decompressobj(-zlib.MAX_WBITS).decompress(raw[10:]) == full.content
    assert invoices(sandbox_client).status_code == 200


def test_slow_response(sandbox_server: RunningSandbox, sandbox_client: httpx.Client) -> None:
    sandbox_server.sandbox.faults.set("slow", delay=0.3)
    started = time.perf_counter()
    resp = invoices(sandbox_client)
    assert resp.status_code == 200 and time.perf_counter() - started >= 0.3


@pytest.mark.parametrize(
    ("kind", "status", "check"),
    [
        ("expire_401", 401, lambda r: r.json()["status"] == 401),
        ("expire_json", 200, lambda r: r.json() == {"error": "Unauthenticated"}),
        ("expire_redirect", 200, lambda r: r.json() == {"redirect": "/login"}),
        (
            "expire_html",
            200,
            lambda r: r.headers["content-type"].startswith("text/html") and "<form" in r.text,
        ),
    ],
)
def test_session_expiry_forms(
    sandbox_client: httpx.Client, kind: str, status: int, check: object
) -> None:
    resp = invoices(sandbox_client, **{"X-Sandbox-Fault": kind})
    assert resp.status_code == status and check(resp)  # type: ignore[operator]
    # The session really ended: the same token keeps failing until the client signs in again.
    again = invoices(sandbox_client)
    assert again.status_code == status and check(again)  # type: ignore[operator]
    sign_in(sandbox_client)
    assert invoices(sandbox_client).status_code == 200


def test_server_wide_rules_rate_count_and_endpoints(
    sandbox_server: RunningSandbox,
    sandbox_client: httpx.Client,
) -> None:
    faults = sandbox_server.sandbox.faults
    faults.set("503", rate=0.5, seed=1)
    codes = [invoices(sandbox_client).status_code for _ in range(40)]
    assert 8 < codes.count(503) < 32 and codes.count(200) == 40 - codes.count(503)
    faults.set("503", rate=0.5, seed=1)
    assert [invoices(sandbox_client).status_code for _ in range(40)] == codes, "seeded"
    faults.clear()
    faults.once("502")
    assert [invoices(sandbox_client).status_code for _ in range(3)] == [502, 200, 200]
    faults.set("500", endpoints=["appointments"])
    assert invoices(sandbox_client).status_code == 200
    body = {"start": "2026-11-01", "end": "2026-11-02"}
    assert sandbox_client.post("/api/appointment", json=body).status_code == 500
    faults.set("expire_401")
    login = sandbox_client.post(
        "/api/login", json={"email": "owner@glowmedspa.example", "password": "sandbox-password"}
    )
    assert login.status_code == 200, "expiry faults never hit the sign-in endpoints"
    faults.clear()
    assert faults.injected["503"] >= codes.count(503) * 2


def test_faults_over_http_and_request_counters(
    sandbox_server: RunningSandbox,
    sandbox_client: httpx.Client,
) -> None:
    admin = httpx.Client(base_url=sandbox_server.base_url)
    sandbox_server.sandbox.stats.reset()
    doc = admin.post("/__sandbox/faults", json={"kind": "429", "count": 2, "retry_after": 0})
    assert doc.json()["rules"][0]["count"] == 2
    codes = [invoices(sandbox_client).status_code for _ in range(3)]
    assert codes == [429, 429, 200]
    admin.post("/__sandbox/faults", json={"rules": [{"kind": "500", "rate": 1.0}], "seed": 3})
    assert invoices(sandbox_client).status_code == 500
    admin.delete("/__sandbox/faults")
    assert invoices(sandbox_client).status_code == 200
    bad = admin.post("/__sandbox/faults", json={"kind": "meltdown"})
    assert bad.status_code == 422
    sandbox_client.get("/api/users")
    stats = admin.get("/__sandbox/stats").json()
    assert stats == {"invoices": 5, "users": 1}
    assert sandbox_server.sandbox.stats["invoices"] == 5
    state = admin.get("/__sandbox/state").json()
    assert state["faults"]["injected"]["429"] >= 2
    admin.close()


def test_every_kind_is_known_and_unknown_ones_are_refused(sandbox_client: httpx.Client) -> None:
    assert set(FAULT_KINDS) >= {
        "429",
        "429_date",
        "500",
        "502",
        "503",
        "reset",
        "truncate",
        "corrupt_gzip",
        "slow",
        "expire_401",
        "expire_json",
        "expire_redirect",
        "expire_html",
    }
    resp = invoices(sandbox_client, **{"X-Sandbox-Fault": "gremlins"})
    assert resp.status_code == 400


def test_a_hold_keeps_requests_waiting_until_released(
    sandbox_server: RunningSandbox, sandbox_client: httpx.Client
) -> None:
    faults = sandbox_server.sandbox.faults
    hold = faults.hold(1, count=2, endpoints=["invoices"])
    assert sandbox_client.get("/api/clinics").status_code == 200  # another endpoint: not counted
    assert invoices(sandbox_client).status_code == 200  # the one let through
    answers: list[int] = []

    def held_request() -> None:
        with httpx.Client(base_url=sandbox_server.base_url, timeout=60) as other:
            other.headers["Authorization"] = sandbox_client.headers["Authorization"]
            answers.append(invoices(other).status_code)

    waiting = [threading.Thread(target=held_request) for _ in range(2)]
    for t in waiting:
        t.start()
    assert hold.reached.wait(60)
    # While requests are held, the server answers the others.
    assert sandbox_client.get("/api/clinics").status_code == 200
    assert answers == []
    hold.release()
    for t in waiting:
        t.join(60)
    assert answers == [200, 200]
    with pytest.raises(ValueError):
        faults.hold(-1)


def test_stopping_the_server_releases_its_holds() -> None:
    with serve_in_thread(Sandbox(make_config(clinics=1))) as running:
        hold = running.sandbox.faults.hold(0, timeout=600)
        answered: list[int] = []

        def held_request() -> None:
            with httpx.Client(base_url=running.base_url, timeout=60) as client:
                answered.append(client.get("/api/clinics").status_code)

        waiting = threading.Thread(target=held_request)
        waiting.start()
        assert hold.reached.wait(60)
    # The block ended without waiting for the hold's ten minutes, and the request was answered.
    waiting.join(60)
    assert answered == [401]
