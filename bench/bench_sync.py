"""Benchmark `aiq sync` against its floors, on SQLite and Postgres.

    .venv/bin/python -m bench.bench_sync [--clinics 10] [--years 3] [--no-write]

In one run, against one sandbox served from its own process:

- the fetch floor: the same windows, at the same concurrency, fetched and discarded (by the
  leanest client: http.client, a kept-alive connection per thread);
- aiq's full sync (wall, records/s, peak RSS of the syncing process) into a fresh database;
- a no-change re-sync;
- the database's own bulk-load floor: the same rows aiq stored, loaded into empty tables with
  SQLite's executemany in one transaction, or Postgres' COPY;
- peak RSS of a full sync at 1x and 4x the history (5 clinics, 1 and 4 years), to show it is flat.

Figures go to docs/benchmarks.md (section bench_sync) with the machine and the date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from urllib.parse import urlsplit

import psycopg

from aiq.config import SyncSettings
from aiq.sync.plan import windows_between
from bench.common import EMAIL, PASSWORD, TODAY, machine, sandbox_process, write_section

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
SINCE = dt.date(2020, 1, 1)
TABLES = ("appointment", "appointment_service", "invoice", "invoice_item", "payment", "refund")


def fetch_floor(base_url: str, settings: SyncSettings) -> dict[str, float]:
    """Fetch every page aiq's first sync reads, with the same concurrency, and discard them.

    The leanest client there is: the standard library's http.client, one kept-alive connection
    per thread, no parsing but the first page's count of pages. (httpx's default client here
    takes about 5 % longer.)
    """
    since = SINCE
    tasks = [
        ("a", w)
        for w in windows_between(
            since, TODAY + dt.timedelta(days=settings.future_days), settings.window_days
        )
    ]
    tasks += [("i", w) for w in windows_between(since, TODAY, settings.window_days)]
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80

    login = http.client.HTTPConnection(host, port, timeout=60)
    login.request(
        "POST",
        "/api/login",
        json.dumps({"email": EMAIL, "password": PASSWORD}),
        {"Content-Type": "application/json"},
    )
    token = json.loads(login.getresponse().read())["data"]["token"]
    login.close()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    local = threading.local()
    opened: list[http.client.HTTPConnection] = []

    def one(task: tuple[str, Any]) -> tuple[int, int]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(host, port, timeout=60)
            opened.append(conn)
        kind, w = task
        page, last, records, requests = 1, 1, 0, 0
        while page <= last:
            if kind == "a":
                path = "/api/appointment"
                body = {"start": str(w.start), "end": str(w.end), "page_number": page}
            else:
                path = "/api/sales/invoices"
                body = {"fromDate": str(w.start), "toDate": str(w.end), "page_number": page}
            conn.request("POST", path, json.dumps(body), headers)
            data = conn.getresponse().read()
            requests += 1
            if page == 1:
                meta = json.loads(data)["data"]
                last, records = meta["last_page"], meta["total"]
            page += 1
        return records, requests

    start = time.perf_counter()
    with ThreadPoolExecutor(settings.concurrency) as pool:
        results = list(pool.map(one, tasks))
    wall = time.perf_counter() - start
    for conn in opened:
        conn.close()
    records = sum(r for r, _ in results)
    return {"wall": wall, "records": records, "requests": sum(q for _, q in results)}


def run_child(db_url: str, base_url: str, *, reset: bool) -> dict[str, Any]:
    """Run one sync in a child process (so its peak RSS is its own) and return its figures."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.sync_child",
            db_url,
            base_url,
            TODAY.isoformat(),
            SINCE.isoformat(),
            "reset" if reset else "keep",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def bulk_floor(db_url: str) -> dict[str, float]:
    """Load the rows aiq stored into empty copies of its tables with the database's bulk path."""
    from sqlalchemy import select

    from aiq.store.db import Store
    from aiq.store.models import metadata

    store = Store(db_url)
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with store.connect() as conn:
        for name in TABLES:
            rows[name] = [tuple(r) for r in conn.execute(select(metadata.tables[name]))]
    total = sum(len(v) for v in rows.values())
    if store.dialect == "sqlite":
        import sqlite3

        with TemporaryDirectory() as tmp:
            path = Path(tmp) / "floor.db"
            src = sqlite3.connect(str(store.engine.url.database))
            ddl = [
                sql
                for (name, sql) in src.execute(
                    "select name, sql from sqlite_master where sql is not null"
                )
                if name in TABLES or any(f"ON {t} " in sql or f'ON "{t}"' in sql for t in TABLES)
            ]
            src.close()
            dst = sqlite3.connect(path, isolation_level=None)
            dst.execute("pragma journal_mode=wal")
            dst.execute("pragma synchronous=normal")
            for sql in ddl:
                dst.execute(sql)
            start = time.perf_counter()
            dst.execute("begin")
            for name, data in rows.items():
                if data:
                    marks = ",".join("?" * len(data[0]))
                    dst.executemany(f"insert into {name} values ({marks})", data)
            dst.execute("commit")
            wall = time.perf_counter() - start
            dst.close()
    else:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute("drop schema if exists bench_floor cascade")
            conn.execute("create schema bench_floor")
            schema = str(store.engine.url.query.get("options", "")).split("=")[-1] or "public"
            for name in TABLES:
                conn.execute(
                    f"create table bench_floor.{name} (like {schema}.{name} including all)"
                )
            start = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                for name, data in rows.items():
                    with cur.copy(f"copy bench_floor.{name} from stdin") as copy:
                        for row in data:
                            copy.write_row(row)
            wall = time.perf_counter() - start
            conn.execute("drop schema bench_floor cascade")
    store.dispose()
    return {"wall": wall, "rows": total}


def pg_schema_url(name: str) -> str:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"drop schema if exists {name} cascade")
        conn.execute(f"create schema {name}")
    return f"{PG_URL}?options=-csearch_path%3D{name}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clinics", type=int, default=10)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print the figures only")
    args = parser.parse_args()
    settings = SyncSettings()
    load_before = os.getloadavg()[0]
    lines: list[str] = []
    with TemporaryDirectory() as tmp, sandbox_process(args.clinics, args.years) as base:
        fetch_floor(
            base, settings
        )  # warm the sandbox's caches so every measure sees the same server
        floor = fetch_floor(base, settings)
        print(f"fetch floor: {floor}", file=sys.stderr)
        for dialect in ("sqlite", "postgres"):
            url = (
                f"sqlite:///{Path(tmp) / 'bench.db'}"
                if dialect == "sqlite"
                else pg_schema_url("bench_sync")
            )
            full = run_child(url, base, reset=True)
            print(f"{dialect} full: {full}", file=sys.stderr)
            if dialect == "sqlite":
                sqlite_full = full
            again = run_child(url, base, reset=False)
            print(f"{dialect} re-sync: {again}", file=sys.stderr)
            load = bulk_floor(url)
            print(f"{dialect} bulk floor: {load}", file=sys.stderr)
            lines.append(
                f"| {dialect} "
                f"| {floor['wall']:.1f} s ({floor['records'] / floor['wall']:,.0f} rec/s) "
                f"| {full['wall']:.1f} s ({full['records'] / full['wall']:,.0f} rec/s) "
                f"| **{full['wall'] / floor['wall']:.2f}x** "
                f"| {load['wall']:.1f} s ({load['rows']:,} rows) "
                f"| {full['wall'] / load['wall']:.1f}x "
                f"| {full['rss_mb']:.0f} MB | {again['wall']:.1f} s, {again['requests']} requests, "
                f"{again['written']} rows written |"
            )
    # Peak RSS as the history grows 4x (same clinics, 1 and 4 years).
    rss = []
    for years in (1, 4):
        with TemporaryDirectory() as tmp, sandbox_process(5, years) as base:
            r = run_child(f"sqlite:///{Path(tmp) / 'rss.db'}", base, reset=True)
            rss.append((years, r))
            print(f"rss {years}y: {r}", file=sys.stderr)
    body = [
        "## `aiq sync` against its floors",
        "",
        f"Measured {dt.date.today()} on {machine()} with `python -m bench.bench_sync` "
        f"(load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after) "
        f"(sandbox: {args.clinics} clinics, {args.years} years, served from its own process; "
        f"concurrency {settings.concurrency}, windows of {settings.window_days} days).",
        "",
        f"Records read: {floor['records']:,} appointments and invoices "
        f"in {floor['requests']:,} requests.",
        "",
        "| database | fetch floor | aiq full sync | sync / fetch floor | bulk-load floor "
        "| sync / bulk-load floor | peak RSS | no-change re-sync |",
        "|---|---|---|---|---|---|---|---|",
        *lines,
        "",
        "Peak RSS of a full sync into SQLite as the history grows (5 clinics): "
        + ", ".join(f"{y} year(s): {r['records']:,} records, {r['rss_mb']:.0f} MB" for y, r in rss)
        + f" (ratio {rss[1][1]['rss_mb'] / rss[0][1]['rss_mb']:.2f} "
        f"for {rss[1][1]['records'] / rss[0][1]['records']:.1f}x the data); "
        f"the large practice above ({args.clinics} clinics, {args.years} years): "
        f"{sqlite_full['records']:,} records, {sqlite_full['rss_mb']:.0f} MB "
        f"(ratio {sqlite_full['rss_mb'] / rss[0][1]['rss_mb']:.2f} "
        f"for {sqlite_full['records'] / rss[0][1]['records']:.1f}x the data of the 1-year run).",
    ]
    text = "\n".join(body)
    print(text)
    if not args.no_write:
        write_section("bench_sync", text)


if __name__ == "__main__":
    main()
