"""A sync whose process is gone is not `running` forever: the lock tells, and the next run, report
or `aiq status` marks it interrupted; a run under way in another process is left alone.

The processes are real and killed with SIGKILL; the moment is the sandbox's hold (the sync is
mid-run, some windows committed), never a timer.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from aiq.sandbox.config import DEFAULT_EMAIL, DEFAULT_PASSWORD
from aiq.sandbox.server import RunningSandbox
from aiq.store.db import Store, open_store
from aiq.store.models import SyncRun, table_of
from aiq.store.statuses import RUN_INTERRUPTED_ERROR
from tests.helpers import aiq, login
from tests.sync.conftest import RECENT

HOLD_AFTER = 40
"""Data requests let through before the sandbox holds the sync (one of three months, from
``RECENT``, makes about 100: how much history there is does not matter here)."""


def _sign_in(db_url: str, running: RunningSandbox) -> None:
    login(db_url, running.base_url, DEFAULT_EMAIL, DEFAULT_PASSWORD)


def _sync_args(db_url: str, running: RunningSandbox) -> list[str]:
    return [
        sys.executable, "-m", "aiq", "--db", db_url, "sync", "--quiet", "--wait", "30",
        "--today", running.sandbox.now.date().isoformat(), "--since", RECENT.isoformat(),
    ]  # fmt: skip


@contextmanager
def held_sync(db_url: str, running: RunningSandbox) -> Iterator[subprocess.Popen[bytes]]:
    """A real `aiq sync` process, held by the sandbox mid-run for the body of the block; the
    hold is released (and the process killed if still there) when it ends."""
    hold = running.sandbox.faults.hold(HOLD_AFTER, endpoints=("appointments", "invoices"))
    proc = subprocess.Popen(
        _sync_args(db_url, running), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 300  # a last guard; the hold is the event
        while not hold.reached.wait(0.05):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the sync never reached the hold"
        yield proc
    finally:
        hold.release()
        if proc.poll() is None and proc.returncode is None:
            proc.wait(300)
        if proc.stderr:
            proc.stderr.close()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(60) == -signal.SIGKILL


def _runs(store: Store) -> list[Any]:
    t = table_of(SyncRun)
    with store.connect() as conn:
        return list(conn.execute(select(t).order_by(t.c.id)))


def _report(capsys: pytest.CaptureFixture[str], db_url: str) -> dict[str, Any]:
    r = aiq(capsys, "--db", db_url, "report", "sync", "--format", "json")
    assert r.code == 0, r.err
    doc: dict[str, Any] = json.loads(r.out)
    return doc


def test_killed_sync_is_marked_interrupted_by_the_next_report_and_the_next_run(
    db_url: str, fresh_served: RunningSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    _sign_in(db_url, fresh_served)
    store = open_store(db_url)
    try:
        with held_sync(db_url, fresh_served) as proc:
            # Under way in another process: neither a report nor `aiq status` touches it.
            doc = _report(capsys, db_url)
            assert doc["runs"][0]["status"] == "running", doc["runs"]
            status = aiq(capsys, "--db", db_url, "status")
            assert status.code == 0, status.err
            assert "Last sync: running" in status.out
            (run,) = _runs(store)
            assert run.status == "running" and run.ended_at is None
            _kill(proc)
        killed = _runs(store)[0]
        assert killed.status == "running"  # nobody has looked yet

        # The next report sees the lock free: the run is interrupted, in the report and the log.
        doc = _report(capsys, db_url)
        shown = doc["runs"][0]
        assert shown["status"] == "interrupted" and shown["error"] == RUN_INTERRUPTED_ERROR
        assert shown["ended_at"] is not None
        (run,) = _runs(store)
        assert run.status == "interrupted" and run.error == RUN_INTERRUPTED_ERROR
        # Its end is its last sign of life (a window it finished), not the moment it was found.
        assert run.started_at <= run.ended_at < datetime_of(doc["now"])
        status = aiq(capsys, "--db", db_url, "status")
        assert "Last sync: interrupted" in status.out, status.out

        # Killed again; this time the next sync is the first to look.
        with held_sync(db_url, fresh_served) as proc:
            _kill(proc)
        assert [r.status for r in _runs(store)] == ["interrupted", "running"]
        done = subprocess.run(
            _sync_args(db_url, fresh_served), capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr
        runs = _runs(store)
        assert [r.status for r in runs] == ["interrupted", "interrupted", "ok"]
        assert runs[1].error == RUN_INTERRUPTED_ERROR and runs[1].ended_at is not None
    finally:
        store.dispose()


def datetime_of(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def test_database_restored_from_a_backup_taken_mid_sync_does_not_stay_running(
    db_url: str, fresh_served: RunningSandbox, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _sign_in(db_url, fresh_served)
    backup = tmp_path / "mid-sync.backup"
    with held_sync(db_url, fresh_served):
        taken = aiq(capsys, "--db", db_url, "backup", "--method", "logical", "--out", str(backup))
        assert taken.code == 0, taken.err
    # The sync went on and finished; its lock is free. Restore the backup taken in its middle.
    restored = aiq(capsys, "--db", db_url, "restore", "--force", str(backup))
    assert restored.code == 0, restored.err
    store = open_store(db_url)
    try:
        assert [r.status for r in _runs(store)] == ["running"]
        status = aiq(capsys, "--db", db_url, "status")
        assert status.code == 0, status.err
        assert "Last sync: interrupted" in status.out, status.out
        (run,) = _runs(store)
        assert run.status == "interrupted" and run.error == RUN_INTERRUPTED_ERROR
    finally:
        store.dispose()
