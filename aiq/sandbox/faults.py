"""Faults the sandbox can inject, as a real AR backend and its proxies produce them.

Faults are chosen per request: the header `X-Sandbox-Fault: <kind>` forces one on that request;
otherwise the server's rules are tried in order, each firing with its `rate` (from a seeded random
stream, so a test run is repeatable) until its `count` is used up. Rules apply to `/api/...`
requests only, never to the `/__sandbox/...` admin endpoints, and session-expiry faults never to
the sign-in endpoints.

Kinds:

- `429`, `429_date`: HTTP 429 with `Retry-After` in seconds, or as an HTTP date.
- `500`, `502`, `503`, `504`: the status with an HTML body, as a proxy sends it.
- `reset`: the connection is reset (TCP RST) before any byte of the response.
- `truncate`: a 200 whose JSON body is cut off mid-way (Content-Length matches the cut body).
- `corrupt_gzip`: the real response, gzipped (`Content-Encoding: gzip`) with a wrong checksum, so
  that it does not decode (httpx raises DecodingError once it has read it all).
- `trickle`: the real response, whole, a few bytes at a time with `delay` seconds between.
- `slow`: the real response, after `delay` seconds.
- `expire_401`, `expire_json`, `expire_redirect`, `expire_html`: the session ends, in each form
  the contract lists (401; 200 `{"error": "Unauthenticated"}`; 200 `{"redirect": "/login"}`; an
  HTML login page). The token used is revoked, so retrying without signing in again fails again.

Besides the faults, a test can *hold* requests (`faults.hold(after=n)`): the sandbox lets `n`
matching requests through, then keeps the next one (or `count`) waiting until the test releases
them. The client is then known to be mid-run, at a point the test chose, whatever the speed of
the machine: the place to kill it, stop it or look at what it has written so far.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS: tuple[str, ...] = (
    "429",
    "429_date",
    "500",
    "502",
    "503",
    "504",
    "reset",
    "truncate",
    "corrupt_gzip",
    "trickle",
    "slow",
    "expire_401",
    "expire_json",
    "expire_redirect",
    "expire_html",
)
EXPIRY_KINDS = frozenset(k for k in FAULT_KINDS if k.startswith("expire_"))
SIGN_IN_ENDPOINTS = frozenset({"login", "login_2fa"})


class Hold:
    """Requests held by the sandbox until `release()` (see `Faults.hold`)."""

    def __init__(
        self, after: int, count: int, endpoints: frozenset[str] | None, timeout: float
    ) -> None:
        self.to_pass = after
        self.to_hold = count
        self.endpoints = endpoints
        self.timeout = timeout
        self.reached = threading.Event()
        """Set when the first held request has arrived (it waits from then on)."""
        self._released = threading.Event()

    def take(self, endpoint: str) -> bool:
        """Whether a request to `endpoint` is to be held (called under the faults' lock)."""
        if self.to_hold <= 0 or (self.endpoints is not None and endpoint not in self.endpoints):
            return False
        if self.to_pass > 0:
            self.to_pass -= 1
            return False
        self.to_hold -= 1
        return True

    def release(self) -> None:
        """Let the held requests (and any later ones) be answered."""
        self._released.set()

    def wait_released(self) -> bool:
        """Called by the server for a held request: True once released, False on timeout."""
        self.reached.set()
        return self._released.wait(self.timeout)


@dataclass
class FaultRule:
    """One rule: inject `kind` on a share `rate` of matching requests, at most `count` times."""

    kind: str
    rate: float = 1.0
    count: int | None = None
    endpoints: frozenset[str] | None = None
    delay: float | None = None
    retry_after: int | None = None

    def matches(self, endpoint: str) -> bool:
        """Whether the rule may fire on this endpoint."""
        if self.kind in EXPIRY_KINDS and endpoint in SIGN_IN_ENDPOINTS:
            return False
        return self.endpoints is None or endpoint in self.endpoints

    def as_dict(self) -> dict[str, Any]:
        """The rule as JSON for `GET /__sandbox/faults`."""
        return {
            "kind": self.kind,
            "rate": self.rate,
            "count": self.count,
            "endpoints": sorted(self.endpoints) if self.endpoints is not None else None,
            "delay": self.delay,
            "retry_after": self.retry_after,
        }


def _check_kind(kind: str) -> str:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
    return kind


@dataclass
class Faults:
    """The fault controls of one sandbox (thread-safe: tests set them while the server runs)."""

    default_delay: float = 2.0
    default_retry_after: int = 1
    rules: list[FaultRule] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    """How many times each kind fired."""
    trickled: int = 0
    """How many pieces trickled answers were sent in, all told."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(0)
        self._holds: list[Hold] = []

    def set(
        self,
        kind: str,
        rate: float = 1.0,
        *,
        seed: int | None = None,
        count: int | None = None,
        endpoints: Iterable[str] | None = None,
        delay: float | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Replace every rule with this one (and reseed the stream when `seed` is given)."""
        with self._lock:
            self.rules.clear()
        self.add(
            kind,
            rate,
            seed=seed,
            count=count,
            endpoints=endpoints,
            delay=delay,
            retry_after=retry_after,
        )

    def add(
        self,
        kind: str,
        rate: float = 1.0,
        *,
        seed: int | None = None,
        count: int | None = None,
        endpoints: Iterable[str] | None = None,
        delay: float | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Add a rule after the existing ones."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        rule = FaultRule(
            _check_kind(kind),
            rate,
            count,
            frozenset(endpoints) if endpoints is not None else None,
            delay,
            retry_after,
        )
        with self._lock:
            if seed is not None:
                self._rng.seed(seed)
            self.rules.append(rule)

    def once(
        self,
        kind: str,
        *,
        endpoints: Iterable[str] | None = None,
        delay: float | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Inject `kind` on the next matching request only."""
        self.add(kind, 1.0, count=1, endpoints=endpoints, delay=delay, retry_after=retry_after)

    def hold(
        self,
        after: int = 0,
        *,
        count: int = 1,
        endpoints: Iterable[str] | None = None,
        timeout: float = 300.0,
    ) -> Hold:
        """Let `after` matching requests through, then hold the next `count` until released.

        Held requests are answered normally once `release()` is called, or after `timeout`
        seconds at the latest (so a forgotten hold cannot keep a server from stopping).
        """
        if after < 0 or count < 1:
            raise ValueError("after must be zero or more, and count one or more")
        h = Hold(after, count, frozenset(endpoints) if endpoints is not None else None, timeout)
        with self._lock:
            self._holds.append(h)
        return h

    def take_hold(self, endpoint: str) -> Hold | None:
        """The hold that a request to `endpoint` must wait on, if any."""
        with self._lock:
            for h in self._holds:
                if h.take(endpoint):
                    return h
        return None

    def release_holds(self) -> None:
        """Release every hold, waiting or not yet reached."""
        with self._lock:
            holds, self._holds = self._holds, []
        for h in holds:
            h.release()

    def clear(self) -> None:
        """Remove every rule and release every hold (counts of injected faults are kept)."""
        with self._lock:
            self.rules.clear()
        self.release_holds()

    def configure(self, doc: dict[str, Any]) -> None:
        """Apply a JSON document from `POST /__sandbox/faults`.

        `{"clear": true}` removes every rule; `{"kind": ..., "rate": ..., ...}` replaces them
        with one; `{"rules": [{...}, ...], "seed": n}` replaces them with several.
        """
        if doc.get("clear"):
            self.clear()
            return
        specs = doc.get("rules", [doc])
        self.clear()
        if doc.get("seed") is not None:
            with self._lock:
                self._rng.seed(int(doc["seed"]))
        for spec in specs:
            self.add(
                str(spec["kind"]),
                float(spec.get("rate", 1.0)),
                count=spec.get("count"),
                endpoints=spec.get("endpoints"),
                delay=spec.get("delay"),
                retry_after=spec.get("retry_after"),
            )

    def pick(self, endpoint: str, forced: str | None = None) -> FaultRule | None:
        """The fault for one request to `endpoint`, if any; `forced` comes from the header."""
        if forced:
            return FaultRule(_check_kind(forced.strip()))
        with self._lock:
            for rule in self.rules:
                if rule.count is not None and rule.count <= 0:
                    continue
                if not rule.matches(endpoint):
                    continue
                if rule.rate < 1.0 and self._rng.random() >= rule.rate:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                return rule
        return None

    def record(self, kind: str) -> None:
        """Count a fault that fired."""
        with self._lock:
            self.injected[kind] += 1

    def as_dict(self) -> dict[str, Any]:
        """Rules and counts, for `GET /__sandbox/faults`."""
        with self._lock:
            return {"rules": [r.as_dict() for r in self.rules], "injected": dict(self.injected)}
