"""A request's retries last as long as AR keeps answering requests of its kind (issue 15).

Each test drives the sandbox over HTTP and decides, between two attempts of one request, whether
another request to the same endpoint is answered meanwhile (the client's ``sleep`` between
attempts is where the test acts), so the interleaving is exact, not left to timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from aiq.ar.client import ARClient
from aiq.errors import AccountLocked, UpstreamUnavailable
from aiq.sandbox import Sandbox
from aiq.sandbox.config import DEFAULT_EMAIL, DEFAULT_PASSWORD
from aiq.sandbox.server import RunningSandbox, serve_in_thread
from aiq.sandbox.testing import make_config

CLINICS = "/api/clinics"


@pytest.fixture
def running() -> Iterator[RunningSandbox]:
    with serve_in_thread(Sandbox(make_config(clinics=1))) as served:
        yield served


def client_acting_between_attempts(
    running: RunningSandbox, act: Callable[[ARClient, int], None], max_retries: int
) -> ARClient:
    """A signed-in client that calls ``act(client, n)`` instead of sleeping before retry n."""
    calls = {"n": 0}
    holder: list[ARClient] = []

    def between(_delay: float) -> None:
        calls["n"] += 1
        act(holder[0], calls["n"])

    client = ARClient(
        running.base_url,
        email=DEFAULT_EMAIL,
        password=DEFAULT_PASSWORD,
        max_retries=max_retries,
        backoff_base=0.01,
        sleep=between,
    )
    holder.append(client)
    client.request_json("GET", CLINICS)
    return client


def another_request_answered(running: RunningSandbox, client: ARClient) -> None:
    """Another thread's request to the same endpoint, answered (the fault paused for it)."""
    faults = running.sandbox.faults
    rules = list(faults.rules)
    faults.rules.clear()
    errors: list[BaseException] = []

    def other() -> None:
        try:
            client.request_json("GET", CLINICS)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(30)
    faults.rules.extend(rules)
    assert not errors and not thread.is_alive()


def test_a_request_keeps_retrying_while_others_of_its_kind_are_answered(
    running: RunningSandbox,
) -> None:
    sb = running.sandbox
    failures = 6  # more than max_retries + 1 = 3 in a row, fewer than 4 * 2 + 1 = 9 in all

    def act(client: ARClient, n: int) -> None:
        another_request_answered(running, client)
        if n == failures:
            sb.faults.clear()  # AR serves this page at last

    with client_acting_between_attempts(running, act, max_retries=2) as client:
        sb.faults.set("502", endpoints=["clinics"])
        assert client.request_json("GET", CLINICS)["data"]["total"] >= 1
        assert sb.faults.injected["502"] == failures


def test_a_request_gives_up_when_nothing_of_its_kind_is_answered(
    running: RunningSandbox,
) -> None:
    sb = running.sandbox
    with client_acting_between_attempts(running, lambda c, n: None, max_retries=2) as client:
        sb.faults.set("502", endpoints=["clinics"])
        with pytest.raises(UpstreamUnavailable, match=r"after 3 attempts \(last: HTTP 502") as e:
            client.request_json("GET", CLINICS)
        assert "down or overloaded" in (e.value.hint or "")
        assert sb.faults.injected["502"] == 3


def test_a_page_ar_never_serves_is_given_up_although_others_are_answered(
    running: RunningSandbox,
) -> None:
    sb = running.sandbox

    def act(client: ARClient, n: int) -> None:
        another_request_answered(running, client)

    with client_acting_between_attempts(running, act, max_retries=2) as client:
        sb.faults.set("502", endpoints=["clinics"])
        with pytest.raises(UpstreamUnavailable, match=r"after 9 attempts") as e:
            client.request_json("GET", CLINICS)
        assert "answered other requests like it" in (e.value.hint or "")
        assert sb.faults.injected["502"] == 9


def test_no_retries_means_none(running: RunningSandbox) -> None:
    sb = running.sandbox
    with client_acting_between_attempts(running, lambda c, n: None, max_retries=0) as client:
        sb.faults.set("429", endpoints=["clinics"])
        with pytest.raises(UpstreamUnavailable, match=r"after 1 attempt \(last: HTTP 429"):
            client.request_json("GET", CLINICS)
        assert sb.faults.injected["429"] == 1


def test_sessions_that_die_before_use_seven_times_in_a_row_do_not_end_the_sync(
    running: RunningSandbox,
) -> None:
    """Seven fresh sessions in a row end before serving anything (bad luck with a third of the
    answers failing); the eighth serves: the request succeeds."""
    sb = running.sandbox
    with ARClient(running.base_url, email=DEFAULT_EMAIL, password=DEFAULT_PASSWORD) as client:
        client.request_json("GET", CLINICS)
        sb.faults.set("expire_redirect", count=4)
        sb.faults.add("expire_401", count=4)
        assert client.request_json("GET", CLINICS)["data"]["total"] >= 1
        assert client.stats.logins == 1 + 8


def test_a_refused_sign_in_mid_run_gives_up_at_once(running: RunningSandbox) -> None:
    """A session ends, and AR refuses the new sign-in (the account was locked meanwhile): the
    request stops at once with the lockout, not after retries that would make it worse."""
    sb = running.sandbox
    with ARClient(running.base_url, email=DEFAULT_EMAIL, password=DEFAULT_PASSWORD) as client:
        client.request_json("GET", CLINICS)
        with ARClient(running.base_url) as intruder:
            for _ in range(10):
                try:
                    intruder.login(DEFAULT_EMAIL, "wrong")
                except AccountLocked:
                    break
                except Exception:
                    continue
        sb.stats.reset()
        sb.faults.once("expire_json")
        with pytest.raises(AccountLocked, match="locked"):
            client.request_json("GET", CLINICS)
        assert sb.stats["login"] == 1  # one sign-in attempt, refused, not retried
