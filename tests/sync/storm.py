"""Fault storms: a third of all requests fail (429 with Retry-After, 502 HTML pages and session
expiries in all four forms, in equal parts), for the storm test and bench/bench_storm.py."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from aiq.ar.pacing import Pacer
from aiq.config import SyncSettings
from aiq.sandbox.faults import Faults
from aiq.sandbox.server import RunningSandbox
from aiq.store.db import Store
from tests.sync.conftest import SyncFn, make_client
from tests.sync.truth import assert_matches_truth

EXPIRIES = ("expire_401", "expire_json", "expire_redirect", "expire_html")
STORM = {"429": 1 / 9, "502": 1 / 9, **{kind: 1 / 36 for kind in EXPIRIES}}
"""The share of all requests each fault takes: a third in all, 429s, 502s and expiries alike."""


def storm(faults: Faults, seed: int) -> None:
    """Make a third of the requests fail, in the shares of ``STORM`` (seeded, so runs repeat).

    The sandbox tries its rules in order, each on the requests the rules before it let through,
    so each rule's rate is its share of what is left. Sign-ins never get an expiry (that is not
    a form AR has), so a third of the other requests do fail, and two ninths of the sign-ins.
    """
    left = 1.0
    for i, (kind, share) in enumerate(STORM.items()):
        rate = share / left
        if i == 0:
            faults.set(kind, rate=rate, seed=seed)
        else:
            faults.add(kind, rate=rate)
        left -= share


@dataclass
class Tally:
    """What a series of storm syncs did."""

    runs: int = 0
    finished: int = 0
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    logins: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        failed = sum(self.faults.values())
        share = failed / self.requests if self.requests else 0.0
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.faults.items()))
        return (
            f"{self.finished}/{self.runs} runs finished ok and equal to the truth; "
            f"{self.requests} requests, {failed} faults injected ({share:.0%}: {kinds}), "
            f"{self.logins} sign-ins, {self.seconds:.0f} s"
        )


# Appointments are read four weeks ahead, not thirteen: fewer requests, the same storm. (Each 429
# stops every thread for a second or more and slows the pace, as it should for a throttled AR, so
# a storm sync takes a while whatever its size.)
FUTURE_DAYS = 28


def storm_runs(
    store: Store,
    org_id: int,
    running: RunningSandbox,
    run_sync: SyncFn,
    *,
    runs: int,
    seed: int,
    settings: SyncSettings,
    advance: bool,
) -> Tally:
    """A clean first sync, then ``runs`` syncs in the storm (each a day later when ``advance``);
    every one must end ok with the database equal to the sandbox's truth."""
    sb = running.sandbox
    assert run_sync(running, settings=settings).status == "ok"
    tally = Tally()
    for i in range(runs):
        if advance:
            sb.advance(1)
        storm(sb.faults, seed + i)
        sb.faults.injected.clear()
        sb.stats.reset()
        # A pace of its own, as each run of the daemon (a process of its own) has.
        client = make_client(running.base_url, pacer=Pacer())
        began = time.monotonic()
        try:
            report = run_sync(running, settings=settings, client=client)
        finally:
            client.close()
            sb.faults.clear()
        tally.runs += 1
        tally.seconds += time.monotonic() - began
        tally.requests += sb.stats.total
        tally.faults.update(sb.faults.injected)
        tally.logins += client.stats.logins
        assert report.status == "ok", (i, report.errors)
        assert_matches_truth(store, sb, org_id, future_days=settings.future_days)
        tally.finished += 1
    return tally
