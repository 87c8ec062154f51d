"""The AR client: sign-in, retries, session expiry and pagination, including odd corner cases."""

from __future__ import annotations

import email.utils
import json
import random
import time
from typing import Any

import httpx
import pytest

from aiq.ar.client import ARClient, parse_retry_after
from aiq.errors import (
    AccountLocked,
    AuthRequired,
    InvalidCredentials,
    TwoFactorFailed,
    UpstreamContractError,
    UpstreamUnavailable,
)
from aiq.sandbox import AccountSpec, Sandbox
from aiq.sandbox.config import DEFAULT_EMAIL, DEFAULT_PASSWORD
from aiq.sandbox.server import RunningSandbox, serve_in_thread
from aiq.sandbox.testing import make_config

LOGIN_OK = {
    "status": 200,
    "data": {
        "token": "t1",
        "expires_in": 3600,
        "account": {"id": 4411, "name": "Glow"},
        "user": {"id": 1, "role": "admin"},
    },
}


def page(
    records: list[dict[str, Any]],
    page: int = 1,
    last: int = 1,
    total: int | None = None,
    per_page: int = 100,
) -> dict[str, Any]:
    return {
        "status": 200,
        "message": "ok",
        "data": {
            "current_page": page,
            "last_page": last,
            "per_page": per_page,
            "total": len(records) if total is None else total,
            "data": records,
        },
    }


def mock_client(handler: Any, **kw: Any) -> ARClient:
    return ARClient(
        "http://ar.test",
        email="e",
        password="p",
        transport=httpx.MockTransport(handler),
        sleep=lambda s: None,
        **kw,
    )


def test_retry_after_both_forms() -> None:
    assert parse_retry_after("7") == 7.0
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (parse_retry_after(future) or 0) <= 31
    assert parse_retry_after("garbage") is None and parse_retry_after(None) is None


@pytest.fixture
def served() -> Any:
    cfg = make_config(
        accounts=(
            AccountSpec(),
            AccountSpec(
                account_id=5522,
                name="Two FA Spa",
                email="twofa@spa.example",
                password="pw-2fa",
                otp="246810",
            ),
        )
    )
    with serve_in_thread(Sandbox(cfg)) as running:
        yield running


def test_login_with_and_without_2fa(served: RunningSandbox) -> None:
    with ARClient(served.base_url) as c:
        r = c.login(DEFAULT_EMAIL, DEFAULT_PASSWORD)
        assert (r.account_id, r.account_name) == (4411, "Glow Med Spa")
    with ARClient(served.base_url) as c:
        r = c.login("twofa@spa.example", "pw-2fa", otp=lambda: "246810")
        assert r.account_id == 5522
    with ARClient(served.base_url) as c, pytest.raises(TwoFactorFailed):
        c.login("twofa@spa.example", "pw-2fa", otp=lambda: "000000")
    with (
        ARClient(served.base_url) as c,
        pytest.raises(TwoFactorFailed, match="asks for a two-factor"),
    ):
        c.login("twofa@spa.example", "pw-2fa")


def test_wrong_password_is_not_retried_and_lockout_is_reported(served: RunningSandbox) -> None:
    sb = served.sandbox
    sb.stats.reset()
    with ARClient(served.base_url) as c, pytest.raises(InvalidCredentials):
        c.login(DEFAULT_EMAIL, "wrong")
    assert sb.stats["login"] == 1  # exactly one attempt: no retry loop that would lock the account
    with ARClient(served.base_url) as c:
        for _ in range(10):
            try:
                c.login(DEFAULT_EMAIL, "wrong")
            except AccountLocked as exc:
                assert "locked" in str(exc)
                break
            except InvalidCredentials:
                continue
        else:
            pytest.fail("the sandbox never locked the account")


def test_transient_errors_retry_then_give_up() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/login":
            return httpx.Response(200, json=LOGIN_OK)
        calls["n"] += 1
        return httpx.Response(
            503, text="<html>Service Unavailable</html>", headers={"content-type": "text/html"}
        )

    with (
        mock_client(handler, max_retries=3) as c,
        pytest.raises(UpstreamUnavailable, match="4 attempts"),
    ):
        c.request_json("GET", "/api/clinics")
    assert calls["n"] == 4


def test_truncated_json_is_transient() -> None:
    state = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/login":
            return httpx.Response(200, json=LOGIN_OK)
        state["n"] += 1
        body = json.dumps(page([{"id": 1}])).encode()
        if state["n"] == 1:
            body = body[: len(body) // 2]
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    with mock_client(handler) as c:
        pages = list(c.paginate("GET", "/api/clinics"))
    assert pages == [[{"id": 1}]] and state["n"] == 2


def test_a_body_that_does_not_decode_is_retried_like_a_503_then_reported() -> None:
    """A corrupt gzip body (httpx's DecodingError) is transient trouble: the same retries and
    backoff as a 503, then one clear UpstreamUnavailable."""
    sb = Sandbox(make_config(clinics=1))

    def meet(running: RunningSandbox, kind: str) -> tuple[list[float], str]:
        delays: list[float] = []
        with ARClient(
            running.base_url,
            email=DEFAULT_EMAIL,
            password=DEFAULT_PASSWORD,
            max_retries=2,
            sleep=delays.append,
            rng=random.Random(7),
        ) as c:
            c.request_json("GET", "/api/clinics")
            sb.faults.set(kind, endpoints=["clinics"])  # every time: given up
            with pytest.raises(UpstreamUnavailable) as given_up:
                c.request_json("GET", "/api/clinics")
            sb.faults.set(kind, count=1, endpoints=["clinics"])  # once: retried, then answered
            assert c.request_json("GET", "/api/clinics")["data"]["total"] >= 1
            sb.faults.clear()
            assert c.stats.retries == 3
        return delays, str(given_up.value)

    with serve_in_thread(sb) as running:
        corrupt, error = meet(running, "corrupt_gzip")
        like_503, _ = meet(running, "503")
    assert sb.faults.injected["corrupt_gzip"] == 4
    assert corrupt == like_503 and len(corrupt) == 3 and all(d > 0 for d in corrupt)
    assert error == (
        "AR did not answer GET /api/clinics after 3 attempts "
        "(last: a gzip body that does not decode) (AR may be down or overloaded; try again later)"
    )


@pytest.mark.parametrize(
    ("pages", "match"),
    [
        ([page([{"id": 1}], 1, 2, total=3, per_page=2)], "holds 1 records, not 2"),
        (
            [
                page([{"id": 1}, {"id": 2}], 1, 2, total=3, per_page=2),
                page([{"id": 3}], 2, 2, total=4, per_page=2),
            ],
            "page 2 says total 4",
        ),
        (
            [
                page([{"id": 1}, {"id": 2}], 1, 2, total=4, per_page=2),
                page([{"id": 3}], 2, 2, total=4, per_page=2),
            ],
            "3 records received, 4 announced",
        ),
        ([page([{"id": 2}, {"id": 1}], 1, 1, total=2, per_page=2)], "not ascending"),
        ([page([{"id": 1}], 1, 5, total=1, per_page=2)], "is not 5 pages"),
    ],
)
def test_pages_that_do_not_add_up_fail_loudly(pages: list[dict[str, Any]], match: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/login":
            return httpx.Response(200, json=LOGIN_OK)
        n = int(request.url.params.get("page_number", "1"))
        return httpx.Response(200, json=pages[min(n, len(pages)) - 1])

    with mock_client(handler) as c, pytest.raises(UpstreamContractError, match=match):
        list(c.paginate("GET", "/api/clinics"))


@pytest.mark.parametrize("form", ["expire_401", "expire_json", "expire_redirect", "expire_html"])
def test_every_form_of_session_expiry_signs_in_again_once(form: str) -> None:
    sb = Sandbox(make_config())
    with (
        serve_in_thread(sb) as running,
        ARClient(running.base_url, email=DEFAULT_EMAIL, password=DEFAULT_PASSWORD) as c,
    ):
        c.request_json("GET", "/api/clinics")
        sb.faults.once(form)
        body = c.request_json("GET", "/api/clinics")
        assert body["data"]["total"] >= 1
        assert c.stats.logins == 2
        assert sb.faults.injected[form] == 1


def test_expiries_here_and_there_never_end_the_session_but_sessions_that_die_at_once_do() -> None:
    sb = Sandbox(make_config(clinics=1))
    with (
        serve_in_thread(sb) as running,
        ARClient(running.base_url, email=DEFAULT_EMAIL, password=DEFAULT_PASSWORD) as c,
    ):
        # Three expiries in a row on one request, then one on each of two others: every request
        # still succeeds (the first sign-in, then one per expiry).
        sb.faults.set("expire_json", count=3)
        assert c.request_json("GET", "/api/clinics")["data"]["total"] >= 1
        for _ in range(2):
            sb.faults.set("expire_html", count=1)
            assert c.request_json("GET", "/api/clinics")["data"]["total"] >= 1
        assert c.stats.logins == 1 + 3 + 2
        # AR that ends every session before any request can use it: give up, and say why.
        sb.faults.set("expire_401")
        with pytest.raises(AuthRequired, match="8 times in a row before any request"):
            c.request_json("GET", "/api/clinics")
        assert c.stats.logins == 6 + 8
