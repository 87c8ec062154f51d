"""`kill -9` at random points of a real `aiq sync` process loses nothing and duplicates nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from aiq.sandbox.config import DEFAULT_EMAIL, DEFAULT_PASSWORD
from aiq.sandbox.server import RunningSandbox
from aiq.store.db import open_store
from aiq.store.models import SyncRun, table_of
from tests.helpers import aiq_process
from tests.sync.conftest import SINCE
from tests.sync.truth import assert_matches_truth


def test_sync_killed_at_random_points_then_rerun_matches_truth(
    db_url: str, fresh_served: RunningSandbox
) -> None:
    sb = fresh_served.sandbox
    login = aiq_process(
        "--db", db_url, "login", "--email", DEFAULT_EMAIL, "--password-stdin",
        "--base-url", fresh_served.base_url,
        env=dict(os.environ), input=DEFAULT_PASSWORD + "\n",
    )  # fmt: skip
    assert login.code == 0, login.err
    sync_args = [
        sys.executable, "-m", "aiq", "--db", db_url, "sync", "--quiet", "--wait", "30",
        "--today", sb.now.date().isoformat(), "--since", SINCE.isoformat(),
    ]  # fmt: skip
    rng = random.Random(20261126)
    kills = 0
    for _ in range(4):
        proc = subprocess.Popen(sync_args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.8, 3.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(30)
    assert kills >= 2, "the sync finished before it could be killed; the test needs a slower sync"
    done = subprocess.run(sync_args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    store = open_store(db_url)
    try:
        org_id = store_org_id(store)
        assert_matches_truth(store, sb, org_id)
        with store.connect() as conn:
            runs = conn.execute(
                select(func.count())
                .select_from(table_of(SyncRun))
                .where(table_of(SyncRun).c.status == "ok")
            ).scalar_one()
        assert runs >= 1
    finally:
        store.dispose()


def store_org_id(store: object) -> int:
    from aiq.store.orgs import resolve_org

    return int(resolve_org(store, None).id)  # type: ignore[arg-type]


pytestmark = pytest.mark.slow
