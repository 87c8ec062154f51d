"""The daemon's daily chores, through the real worker process: purges past retention, backups."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from aiq.store.db import Store
from aiq.store.models import Org, table_of
from tests.helpers import aiq_process
from tests.sync.conftest import add_org


def test_housekeeping_purges_due_orgs_and_takes_the_daily_backup(
    store: Store, db_url: str, isolated_dirs: Path
) -> None:
    add_org(store, name="Leaving Spa", account_id=1)
    add_org(store, name="Staying Spa", account_id=2)
    r = aiq_process(
        "--db", db_url, "data", "delete", "--org", "Leaving Spa", "--confirm", "Leaving Spa",
        env=dict(os.environ),
    )  # fmt: skip
    assert r.code == 0, r.err
    env = {
        **os.environ,
        "AIQ_DATABASE_URL": db_url,
        "AIQ_DATA_RETENTION_DAYS": "0",
        "AIQ_DATA_DAILY_BACKUP": "true",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "aiq", "daemon", "worker"],
        input=json.dumps({"action": "housekeeping"}),
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "error" not in result, result
    assert Path(result["backup"]).exists()
    with store.connect() as conn:
        names = {r.name for r in conn.execute(select(table_of(Org)))}
    assert names == {"Staying Spa"}
