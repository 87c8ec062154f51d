"""The pacer, on a clock of its own: AR's stated limit, adaptation without it, 429 pauses."""

from __future__ import annotations

import threading

import pytest

from aiq.ar.pacing import CALM_SECONDS, DOUBLING_SECONDS, SHARE, Pacer, pacer_for


class Clock:
    """A clock that moves only when the pacer sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _pacer(max_per_minute: float | None = None) -> tuple[Pacer, Clock]:
    clock = Clock()
    return Pacer(max_per_minute, clock=clock, sleep=clock.sleep), clock


def _answer(pacer: Pacer, remaining: int, limit: int = 60) -> None:
    pacer.release(200, {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(remaining)})


def test_free_while_ar_has_room_then_at_nine_tenths_of_its_rate() -> None:
    pacer, clock = _pacer()
    pacer.acquire()
    _answer(pacer, remaining=30)
    for _ in range(5):  # plenty left: no wait at all
        pacer.acquire()
        _answer(pacer, remaining=30)
    assert clock.slept == []
    pacer.acquire()
    _answer(pacer, remaining=2)  # the reserve is reached: pace from here on
    pacer.acquire()  # goes at once, and sets the pace for the next
    pacer.acquire()
    assert clock.slept == [pytest.approx(60 / (SHARE * 60))]  # 60 a minute, at 90 %


def test_a_429_stops_everyone_until_retry_after() -> None:
    pacer, clock = _pacer()
    pacer.acquire()
    pacer.release(429, {}, retry_after=7)
    assert pacer.throttled == 1
    pacer.acquire()
    assert clock.now == pytest.approx(7)


def test_without_headers_the_rate_halves_on_429_grows_back_and_lifts() -> None:
    pacer, clock = _pacer()
    for _ in range(20):  # 20 requests a second, no limit stated
        pacer.acquire()
        pacer.release(200, {})
        clock.now += 0.05
    pacer.acquire()
    pacer.release(429, {}, retry_after=1)
    pacer.release(429, {}, retry_after=1)  # the same moment's other 429: no second halving
    assert pacer.rate is not None and pacer.rate == pytest.approx(10, rel=0.1)
    clock.slept.clear()
    pacer.acquire()  # after the pause ...
    assert clock.slept == [pytest.approx(1.0)]
    pacer.release(200, {})
    pacer.acquire()  # ... at about half the pace it was going at
    assert clock.slept[1] == pytest.approx(1 / 10 / 2 ** (1 / DOUBLING_SECONDS), rel=0.15)
    pacer.release(200, {})
    clock.now += 2 * DOUBLING_SECONDS  # calm for two doublings
    pacer.acquire()
    pacer.release(200, {})
    pacer.acquire()
    assert clock.slept[-1] < 1 / 35
    clock.now += CALM_SECONDS + 1  # long enough without a 429: no pace at all
    clock.slept.clear()
    for _ in range(5):
        pacer.acquire()
        pacer.release(200, {})
    assert clock.slept == [] and pacer.rate is None


def test_a_429_before_any_pace_is_known_slows_to_a_request_a_second_not_less() -> None:
    pacer, _ = _pacer()
    pacer.acquire()
    pacer.release(429, {}, retry_after=1)
    assert pacer.rate is not None and pacer.rate >= 1.0


def test_the_configured_ceiling_holds() -> None:
    pacer, clock = _pacer(max_per_minute=30)
    for _ in range(4):
        pacer.acquire()
        pacer.release(200, {})
    assert clock.now == pytest.approx(3 * 2.0)  # one every 2 s


def test_the_first_request_goes_alone() -> None:
    pacer = Pacer()
    pacer.acquire()
    second = threading.Thread(target=pacer.acquire)
    second.start()
    second.join(0.2)
    assert second.is_alive()  # waits for the first answer
    pacer.release(200, {})
    second.join(5)
    assert not second.is_alive()


def test_one_budget_per_account_and_address() -> None:
    a = pacer_for("http://AR.test/", "Owner@Spa.example")
    assert pacer_for("http://ar.test", "owner@spa.example") is a
    assert pacer_for("http://ar.test", "other@spa.example") is not a
    assert pacer_for("http://other.test", "owner@spa.example") is not a
