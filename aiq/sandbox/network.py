"""The network between aiq and AR, played by the sandbox: latency and AR's rate limit.

AR is across the internet (100-300 ms a request) and, being a Laravel application, behind a
throttle. ``Network`` delays every ``/api/...`` answer server-side (a normal draw around the
latency) and keeps a token bucket per AR account (per client address before sign-in): a request
takes a token or gets ``429 Too Many Attempts.`` with ``Retry-After``, and every answer says
``X-RateLimit-Limit`` and ``X-RateLimit-Remaining`` as Laravel's throttle does.

Named profiles, for benchmarks and tests: ``loopback`` (no delay, no limit), ``internet``
(150 ms +- 50 ms) and ``limited`` (``internet`` with 60 requests a minute).
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class NetworkProfile:
    """How far away AR is and how hard it throttles."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_limit_per_minute: float | None = None
    """Requests a minute each AR account may make (the bucket's refill rate); None: no limit."""
    burst: int | None = None
    """The bucket's size: requests that may go at once (default: a minute's worth)."""

    @property
    def capacity(self) -> int:
        if self.rate_limit_per_minute is None:
            return 0
        return self.burst if self.burst is not None else max(1, int(self.rate_limit_per_minute))


PROFILES: dict[str, NetworkProfile] = {
    "loopback": NetworkProfile(),
    "internet": NetworkProfile(latency_ms=150.0, jitter_ms=50.0),
    "limited": NetworkProfile(latency_ms=150.0, jitter_ms=50.0, rate_limit_per_minute=60.0),
}


def parse_latency(text: str) -> tuple[float, float]:
    """``MS`` or ``MS:JITTER`` (milliseconds) as (latency, jitter)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?::\s*(\d+(?:\.\d+)?))?\s*", text)
    if not m:
        raise ValueError(f"latency {text!r} is not MS or MS:JITTER (milliseconds)")
    return float(m.group(1)), float(m.group(2) or 0.0)


def parse_rate_limit(text: str) -> tuple[float | None, int | None]:
    """``N/min`` (or ``N``), optionally ``:BURST``, as (requests a minute, burst); ``off``: none."""
    if text.strip().lower() in ("off", "none", "0"):
        return None, None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*min)?\s*(?::\s*(\d+))?\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"rate limit {text!r} is not N/min or N/min:BURST")
    burst = int(m.group(2)) if m.group(2) else None
    if burst is not None and burst < 1:
        raise ValueError("the burst must be at least 1")
    return float(m.group(1)), burst


class TokenBucket:
    """``capacity`` tokens, refilled at ``per_minute`` a minute; a request takes one."""

    def __init__(
        self, per_minute: float, capacity: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.capacity = capacity
        self.clock = clock
        self.tokens = float(capacity)
        self.at = clock()

    def take(self) -> tuple[bool, int, float]:
        """(admitted, tokens left, seconds until a token is back when refused)."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True, int(self.tokens), 0.0
        return False, 0, (1.0 - self.tokens) / self.rate


@dataclass(frozen=True)
class Admission:
    """The rate limiter's answer to one request: ``limit`` is the requests a minute (0 when there
    is no limit), ``remaining`` the tokens left in the bucket after this request."""

    admitted: bool
    limit: int = 0
    remaining: int = 0
    retry_after: float = 0.0

    def headers(self) -> list[tuple[bytes, bytes]]:
        """Laravel's throttle headers (none without a limit)."""
        if not self.limit:
            return []
        out = [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(self.remaining).encode()),
        ]
        if not self.admitted:
            wait = max(1, math.ceil(self.retry_after))
            out += [
                (b"retry-after", str(wait).encode()),
                (b"x-ratelimit-reset", str(int(time.time()) + wait).encode()),
            ]
        return out


class Network:
    """The latency and rate limit applied to ``/api/...``, changeable while the sandbox runs."""

    def __init__(self, profile: NetworkProfile | None = None, *, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.profile = profile or NetworkProfile()
        self._buckets: dict[str, TokenBucket] = {}
        self.throttled = 0
        """429s answered by the rate limit since the sandbox started (or the last set)."""

    def set(self, profile: NetworkProfile) -> None:
        """Switch to ``profile``: buckets start full again."""
        with self._lock:
            self.profile = profile
            self._buckets.clear()
            self.throttled = 0

    def configure(self, doc: dict[str, Any]) -> None:
        """Set from an admin request: ``{"profile": "internet"}``, and/or ``latency`` ("MS:J"),
        ``rate_limit`` ("N/min:B" or "off"), or the profile's own fields."""
        profile = self.profile
        if "profile" in doc:
            name = str(doc["profile"])
            if name not in PROFILES:
                raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
            profile = PROFILES[name]
        if "latency" in doc:
            latency, jitter = parse_latency(str(doc["latency"]))
            profile = replace(profile, latency_ms=latency, jitter_ms=jitter)
        if "rate_limit" in doc:
            rate, burst = parse_rate_limit(str(doc["rate_limit"]))
            profile = replace(profile, rate_limit_per_minute=rate, burst=burst)
        fields = {k: doc[k] for k in asdict(profile) if k in doc}
        if fields:
            profile = replace(profile, **fields)
        self.set(profile)

    def delay(self) -> float:
        """Seconds to hold the next answer (never negative)."""
        p = self.profile
        if p.latency_ms <= 0:
            return 0.0
        with self._lock:
            ms = self._rng.gauss(p.latency_ms, p.jitter_ms) if p.jitter_ms else p.latency_ms
        return max(0.0, ms) / 1000.0

    def admit(self, key: str) -> Admission:
        """Take a token from ``key``'s bucket (an AR account, or a client address)."""
        p = self.profile
        if p.rate_limit_per_minute is None:
            return Admission(True)
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(p.rate_limit_per_minute, p.capacity)
            ok, remaining, wait = bucket.take()
            if not ok:
                self.throttled += 1
        return Admission(ok, max(1, int(p.rate_limit_per_minute)), remaining, wait)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self.profile), "throttled": self.throttled}
