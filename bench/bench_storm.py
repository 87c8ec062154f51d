"""Twenty syncs in a row when a third of all requests fail, on SQLite and Postgres.

    .venv/bin/python -m bench.bench_storm [--runs 20] [--db sqlite|postgres|both] [--no-write]

A one-clinic sandbox in this process, a clean first sync, then ``--runs`` syncs a day apart, each
in a storm: 429 with Retry-After, 502 HTML pages and session expiries in all four forms, a third
of all requests in equal parts (seeded), at concurrency 8, each with a pacer of its own (as each
of the daemon's runs has). Every run must end ok with the database equal to the sandbox's truth.
A storm sync is slow by design: each 429 stops every thread and slows the pace. About 13 minutes
a database on a 2-core machine. Figures go to docs/benchmarks.md (section bench_storm).
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from aiq.config import SyncSettings
from aiq.sandbox import Sandbox
from aiq.sandbox.server import serve_in_thread
from aiq.sandbox.testing import make_config
from aiq.store.db import Store, open_store
from bench.common import machine, write_section
from tests.sync.conftest import add_org, sync_once
from tests.sync.storm import FUTURE_DAYS, Tally, storm_runs

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def fresh_store(dialect: str) -> Iterator[Store]:
    """An empty, migrated database of ``dialect``, removed afterwards."""
    if dialect == "sqlite":
        with tempfile.TemporaryDirectory() as d:
            store = open_store(f"sqlite:///{d}/storm.db")
            try:
                yield store
            finally:
                store.dispose()
        return
    schema = f"storm_{secrets.token_hex(4)}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'create schema "{schema}"')
    store = open_store(f"{PG_URL}?options=-csearch_path%3D{schema}")
    try:
        yield store
    finally:
        store.dispose()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'drop schema "{schema}" cascade')


def storm_series(dialect: str, runs: int) -> Tally:
    settings = SyncSettings(concurrency=8, future_days=FUTURE_DAYS)
    with fresh_store(dialect) as store, serve_in_thread(Sandbox(make_config(clinics=1))) as sb:
        org_id = add_org(store)
        return storm_runs(
            store,
            org_id,
            sb,
            functools.partial(sync_once, store, org_id),
            runs=runs,
            seed=100,
            settings=settings,
            advance=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    dialects = ("sqlite", "postgres") if args.db == "both" else (args.db,)
    load = os.getloadavg()[0]
    rows = []
    for dialect in dialects:
        tally = storm_series(dialect, args.runs)
        print(f"[{dialect}] {tally.line()}", flush=True)
        failed = sum(tally.faults.values())
        rows.append(
            f"| {dialect} | {tally.finished}/{tally.runs} | {tally.requests:,} | {failed:,}"
            f" ({failed / max(1, tally.requests):.0%}) | {tally.logins} | {tally.seconds:.0f} s |"
        )
    body = "\n".join(
        [
            "## Syncs in a fault storm (`bench/bench_storm.py`)",
            "",
            f"Measured {dt.date.today()} on {machine()} (load average {load:.2f} before):"
            f" {args.runs} syncs a day apart, each with a third of all requests failing (429 with"
            " Retry-After, 502 HTML pages, session expiries in all four forms, in equal parts),"
            " at concurrency 8, one clinic, appointments four weeks ahead. Each run must end ok"
            " and equal to the sandbox's truth.",
            "",
            "| database | runs finished | requests | faults injected | sign-ins | wall |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )
    if not args.no_write:
        write_section("bench_storm", body)


if __name__ == "__main__":
    main()
