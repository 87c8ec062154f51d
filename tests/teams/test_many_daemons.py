"""Several `aiq daemon run` processes share one Postgres: one sync per org at a time, none lost.

`make test` runs a small case (2 daemons, 3 practices, a month of history, one good sync of each
before the kill and one after); the full scenario (3 daemons, 12 practices, two months, two
syncs each before and after) is marked slow and runs in `make test-all`.
"""

from __future__ import annotations

import itertools
import os
import signal
from collections import defaultdict
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
from tests.helpers import login

RUN = ("--interval-seconds", "1", "--today", TEST_TODAY.isoformat())


def accounts(orgs: int) -> tuple[AccountSpec, ...]:
    return tuple(
        AccountSpec(
            account_id=7100 + i,
            name=f"Spa {i:02d}",
            email=f"owner{i}@spa{i}.example",
            password=f"pw-{i}-not-a-real-secret",
        )
        for i in range(orgs)
    )


def runs_by_org(store: Store) -> dict[int, list[tuple[datetime, datetime | None, str]]]:
    t = table_of(SyncRun)
    found: dict[int, list[tuple[datetime, datetime | None, str]]] = defaultdict(list)
    with store.connect() as conn:
        for r in conn.execute(select(t).order_by(t.c.started_at)):
            found[int(r.org_id)].append((r.started_at, r.ended_at, str(r.status)))
    return found


def ok_runs(store: Store) -> dict[int, int]:
    return {k: sum(1 for *_, s in v if s == "ok") for k, v in runs_by_org(store).items()}


@pytest.mark.parametrize(
    ("daemons", "orgs", "months", "syncs"),
    [(2, 3, 1, 1), pytest.param(3, 12, 2, 2, marks=pytest.mark.slow)],
    ids=["small", "large"],
)
def test_daemons_share_the_orgs_and_survive_a_kill(
    pg_schema: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    daemons: int,
    orgs: int,
    months: int,
    syncs: int,
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("AIQ_SYNC_SINCE_MONTHS", str(months))
    monkeypatch.setenv("AIQ_AR_MAX_RETRIES", "1")
    spas = accounts(orgs)
    with serve_in_thread(Sandbox(make_config(accounts=spas))) as many:
        share_and_survive(pg_schema, many, tmp_path, spas, daemons, syncs)


def share_and_survive(
    db: str,
    many: RunningSandbox,
    tmp_path: Path,
    spas: tuple[AccountSpec, ...],
    count: int,
    syncs: int,
) -> None:
    for acc in spas:
        login(db, many.base_url, acc.email, acc.password, "--org", acc.name)
    store = open_store(db)
    daemons = [
        DaemonProcess(db, tmp_path / f"d{i}.log", *RUN, "--pidfile", str(tmp_path / f"d{i}.pid"))
        for i in range(count)
    ]
    try:
        first = daemons[0]
        first.wait_for(
            lambda: len(ok_runs(store)) == len(spas) and min(ok_runs(store).values()) >= syncs,
            600,
            f"{syncs} good sync(s) of every org",
        )
        # Kill one daemon outright (no clean-up, its worker may be mid-sync).
        os.kill(daemons[0].proc.pid, signal.SIGKILL)
        daemons[0].proc.wait(60)
        before = ok_runs(store)
        daemons[1].wait_for(
            lambda: all(ok_runs(store).get(k, 0) >= n + syncs for k, n in before.items()),
            600,
            f"every org synced {syncs} more time(s) by the surviving daemons",
        )
        for d in daemons[1:]:
            assert d.terminate(timeout=120) == 0, d.text()
        logs = "".join(d.text() for d in daemons)
        assert "skipped" in logs  # they met on the same org and one stood aside
        # Never two syncs of one org at once: each run of an org ends before the next starts.
        for org_id, runs in runs_by_org(store).items():
            finished = [(s, e) for s, e, _ in runs if e is not None]
            for (_s1, e1), (s2, _e2) in itertools.pairwise(finished):
                assert s2 >= e1, (
                    f"org {org_id}: a run started at {s2} before the last ended at {e1}"
                )
    finally:
        for d in daemons:
            d.close()
        store.dispose()
