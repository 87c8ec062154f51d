"""The sync against AR as the network makes it: throttled (paced to AR's limit, it ends equal to
the truth without a storm of 429s) and trickling (a clear error at the deadline, lock released)."""

from __future__ import annotations

import pytest

from aiq.config import SyncSettings
from aiq.errors import UpstreamUnavailable
from aiq.sandbox import Sandbox
from aiq.sandbox.network import NetworkProfile
from aiq.sandbox.server import serve_in_thread
from aiq.sandbox.testing import make_config
from aiq.store.db import Store
from tests.sync.conftest import RECENT, SyncFn, make_client
from tests.sync.truth import assert_matches_truth

# 50 requests a second with a bucket of 5: a sync at eight threads would drain it at once.
LIMIT = NetworkProfile(rate_limit_per_minute=3000, burst=5)


def test_a_first_sync_under_a_rate_limit_is_paced_and_complete(
    store: Store, org_id: int, run_sync: SyncFn
) -> None:
    with serve_in_thread(Sandbox(make_config(clinics=1, network=LIMIT))) as running:
        sb = running.sandbox
        report = run_sync(running, SyncSettings(concurrency=8))
        assert report.status == "ok", report.errors
        assert_matches_truth(store, sb, org_id)
        requests = sb.stats.total
        assert requests > 150
        # Fewer than 1 % of the requests met a 429 (the limit was read from AR's headers).
        assert sb.network.throttled * 100 < requests, (sb.network.throttled, requests)


def test_a_trickling_answer_fails_the_run_at_the_deadline_and_frees_the_lock(
    store: Store, org_id: int, run_sync: SyncFn
) -> None:
    with serve_in_thread(Sandbox(make_config(clinics=1))) as running:
        sb = running.sandbox
        sb.faults.set("trickle", endpoints=["invoices"], delay=0.05)
        slow = make_client(running.base_url, deadline=1.0, max_retries=0)
        try:
            with pytest.raises(UpstreamUnavailable, match=r"no whole answer within 1s"):
                run_sync(running, client=slow, since=RECENT)
        finally:
            slow.close()
        sb.faults.clear()
        # The lock went with the failed run: the next sync runs (it would exit 5 otherwise). Both
        # read three months: the deadline and the lock are the point, not the history.
        report = run_sync(running, since=RECENT)
        assert report.status == "ok", report.errors
