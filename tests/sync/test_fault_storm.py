"""A sync finishes when a third of all requests fail: 429 with Retry-After, 502 HTML pages and
session expiries in all four forms, in equal parts, at concurrency 8 (issue 15).

A storm sync is slow by design (each 429 stops every thread and slows the pace), so this test is
in ``make test-slow``; twenty runs in a row, with their figures, are ``bench/bench_storm.py``.
"""

from __future__ import annotations

import pytest

from aiq.config import SyncSettings
from aiq.sandbox import Sandbox
from aiq.sandbox.server import serve_in_thread
from aiq.sandbox.testing import make_config
from aiq.store.db import Store
from tests.sync.conftest import SyncFn
from tests.sync.storm import storm_runs


@pytest.mark.slow
def test_a_sync_finishes_when_a_third_of_all_requests_fail(
    store: Store, org_id: int, run_sync: SyncFn
) -> None:
    # Short windows around today (nothing changes between the runs, so they need no more): a
    # few dozen requests a run, the same storm.
    settings = SyncSettings(
        concurrency=8, future_days=14, lookback_days=14, invoice_lookback_days=14
    )
    with serve_in_thread(Sandbox(make_config(clinics=1))) as running:
        tally = storm_runs(
            store, org_id, running, run_sync, runs=2, seed=1, settings=settings, advance=False
        )
    assert tally.finished == 2
    # The storm was one: about a third of the requests failed, with sign-ins again and again.
    failed = sum(tally.faults.values())
    assert failed > 0.2 * tally.requests and tally.logins > 2, tally.line()
