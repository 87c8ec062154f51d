"""`kill -9` of a real `aiq sync` process mid-run loses nothing and duplicates nothing.

The kill points are fixed by the sandbox, not by the clock: it holds the Nth request of the sync
until the test has killed the process, so the process is always mid-run (some windows committed,
others in flight) however fast or loaded the machine is.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from aiq.sandbox.config import DEFAULT_EMAIL, DEFAULT_PASSWORD
from aiq.sandbox.server import RunningSandbox
from aiq.store.db import open_store
from aiq.store.models import SyncRun, SyncWindow, table_of
from aiq.store.orgs import resolve_org
from tests.helpers import login
from tests.sync.conftest import SINCE
from tests.sync.truth import assert_matches_truth

KILL_AFTER_REQUESTS = (90, 130)
"""Where each run is killed: after this many of its data requests. A full sync makes about 330,
and each run after the first reads the lookback again (about 65 requests) before going on: the
first kill lands in the first read, the second in a run that went on from a killed one."""


def test_sync_killed_mid_run_then_rerun_matches_truth(
    db_url: str, fresh_served: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches: many commits, so that every kill lands between some of them.
    monkeypatch.setenv("AIQ_SYNC_BATCH_ROWS", "400")
    # Two threads: the windows in flight (each about 8 pages) finish one after another, so the
    # requests of a run before its kill always finish some.
    monkeypatch.setenv("AIQ_SYNC_CONCURRENCY", "2")
    sb = fresh_served.sandbox
    login(db_url, fresh_served.base_url, DEFAULT_EMAIL, DEFAULT_PASSWORD)
    sync_args = [
        sys.executable, "-m", "aiq", "--db", db_url, "sync", "--quiet", "--wait", "30",
        "--today", sb.now.date().isoformat(), "--since", SINCE.isoformat(),
    ]  # fmt: skip
    store = open_store(db_url)
    windows = table_of(SyncWindow)
    try:
        done_before = 0
        for after in KILL_AFTER_REQUESTS:
            hold = sb.faults.hold(after, endpoints=("appointments", "invoices"))
            proc = subprocess.Popen(sync_args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                deadline = time.monotonic() + 300  # a last guard; the hold is the event
                while not hold.reached.wait(0.05):
                    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                    assert time.monotonic() < deadline, "the sync never reached the hold"
                proc.send_signal(signal.SIGKILL)
                assert proc.wait(60) == -signal.SIGKILL
            finally:
                hold.release()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(60)
                if proc.stderr:
                    proc.stderr.close()
            with store.connect() as conn:
                done = conn.execute(select(func.count()).select_from(windows)).scalar_one()
            # Each killed run kept what it had finished, and the next went on from there.
            assert done > done_before
            done_before = done
        assert done_before > 0, "no window was committed before the kills"
        finished = subprocess.run(sync_args, capture_output=True, text=True, timeout=300)
        assert finished.returncode == 0, finished.stderr
        assert_matches_truth(store, sb, resolve_org(store, None).id)
        with store.connect() as conn:
            statuses = [r[0] for r in conn.execute(select(table_of(SyncRun).c.status))]
        assert statuses.count("ok") == 1
    finally:
        store.dispose()
