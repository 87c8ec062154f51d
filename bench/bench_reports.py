"""Benchmark `aiq report revenue --month` end to end, on SQLite and Postgres, as history grows.

    .venv/bin/python -m bench.bench_reports [--clinics 10] [--years 3] [--runs 7] [--no-write]

In one run:

- the large practice (10 clinics, 3 years by default) is served from its own process and synced
  into a fresh SQLite file and a fresh Postgres schema (`bench.sync_child`);
- `aiq report revenue --month 2026-10` runs as a user runs it, a new process each time (Python
  start-up, imports, opening the store, the queries, the table and chart), several times; the
  median wall time is reported, with the floor of `aiq --version` and the part spent in the
  report itself (queries and rendering, measured in-process) beside it;
- the same on 5 clinics with 1 and with 4 years of history, to show how the time grows when the
  history grows 4x (target: less than 2x).

Figures go to docs/benchmarks.md (section bench_reports) with the machine, its load and the date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from bench.bench_sync import pg_schema_url, run_child
from bench.common import TODAY, machine, sandbox_process, write_section

MONTH = "2026-10"
TARGET_SECONDS = 0.5


def _aiq(*args: str) -> float:
    env = {**os.environ, "COLUMNS": "120", "AIQ_CONFIG_DIR": "/nonexistent-aiq-bench"}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "aiq", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    return time.perf_counter() - start


def end_to_end(url: str, runs: int) -> dict[str, float]:
    """Median and best wall time of the real command, a new process each run (after a warm-up)."""
    args = ("--db", url, "report", "revenue", "--month", MONTH, "--today", TODAY.isoformat())
    _aiq(*args)
    walls = [_aiq(*args) for _ in range(runs)]
    return {"median": statistics.median(walls), "best": min(walls)}


def startup_floor(runs: int) -> float:
    """`aiq --version`: the interpreter and the CLI, nothing else."""
    _aiq("--version")
    return statistics.median(_aiq("--version") for _ in range(runs))


_PHASES = """
import sys, time
t0 = time.perf_counter()
import aiq.cli
t1 = time.perf_counter()
from aiq.reports import api, revenue
from aiq.render import report_views
t2 = time.perf_counter()
from aiq.store.reader import open_reader
with open_reader(sys.argv[1]) as db:
    db.rows("select 1")
t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2, "sqlalchemy" in sys.modules)
"""


def phases(url: str, runs: int) -> dict[str, Any]:
    """Where a new process spends its time before the report's own work (best runs)."""
    found: list[list[str]] = []
    for _ in range(runs + 1):
        out = subprocess.run(
            [sys.executable, "-c", _PHASES, url], capture_output=True, text=True, check=True
        )
        found.append(out.stdout.split())
    found = found[1:]
    names = ("cli", "report_import", "open_reader")
    split: dict[str, Any] = {n: min(float(f[i]) for f in found) for i, n in enumerate(names)}
    split["sqlalchemy_loaded"] = any(f[3] == "True" for f in found)
    return split


def in_process(url: str, runs: int) -> dict[str, Any]:
    """The report's own work: its queries and its rendering, in a warm process."""
    from rich.console import Console

    from aiq.render.report_views import show_revenue
    from aiq.reports import api
    from aiq.store.reader import UrlSource

    source = UrlSource(url)
    req = api.ReportRequest(month=MONTH, today=TODAY)
    api.revenue(source, req)
    compute, render = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        report = api.revenue(source, req)
        t1 = time.perf_counter()
        show_revenue(Console(file=io.StringIO(), width=120), report, "table")
        compute.append(t1 - t0)
        render.append(time.perf_counter() - t1)
    with source.reader() as db:
        (invoices,) = db.one("select count(*) from invoice")
        (rollup,) = db.one(
            "select count(*) from rollup_sales_daily where local_date between :a and :b",
            a=dt.date(2026, 10, 1),
            b=dt.date(2026, 10, 31),
        )
    return {
        # The best run: on a shared machine, other work only ever adds time.
        "compute": min(compute),
        "render": min(render),
        "invoices": int(invoices),
        "rollup_rows": int(rollup),
        "net_sales": report.summary.net_sales,
    }


def measure(url: str, runs: int) -> dict[str, Any]:
    return {**in_process(url, runs), **end_to_end(url, runs)}


def synced(base: str, tmp: str, dialect: str, tag: str) -> str:
    url = (
        f"sqlite:///{Path(tmp) / f'{tag}.db'}"
        if dialect == "sqlite"
        else pg_schema_url(f"bench_reports_{tag}")
    )
    result = run_child(url, base, reset=True)
    print(f"{tag} {dialect} synced: {result}", file=sys.stderr)
    return url


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clinics", type=int, default=10)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-write", action="store_true", help="print the figures only")
    args = parser.parse_args()
    load_before = _load()
    floor = startup_floor(args.runs)
    large: dict[str, dict[str, Any]] = {}
    split: dict[str, float] = {}
    with TemporaryDirectory() as tmp, sandbox_process(args.clinics, args.years) as base:
        for dialect in ("sqlite", "postgres"):
            url = synced(base, tmp, dialect, "large")
            large[dialect] = measure(url, args.runs)
            print(f"large {dialect}: {large[dialect]}", file=sys.stderr)
            if dialect == "sqlite":
                split = phases(url, args.runs)
                print(f"phases: {split}", file=sys.stderr)
    growth: dict[tuple[str, int], dict[str, Any]] = {}
    for years in (1, 4):
        with TemporaryDirectory() as tmp, sandbox_process(5, years) as base:
            for dialect in ("sqlite", "postgres"):
                url = synced(base, tmp, dialect, f"h{years}")
                growth[(dialect, years)] = measure(url, args.runs)
                print(f"{years}y {dialect}: {growth[(dialect, years)]}", file=sys.stderr)
    load_after = _load()

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f} ms"

    rows = []
    for dialect, m in large.items():
        verdict = "meets" if m["median"] < TARGET_SECONDS else "misses"
        target = f" ({verdict} the 0.5 s target)" if dialect == "sqlite" else ""
        rows.append(
            f"| {dialect} | {m['invoices']:,} | {m['rollup_rows']:,} "
            f"| **{m['median']:.2f} s**{target} (best {m['best']:.2f} s) "
            f"| {ms(m['compute'])} | {ms(m['render'])} |"
        )
    grow_rows = []
    for dialect in ("sqlite", "postgres"):
        one, four = growth[(dialect, 1)], growth[(dialect, 4)]
        grow_rows.append(
            f"| {dialect} | {one['invoices']:,} → {four['invoices']:,} "
            f"({four['invoices'] / one['invoices']:.1f}x) "
            f"| best {one['best']:.2f} s → {four['best']:.2f} s "
            f"(**{four['best'] / one['best']:.2f}x**); median {one['median']:.2f} s → "
            f"{four['median']:.2f} s "
            f"| {ms(one['compute'])} → {ms(four['compute'])} "
            f"({four['compute'] / one['compute']:.2f}x) |"
        )
    body = [
        "## `aiq report revenue --month` end to end",
        "",
        f"Measured {dt.date.today()} on {machine()} with `python -m bench.bench_reports` "
        f"(load average {load_before} before, {load_after} after, raised by the benchmark's "
        "own syncs between the timed runs; "
        f"median and best of {args.runs} runs "
        "after a warm-up, each a new process writing the table and the daily chart).",
        "",
        f"Large practice: {args.clinics} clinics, {args.years} years, synced from the sandbox. "
        f"`aiq --version` alone (Python and the CLI) takes {ms(floor)}.",
        "",
        "| database | invoices | rollup rows of the month | `aiq report revenue --month "
        f"{MONTH}` (median) | queries (best) | table and chart (best) |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "As the history grows 4x (5 clinics, 1 year then 4 years):",
        "",
        "| database | invoices | end to end (new process) | queries (best run) |",
        "|---|---|---|---|",
        *grow_rows,
        "",
        "The queries read the daily rollups (a month is a few thousand rows whatever the history)"
        " and, for the average ticket, the month's invoices through the date index, so they do"
        " not grow with the history. Most of the wall time is fixed cost paid before the report"
        " starts (SQLite, best runs): Python and the CLI "
        f"{ms(split['cli'])}, the report and rendering modules {ms(split['report_import'])},"
        f" connecting and checking the schema version {ms(split['open_reader'])}. Reports read"
        " with the driver alone (`aiq/store/reader.py`): SQLAlchemy is "
        + ("**loaded**" if split["sqlalchemy_loaded"] else "not loaded")
        + " on this path.",
    ]
    text = "\n".join(body)
    print(text)
    if not args.no_write:
        write_section("bench_reports", text)


if __name__ == "__main__":
    main()
