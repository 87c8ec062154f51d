"""The real daemon process against the sandbox: schedule, faults, SIGTERM mid-sync, one instance."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable

import pytest
from sqlalchemy import select

from aiq.sandbox.server import RunningSandbox
from aiq.sandbox.testing import TEST_TODAY
from aiq.store.db import Store
from aiq.store.models import SyncRun, table_of
from aiq.store.orgs import resolve_org
from tests.daemon.conftest import DaemonProcess, runs
from tests.helpers import aiq_process
from tests.sync.truth import assert_matches_truth

RUN = ("--interval-seconds", "1", "--today", TEST_TODAY.isoformat())


def test_daemon_syncs_on_schedule_survives_faults_and_refuses_a_second_instance(
    signed_in: tuple[str, RunningSandbox, Store],
    start_daemon: Callable[..., DaemonProcess],
) -> None:
    db_url, sandbox, store = signed_in
    sb = sandbox.sandbox
    daemon = start_daemon(db_url, *RUN)
    daemon.wait_for(lambda: runs(store, "ok") >= 2, 90, "two scheduled syncs")
    assert "next sync now (overdue)" in daemon.text()

    # A second daemon on the same data directory is refused while the first runs.
    second = aiq_process("--db", db_url, "daemon", "run", *RUN, timeout=60)
    assert second.code == 5, second.err
    assert "already running" in second.err

    # AR fails every request for a while: a run fails, the daemon keeps going (the next runs
    # meet connection resets, then a good run follows).
    failed_before = runs(store, "failed")
    sb.faults.set("503", rate=1.0)
    daemon.wait_for(lambda: runs(store, "failed") >= failed_before + 1, 60, "a failed run")
    sb.faults.set("reset", rate=0.3, seed=3)
    ok_before = runs(store, "ok") + runs(store, "partial")
    daemon.wait_for(lambda: sb.faults.injected["reset"] >= 3, 60, "connection resets")
    sb.faults.clear()
    daemon.wait_for(
        lambda: runs(store, "ok") >= ok_before + 1, 60, "a good run after the faults cleared"
    )
    assert daemon.proc.poll() is None
    assert "sync failed" in daemon.text()

    assert daemon.terminate() == 0
    assert "aiq daemon stopped" in daemon.text()
    assert_matches_truth(store, sb, resolve_org(store, None).id)


def test_sigterm_in_the_middle_of_a_sync_loses_nothing(
    signed_in: tuple[str, RunningSandbox, Store],
    start_daemon: Callable[..., DaemonProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db_url, sandbox, store = signed_in
    sb = sandbox.sandbox
    monkeypatch.setenv("AIQ_SYNC_BATCH_ROWS", "400")  # windows are committed early and often
    # The first (backfill) sync gets 120 data pages (of about 400), then AR keeps every later
    # request waiting: SIGTERM comes while the sync is surely in the middle, windows written.
    held = sb.faults.hold(120, count=1000, endpoints=("appointments", "invoices"))
    daemon = start_daemon(db_url, *RUN)
    t = table_of(SyncRun)

    def running_with_progress() -> bool:
        from aiq.store.models import SyncWindow

        with store.connect() as conn:
            busy = conn.execute(select(t.c.id).where(t.c.status == "running")).first()
            done = conn.execute(select(table_of(SyncWindow).c.window_start)).first()
        return busy is not None and done is not None

    daemon.wait_for(held.reached.is_set, 120, "the sync to reach the held requests")
    daemon.wait_for(running_with_progress, 120, "a sync in progress with windows written")
    daemon.proc.send_signal(signal.SIGTERM)
    daemon.wait_for(lambda: "stopping after the current batch" in daemon.text(), 60, "the stop")
    # The held pages are answered (the worker waits for what it has in flight), slowly from now
    # on: the hundreds of pages left would take far longer than noticing the stop does.
    sb.faults.set("slow", delay=0.2, endpoints=["appointments", "invoices"])
    held.release()
    assert daemon.terminate(timeout=120) == 0
    log = daemon.text()
    assert "finished windows are kept" in log  # it stopped mid-way, keeping what it had written
    with store.connect() as conn:
        statuses = [r[0] for r in conn.execute(select(t.c.status))]
    assert "running" not in statuses  # the run was closed in the log, not left dangling

    # The lock was released: a sync runs at once and ends equal to the ground truth.
    sb.faults.clear()
    done = aiq_process(
        "--db", db_url, "sync", "--quiet", "--today", TEST_TODAY.isoformat(), timeout=300
    )  # fmt: skip
    assert done.code == 0, done.err
    assert_matches_truth(store, sb, resolve_org(store, None).id)


def test_daemon_without_anyone_signed_in_waits_and_stops_cleanly(
    db_url: str, start_daemon: Callable[..., DaemonProcess]
) -> None:
    daemon = start_daemon(db_url, *RUN)
    daemon.wait_for(lambda: "nobody is signed in" in daemon.text(), 60, "the warning")
    assert daemon.terminate() == 0
    assert sys.executable  # the daemon ran under this interpreter
