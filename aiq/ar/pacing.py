"""Pacing: how fast aiq may ask AR, so that it never gets a practice throttled or locked out.

AR is a Laravel application behind a throttle whose real limit is unknown. Every request a
process makes with one AR account goes through that account's ``Pacer`` (``pacer_for``), shared
by a sync's fetch threads and anything else the process does with the account:

- **When AR says its limit** (``X-RateLimit-Limit`` / ``X-RateLimit-Remaining``, as Laravel's
  throttle sends), requests go freely while plenty remain, and at 90 % of the limit's rate once
  few do (no more than the requests in flight plus two), so ``Remaining`` never reaches zero.
- **When it does not**, the pace adapts: a 429 halves the rate it was going at (to no less than
  a request a second; several 429s of one moment count once), the pace doubles back every five
  seconds without one, and a minute without a 429 lifts it altogether.
- **Always**: a 429 stops every thread until its ``Retry-After`` has passed (one wait, not a
  stampede of retries), ``max_per_minute`` (``[sync] max_requests_per_minute``) is a ceiling, and
  the first request goes alone, so the limit is known before the threads start.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

# Below this many tokens left (beyond those in flight), pace at the limit's rate.
RESERVE = 2
# The share of AR's stated rate aiq uses once it paces: the bucket never drains.
SHARE = 0.9
# Without AR's headers: the floor of the adaptive rate (Laravel's default throttle allows a
# request a second), its growth per answer that is not a 429, and how long it lasts.
MIN_RATE = 1.0
DOUBLING_SECONDS = 2.0
CALM_SECONDS = 30.0
MAX_PAUSE = 120.0


class Pacer:
    """The request budget of one AR account in this process (thread-safe)."""

    def __init__(
        self,
        max_per_minute: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_per_minute = max_per_minute or None
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._in_flight = 0
        self._answered = False
        self._next_at = 0.0
        self._paused_until = 0.0
        self.limit: int | None = None  # AR's X-RateLimit-Limit, once seen
        self.remaining: int | None = None  # AR's X-RateLimit-Remaining, last seen
        self.rate: float | None = None  # adaptive requests a second, once a 429 set one
        self._last_429 = float("-inf")
        self._sent: deque[float] = deque(maxlen=120)
        self.throttled = 0  # 429s received
        self.waited = 0.0  # seconds spent waiting for the pace

    def _interval(self) -> float:
        """The least time between two sends now (0: none)."""
        rates: list[float] = []
        if self.max_per_minute:
            rates.append(self.max_per_minute / 60.0)
        if self.limit is not None and self.remaining is not None:
            if self.remaining - self._in_flight <= RESERVE:
                rates.append(SHARE * self.limit / 60.0)
        elif self.rate is not None:
            calm = self._clock() - self._last_429
            if calm > CALM_SECONDS:
                self.rate = None  # the throttle's window has passed
            else:
                rates.append(self.rate * 2 ** (calm / DOUBLING_SECONDS))
        return 1.0 / min(rates) if rates else 0.0

    def acquire(self) -> None:
        """Wait until a request may be sent; count it as in flight."""
        with self._cond:
            while True:
                now = self._clock()
                if not self._answered and self._in_flight:
                    self._cond.wait(1.0)  # the first request goes alone
                    continue
                start = max(self._paused_until, self._next_at)
                if now >= start:
                    break
                wait = min(start - now, MAX_PAUSE)
                self.waited += wait
                self._cond.release()
                try:
                    self._sleep(wait)
                finally:
                    self._cond.acquire()
            self._in_flight += 1
            self._next_at = now + self._interval()
            self._sent.append(now)

    def release(
        self, status: int | None, headers: Mapping[str, str] | None = None, retry_after: float = 0
    ) -> None:
        """A request ended: with AR's status and headers, or without an answer (None)."""
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            if status is not None:
                self._answered = True
            if headers is not None:
                self._read_headers(headers)
            if status == 429:
                self.throttled += 1
                now = self._clock()
                pause = min(max(retry_after, 1.0), MAX_PAUSE)
                self._paused_until = max(self._paused_until, now + pause)
                if self.limit is None and now - self._last_429 >= 1.0:
                    self.rate = max(MIN_RATE, self._recent_rate() / 2)
                    self._last_429 = now
            self._cond.notify_all()

    def _read_headers(self, headers: Mapping[str, str]) -> None:
        limit, remaining = headers.get("x-ratelimit-limit"), headers.get("x-ratelimit-remaining")
        if limit is None and remaining is None:
            self.limit = self.remaining = None  # AR no longer says: adapt instead
            return
        try:
            if limit is not None:
                self.limit = max(1, int(limit))
            if remaining is not None:
                self.remaining = max(0, int(remaining))
        except ValueError:
            pass  # not Laravel's headers after all: adapt instead

    def _recent_rate(self) -> float:
        """Requests a second over the recent sends (of the last minute)."""
        now = self._clock()
        recent = [t for t in self._sent if now - t <= CALM_SECONDS]
        if len(recent) < 2:
            return MIN_RATE * 2
        span = recent[-1] - recent[0]
        return (len(recent) - 1) / span if span > 0 else float(len(recent))


_PACERS: dict[tuple[str, str], Pacer] = {}
_PACERS_LOCK = threading.Lock()


def pacer_for(base_url: str, account: str, max_per_minute: float | None = None) -> Pacer:
    """The one pacer of AR account ``account`` (its sign-in email) at ``base_url`` in this
    process: every client of the same account shares the budget."""
    key = (base_url.rstrip("/").lower(), account.strip().lower())
    with _PACERS_LOCK:
        pacer = _PACERS.get(key)
        if pacer is None:
            pacer = _PACERS[key] = Pacer(max_per_minute)
        elif max_per_minute:
            pacer.max_per_minute = max_per_minute
        return pacer
