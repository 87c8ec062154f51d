"""Several `aiq daemon run` processes share one Postgres: one sync per org at a time, none lost."""

from __future__ import annotations

import itertools
import os
import signal
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from aiq.sandbox import Sandbox
from aiq.sandbox.config import AccountSpec
from aiq.sandbox.server import RunningSandbox, serve_in_thread
from aiq.sandbox.testing import TEST_TODAY, make_config
from aiq.store.db import Store, open_store
from aiq.store.models import SyncRun, table_of
from tests.daemon.conftest import DaemonProcess
from tests.helpers import aiq_process

ORGS = 12
DAEMONS = 3
RUN = ("--interval-seconds", "1", "--today", TEST_TODAY.isoformat())
ACCOUNTS = tuple(
    AccountSpec(
        account_id=7100 + i,
        name=f"Spa {i:02d}",
        email=f"owner{i}@spa{i}.example",
        password=f"pw-{i}-not-a-real-secret",
    )
    for i in range(ORGS)
)


@pytest.fixture
def many(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningSandbox]:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("AIQ_SYNC_SINCE_MONTHS", "2")
    monkeypatch.setenv("AIQ_AR_MAX_RETRIES", "1")
    with serve_in_thread(Sandbox(make_config(accounts=ACCOUNTS))) as running:
        yield running


def runs_by_org(store: Store) -> dict[int, list[tuple[datetime, datetime | None, str]]]:
    t = table_of(SyncRun)
    found: dict[int, list[tuple[datetime, datetime | None, str]]] = defaultdict(list)
    with store.connect() as conn:
        for r in conn.execute(select(t).order_by(t.c.started_at)):
            found[int(r.org_id)].append((r.started_at, r.ended_at, str(r.status)))
    return found


def ok_runs(store: Store) -> dict[int, int]:
    return {k: sum(1 for *_, s in v if s == "ok") for k, v in runs_by_org(store).items()}


def test_three_daemons_share_the_orgs_and_survive_a_kill(
    pg_schema: str, many: RunningSandbox, tmp_path: Path
) -> None:
    db = pg_schema
    for acc in ACCOUNTS:
        done = aiq_process(
            "--db", db, "login", "--email", acc.email, "--password-stdin",
            "--base-url", many.base_url, "--org", acc.name,
            env=dict(os.environ), input=acc.password + "\n",
        )  # fmt: skip
        assert done.code == 0, done.err
    store = open_store(db)
    daemons = [
        DaemonProcess(db, tmp_path / f"d{i}.log", *RUN, "--pidfile", str(tmp_path / f"d{i}.pid"))
        for i in range(DAEMONS)
    ]
    try:
        first = daemons[0]
        first.wait_for(
            lambda: len(ok_runs(store)) == ORGS and min(ok_runs(store).values()) >= 2,
            240,
            "two good syncs of every org",
        )
        # Kill one daemon outright (no clean-up, its worker may be mid-sync).
        os.kill(daemons[0].proc.pid, signal.SIGKILL)
        daemons[0].proc.wait(10)
        before = ok_runs(store)
        daemons[1].wait_for(
            lambda: all(ok_runs(store).get(k, 0) >= n + 2 for k, n in before.items()),
            240,
            "every org synced twice more by the surviving daemons",
        )
        for d in daemons[1:]:
            assert d.terminate() == 0, d.text()
        logs = "".join(d.text() for d in daemons)
        assert "skipped" in logs  # they met on the same org and one stood aside
    finally:
        for d in daemons:
            d.close()
    # Never two syncs of one org at once: each run of an org ends before the next one starts.
    for org_id, runs in runs_by_org(store).items():
        finished = [(s, e) for s, e, _ in runs if e is not None]
        for (_s1, e1), (s2, _e2) in itertools.pairwise(finished):
            assert s2 >= e1, f"org {org_id}: a run started at {s2} before the last ended at {e1}"
    store.dispose()
