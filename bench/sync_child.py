"""One sync in its own process, for the benchmarks: prints wall time, records and peak RSS as JSON.

python -m bench.sync_child DB_URL SANDBOX_URL TODAY SINCE reset|keep
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time

from sqlalchemy import insert, select

from aiq.ar.client import ARClient
from aiq.config import SyncSettings
from aiq.store.db import open_store
from aiq.store.models import Org, table_of
from aiq.sync.engine import SyncEngine, SyncOptions
from bench.common import EMAIL, PASSWORD, peak_rss_mb


def main() -> None:
    db_url, base_url, today, since, mode = sys.argv[1:6]
    store = open_store(db_url, migrate=False)
    store.upgrade()
    with store.begin() as conn:
        org = conn.execute(
            select(table_of(Org).c.id).where(table_of(Org).c.name == "bench")
        ).scalar()
        if org is None:
            org = conn.execute(
                insert(table_of(Org)).values(
                    name="bench",
                    ar_account_id=4411,
                    ar_base_url=base_url,
                    currency="USD",
                    status="active",
                    created_at=dt.datetime(2026, 1, 1),
                )
            ).inserted_primary_key[0]  # type: ignore[index]
    settings = SyncSettings()
    client = ARClient(
        base_url, email=EMAIL, password=PASSWORD, max_connections=settings.concurrency * 2
    )
    options = SyncOptions(
        today=dt.date.fromisoformat(today), since=dt.date.fromisoformat(since), full=mode == "reset"
    )
    start = time.perf_counter()
    report = SyncEngine(store, client, int(org), settings, options).run()
    wall = time.perf_counter() - start
    records = sum(
        s.inserted + s.changed for s in report.streams if s.stream in ("appointments", "invoices")
    )
    windowed = [s for s in report.streams if s.stream in ("appointments", "invoices")]
    print(
        json.dumps(
            {
                "status": report.status,
                "wall": wall,
                "records": records if mode == "reset" else sum(s.windows for s in windowed),
                "requests": report.requests,
                "written": report.totals().inserted
                + report.totals().changed
                + report.totals().removed,
                "rss_mb": peak_rss_mb(),
            }
        )
    )


if __name__ == "__main__":
    main()
