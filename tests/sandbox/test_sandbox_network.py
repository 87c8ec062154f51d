"""The sandbox plays the network: AR's rate limit (a token bucket per account), latency, a
trickling answer, and the named profiles, over real HTTP."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
import pytest

from aiq.sandbox import AccountSpec, Sandbox
from aiq.sandbox.app import TRICKLE_BYTES
from aiq.sandbox.network import (
    PROFILES,
    NetworkProfile,
    TokenBucket,
    parse_latency,
    parse_rate_limit,
)
from aiq.sandbox.server import RunningSandbox, serve_in_thread
from aiq.sandbox.testing import make_config, sign_in
from tests.helpers import aiq

OTHER = AccountSpec(account_id=5522, name="Other Spa", email="owner@other.example")


@pytest.fixture(scope="module")
def server() -> Iterator[RunningSandbox]:
    """One small server for the module; each test sets the network it needs."""
    config = make_config(clinics=1, accounts=(AccountSpec(), OTHER))
    with serve_in_thread(Sandbox(config)) as running:
        yield running


@pytest.fixture
def sb(server: RunningSandbox) -> Iterator[Sandbox]:
    server.sandbox.network.set(NetworkProfile())
    server.sandbox.faults.clear()
    yield server.sandbox
    server.sandbox.network.set(NetworkProfile())
    server.sandbox.faults.clear()


@contextlib.contextmanager
def _client(server: RunningSandbox, account: AccountSpec | None = None) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        sign_in(client, account)
        yield client


def test_each_account_has_a_token_bucket_and_laravels_headers(
    server: RunningSandbox, sb: Sandbox
) -> None:
    sb.network.set(NetworkProfile(rate_limit_per_minute=60, burst=3))
    with _client(server) as a, _client(server, OTHER) as b:
        answers = [a.get("/api/clinics") for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert [r.headers["x-ratelimit-limit"] for r in answers] == ["60"] * 4
        assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]
        refused = answers[-1]
        assert refused.json() == {"status": 429, "message": "Too Many Attempts."}
        assert int(refused.headers["retry-after"]) >= 1
        assert int(refused.headers["x-ratelimit-reset"]) > time.time()
        # Another AR account has its own bucket.
        other = b.get("/api/clinics")
        assert other.status_code == 200 and other.headers["x-ratelimit-remaining"] == "2"
    assert sb.network.throttled == 1


def test_the_bucket_refills_at_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(60, 2, clock=lambda: now[0])
    assert [bucket.take()[0] for _ in range(3)] == [True, True, False]
    admitted, _, wait = bucket.take()
    assert not admitted and wait == pytest.approx(1.0)
    now[0] = 1.0  # one second at 60 a minute: one token back, no more
    assert bucket.take()[:2] == (True, 0)
    assert not bucket.take()[0]
    now[0] = 100.0  # a long pause fills the bucket to its size, not beyond
    assert [bucket.take()[0] for _ in range(3)] == [True, True, False]


def test_latency_delays_every_api_answer(server: RunningSandbox, sb: Sandbox) -> None:
    with _client(server) as client:
        sb.network.set(NetworkProfile(latency_ms=300))
        started = time.perf_counter()
        assert client.get("/api/clinics").status_code == 200
        assert time.perf_counter() - started >= 0.3
        # Admin endpoints are the sandbox's own, not AR's: not delayed.
        assert client.get("/__sandbox/network").json()["latency_ms"] == 300


def test_a_trickled_answer_arrives_whole_in_small_pieces(
    server: RunningSandbox, sb: Sandbox
) -> None:
    with _client(server) as client:
        whole = client.get("/api/clinics").content
        sb.faults.add("trickle", count=1, delay=0.001)
        sent = sb.faults.trickled
        pieces: list[bytes] = []
        with client.stream("GET", "/api/clinics") as answer:
            assert answer.status_code == 200
            pieces = list(answer.iter_raw())
    assert b"".join(pieces) == whole
    # Sent in pieces of TRICKLE_BYTES (how many reads they arrive in depends on the machine).
    assert sb.faults.trickled - sent == -(-len(whole) // TRICKLE_BYTES) > 3


def test_profiles_through_the_admin_api(server: RunningSandbox, sb: Sandbox) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as admin:
        doc = admin.post("/__sandbox/network", json={"profile": "limited"}).json()
        assert doc["latency_ms"] == 150 and doc["rate_limit_per_minute"] == 60
        doc = admin.post("/__sandbox/network", json={"rate_limit": "120/min:5"}).json()
        assert (doc["latency_ms"], doc["rate_limit_per_minute"], doc["burst"]) == (150, 120, 5)
        bad = admin.post("/__sandbox/network", json={"profile": "satellite"})
        assert bad.status_code == 422 and "satellite" in bad.json()["message"]
        assert admin.delete("/__sandbox/network").json()["rate_limit_per_minute"] is None
    assert PROFILES["internet"] == NetworkProfile(latency_ms=150, jitter_ms=50)


def test_parsing_the_options() -> None:
    assert parse_latency("150:50") == (150.0, 50.0) and parse_latency("80") == (80.0, 0.0)
    assert parse_rate_limit("60/min") == (60.0, None)
    assert parse_rate_limit("120/min:5") == (120.0, 5)
    assert parse_rate_limit("off") == (None, None)
    for bad in ("fast", "60/hour", "-1"):
        with pytest.raises(ValueError):
            parse_rate_limit(bad)
    with pytest.raises(ValueError):
        parse_latency("soon")


def test_serve_refuses_a_bad_network_option(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (("--rate-limit", "lots"), ("--latency", "x"), ("--profile", "satellite")):
        result = aiq(capsys, "sandbox", "serve", "--port", "0", *args)
        assert result.code == 2, (args, result.err)
        assert "Invalid value" in result.err
