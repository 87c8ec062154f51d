"""Benchmark `aiq sync` under the sandbox's network profiles, against their floors.

    .venv/bin/python -m bench.bench_network [--clinics 3] [--years 2]
        [--profiles loopback,internet,limited] [--db sqlite|postgres|both] [--no-write]

For each profile, in one run, against one sandbox served from its own process with that profile
(`aiq sandbox serve --profile NAME`):

- aiq's first full sync, in a child process, into a fresh database: status, wall, the requests
  the sandbox received and the 429s it answered (``GET /__sandbox/stats`` and
  ``GET /__sandbox/network``), records synced, CPU seconds and peak RSS of the syncing process;
  the child records every request aiq sends (method, path, query, body, status) with a wrapping
  httpx transport, so aiq's own code runs as it is;
- when this month's revenue report became complete: a thread polls the database read-only every
  0.5 s until every grid window of invoices and appointments overlapping the sandbox's month is
  marked done in the run log (``aiq.store.runlog.windows_done``);
- the floor: on ``loopback`` and ``internet`` the successful requests aiq made, replayed at aiq's
  concurrency by the leanest client (http.client, a kept-alive connection per thread, the pages
  of one window in order, bodies read and discarded), in a process of its own so that its CPU is
  measured too; on ``limited`` the time the rate limit needs for those requests,
  (requests - burst) / rate.

Figures go to docs/benchmarks.md (section bench_network) with the machine and the date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from aiq.config import ARSettings, SyncSettings
from aiq.sync.plan import windows_between
from bench.common import (
    EMAIL,
    ORG_NAME,
    PASSWORD,
    TODAY,
    cpu_seconds,
    machine,
    peak_rss_mb,
    prepare_db,
    rate_limit,
    revision,
    sandbox_process,
    seconds,
)
from bench.common import sandbox_admin as admin

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_DATABASE = "aiq_bench_network"
PROFILES = ("loopback", "internet", "limited")
POLL_SECONDS = 0.5
# Targets printed beside the figures.
LIMITED_RATIO_TARGET = 1.1
LIMITED_429_TARGET = 0.01
INTERNET_RATIO_TARGET = 1.3
MONTH_TARGET_SECONDS = 120.0
LOGIN_PATHS = ("/api/login", "/api/login/2fa")


# --- the syncing child --------------------------------------------------------------------------


class RecordingTransport(httpx.BaseTransport):
    """httpx's own transport, noting each request aiq sends and the status it got back."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        entry = {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query.decode("ascii"),
            "body": request.content.decode("utf-8"),
            "status": response.status_code,
        }
        with self._lock:
            self.log.append(entry)
        return response

    def close(self) -> None:
        self.inner.close()


def child_sync(db_url: str, base_url: str, log_path: str) -> None:
    """One first full sync, as `aiq sync` builds its client; prints its figures as JSON."""
    from sqlalchemy import select

    from aiq.ar.client import ARClient
    from aiq.store.db import open_store
    from aiq.store.models import Org, table_of
    from aiq.sync.engine import SyncEngine, SyncOptions

    store = open_store(db_url, migrate=False)
    with store.connect() as conn:
        org_id = conn.execute(
            select(table_of(Org).c.id).where(table_of(Org).c.name == ORG_NAME)
        ).scalar_one()
    settings, ar = SyncSettings(), ARSettings()
    connections = max(4, settings.concurrency * 2)  # as aiq.usecases.sync.ar_client
    transport = RecordingTransport(
        httpx.HTTPTransport(
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        )
    )
    client = ARClient(
        base_url,
        email=EMAIL,
        password=PASSWORD,
        timeout=ar.timeout_seconds,
        max_retries=ar.max_retries,
        max_connections=connections,
        deadline=ar.request_deadline_seconds,
        max_response_bytes=int(ar.max_response_mb * 1024 * 1024),
        max_requests_per_minute=settings.max_requests_per_minute or None,
        transport=transport,
    )
    options = SyncOptions(today=TODAY, full=True)
    cpu0, started_at, start = cpu_seconds(), time.time(), time.perf_counter()
    with client:
        report = SyncEngine(store, client, int(org_id), settings, options).run()
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu0
    Path(log_path).write_text("".join(json.dumps(e) + "\n" for e in transport.log))
    totals = report.totals()
    print(
        json.dumps(
            {
                "status": report.status,
                "wall": wall,
                "started_at": started_at,
                "records": totals.inserted + totals.changed,
                "aiq_requests": report.requests,
                "logged_requests": len(transport.log),
                "cpu_run": cpu,
                "rss_mb": peak_rss_mb(),
            }
        )
    )


# --- the floor client, in a process of its own --------------------------------------------------


def replay_tasks(log: list[dict[str, Any]]) -> list[tuple[str, str, list[str]]]:
    """The successful requests of ``log`` but sign-ins, as (method, path?query, bodies): one
    task per window (a request less its page number), its pages in the order aiq read them."""
    tasks: dict[tuple[str, str, str], list[str]] = {}
    for e in log:
        if e["status"] != 200 or e["path"] in LOGIN_PATHS:
            continue
        target = e["path"] + (f"?{e['query']}" if e["query"] else "")
        body = e["body"]
        key_body = body
        if body:
            doc = json.loads(body)
            doc.pop("page_number", None)
            key_body = json.dumps(doc, sort_keys=True)
        tasks.setdefault((e["method"], target, key_body), []).append(body)
    return [(method, target, bodies) for (method, target, _), bodies in tasks.items()]


def child_floor(base_url: str, log_path: str, concurrency: int) -> None:
    """Replay aiq's successful requests at ``concurrency``; prints wall and CPU as JSON."""
    log = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line]
    tasks = replay_tasks(log)
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    cpu0, start = cpu_seconds(), time.perf_counter()
    login = http.client.HTTPConnection(host, port, timeout=60)
    login.request(
        "POST",
        "/api/login",
        json.dumps({"email": EMAIL, "password": PASSWORD}),
        {"Content-Type": "application/json", "Accept": "application/json"},
    )
    token = json.loads(login.getresponse().read())["data"]["token"]
    login.close()
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    local = threading.local()
    opened: list[http.client.HTTPConnection] = []

    def one(task: tuple[str, str, list[str]]) -> tuple[int, int]:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(host, port, timeout=60)
            opened.append(conn)
        method, target, bodies = task
        bad = 0
        for body in bodies:
            conn.request(method, target, body.encode() if body else None, headers)
            response = conn.getresponse()
            response.read()
            bad += response.status != 200
        return len(bodies), bad

    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, tasks))
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu0
    for conn in opened:
        conn.close()
    print(
        json.dumps(
            {
                "wall": wall,
                "requests": sum(n for n, _ in results) + 1,  # and the sign-in
                "not_ok": sum(b for _, b in results),
                "windows": len(tasks),
                "cpu_run": cpu,
                "rss_mb": peak_rss_mb(),
            }
        )
    )


# --- the parent ---------------------------------------------------------------------------------


def run_measured(args: list[str], on_start: Callable[[], None] | None = None) -> dict[str, Any]:
    """Run ``python -m bench.bench_network ARGS`` and return its JSON with the process's own
    user + system CPU (``cpu_process``, from wait4: imports and start-up included)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_network", *args],
            stdout=subprocess.PIPE,
            stderr=err,
        )
        try:
            if on_start is not None:
                on_start()
            assert proc.stdout is not None
            out = proc.stdout.read().decode()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(
                f"{args[0]} failed ({proc.returncode}): {err.read().decode()[-3000:]}"
            )
    result = dict(json.loads(out.strip().splitlines()[-1]))
    result["cpu_process"] = usage.ru_utime + usage.ru_stime
    return result


def month_targets(settings: SyncSettings) -> dict[str, set[dt.date]]:
    """Start dates of the grid windows this month's revenue report needs, by stream: every
    window overlapping the sandbox's month (invoices up to today, as a sync reads them)."""
    first = TODAY.replace(day=1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return {
        "invoices": {w.start for w in windows_between(first, TODAY, settings.window_days)},
        "appointments": {w.start for w in windows_between(first, last, settings.window_days)},
    }


@dataclass
class Database:
    """A fresh database for one sync: its URL for aiq, and a read-only opener for the poll."""

    dialect: str
    url: str
    sqlite_path: Path | None = None
    org_id: int = 0

    def read_only_engine(self) -> Any:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        if self.sqlite_path is not None:
            uri = f"file:{self.sqlite_path}?mode=ro"
            return create_engine(
                "sqlite://",
                creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
                poolclass=NullPool,
            )
        return create_engine(
            self.url.replace("postgresql://", "postgresql+psycopg://", 1),
            poolclass=NullPool,
            connect_args={"options": "-c default_transaction_read_only=on"},
        )


@contextmanager
def fresh_database(dialect: str, tmp: Path, name: str) -> Iterator[Database]:
    if dialect == "sqlite":
        path = tmp / f"{name}.db"
        yield Database("sqlite", f"sqlite:///{path}", path)
        return
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"drop database if exists {PG_DATABASE} with (force)")
        conn.execute(f"create database {PG_DATABASE}")
    try:
        yield Database("postgres", PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_DATABASE}")
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"drop database if exists {PG_DATABASE} with (force)")


class MonthPoll(threading.Thread):
    """Every 0.5 s, open the database read-only and check whether this month's windows are all
    marked done; ``done_at`` is the wall-clock time it first saw them so."""

    def __init__(self, db: Database, targets: dict[str, set[dt.date]]) -> None:
        super().__init__(daemon=True)
        self.db, self.targets = db, targets
        self.stop = threading.Event()
        self.done_at: float | None = None
        self.polls = 0
        self.errors: list[str] = []

    def complete(self) -> bool:
        from aiq.store.runlog import windows_done

        engine = self.db.read_only_engine()
        try:
            with engine.connect() as conn:
                return all(
                    want <= set(windows_done(conn, self.db.org_id, stream))
                    for stream, want in self.targets.items()
                )
        finally:
            engine.dispose()

    def run(self) -> None:
        while not self.stop.is_set():
            self.polls += 1
            try:
                if self.complete():
                    self.done_at = time.time()
                    return
            except Exception as exc:  # a database mid-write: try again at the next poll
                if len(self.errors) < 5:
                    self.errors.append(repr(exc))
            self.stop.wait(POLL_SECONDS)


@dataclass
class ProfileResult:
    """The figures of one profile (one sync per database, one floor)."""

    profile: str
    network: dict[str, Any]
    syncs: dict[str, dict[str, Any]] = field(default_factory=dict)
    floor: dict[str, Any] = field(default_factory=dict)


def measure_sync(
    base_url: str, profile: str, db: Database, log_path: Path, settings: SyncSettings
) -> dict[str, Any]:
    """aiq's first full sync into ``db``, with the sandbox's counts and the month poll."""
    db.org_id = prepare_db(db.url, base_url)
    admin(base_url, "POST", "/__sandbox/network", {"profile": profile})  # full buckets, 0 429s
    admin(base_url, "DELETE", "/__sandbox/stats")
    poll = MonthPoll(db, month_targets(settings))
    launched = time.time()
    result = run_measured(["_sync", db.url, base_url, str(log_path)], on_start=poll.start)
    poll.stop.set()
    poll.join()
    ended = result["started_at"] + result["wall"]
    if poll.done_at is None and poll.complete():
        poll.done_at = ended  # done, but only seen once the sync had ended
    stats = admin(base_url, "GET", "/__sandbox/stats")
    network = admin(base_url, "GET", "/__sandbox/network")
    result["requests"] = sum(stats.values())
    result["throttled"] = int(network["throttled"])
    result["launched_at"] = launched
    result["month_s"] = None if poll.done_at is None else poll.done_at - result["started_at"]
    result["month_before_end"] = poll.done_at is not None and poll.done_at < ended
    result["poll_errors"] = poll.errors
    return result


def run_profile(
    profile: str, args: argparse.Namespace, dialects: list[str], tmp: Path
) -> ProfileResult:
    settings = SyncSettings()
    with sandbox_process(args.clinics, args.years, extra_args=("--profile", profile)) as base:
        network = admin(base, "GET", "/__sandbox/network")
        out = ProfileResult(profile, network)
        limited = network["rate_limit_per_minute"] is not None
        if not limited:
            # Warm the sandbox (its serialiser's caches) with an unmeasured sync, so that the
            # measured sync and the floor after it see the same server.
            with fresh_database("sqlite", tmp, f"{profile}-warm") as warm:
                measure_sync(base, profile, warm, tmp / f"{profile}-warm.jsonl", settings)
        for dialect in dialects:
            with fresh_database(dialect, tmp, f"{profile}-{dialect}") as db:
                log_path = tmp / f"{profile}-{dialect}.jsonl"
                sync = measure_sync(base, profile, db, log_path, settings)
                print(f"{profile} {dialect} sync: {json.dumps(sync)}", file=sys.stderr)
                out.syncs[dialect] = sync
        log_path = tmp / f"{profile}-{dialects[0]}.jsonl"
        first = out.syncs[dialects[0]]
        needed = first["requests"] - first["throttled"]
        if limited:
            rate, burst = rate_limit(network)
            out.floor = {
                "wall": max(0.0, needed - burst) / rate,
                "requests": needed,
                "rate": rate,
                "burst": burst,
            }
        else:
            out.floor = run_measured(["_floor", base, str(log_path), str(settings.concurrency)])
        print(f"{profile} floor: {json.dumps(out.floor)}", file=sys.stderr)
    return out


def month_text(sync: dict[str, Any]) -> str:
    if sync["month_s"] is None:
        return "not before the end"
    if not sync["month_before_end"]:
        return f"not before the end (at {seconds(sync['month_s'])})"
    return f"after {seconds(sync['month_s'])}"


def table(res: ProfileResult) -> list[str]:
    floor = res.floor
    rows = [
        f"### `{res.profile}`",
        "",
        "| database | status | requests | 429s | records | wall | floor | sync / floor "
        "| this month complete | CPU-s (process) | CPU-s per 100k records | peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dialect, s in res.syncs.items():
        share = s["throttled"] / s["requests"] if s["requests"] else 0.0
        per_100k = s["cpu_run"] / s["records"] * 100_000 if s["records"] else 0.0
        rows.append(
            f"| {dialect} | {s['status']} | {s['requests']:,} | {s['throttled']:,} "
            f"({share:.1%}) | {s['records']:,} | {seconds(s['wall'])} "
            f"| {seconds(floor['wall'])} | **{s['wall'] / floor['wall']:.2f}x** "
            f"| {month_text(s)} | {s['cpu_run']:.1f} ({s['cpu_process']:.1f}) "
            f"| {per_100k:.1f} | {s['rss_mb']:.0f} MB |"
        )
    if "cpu_run" in floor:
        records = next(iter(res.syncs.values()))["records"]
        per_100k = floor["cpu_run"] / records * 100_000 if records else 0.0
        rows.append(
            f"| floor client | | {floor['requests']:,} | 0 | {records:,} "
            f"| {seconds(floor['wall'])} "
            f"| | | | {floor['cpu_run']:.1f} ({floor['cpu_process']:.1f}) | {per_100k:.1f} "
            f"| {floor['rss_mb']:.0f} MB |"
        )
    return rows


def verdicts(results: list[ProfileResult]) -> list[str]:
    """The targets, each beside what was measured."""
    out = []
    for res in results:
        s = next(iter(res.syncs.values()))
        ratio = s["wall"] / res.floor["wall"] if res.floor["wall"] else float("inf")
        share = s["throttled"] / s["requests"] if s["requests"] else 0.0
        if res.profile == "limited":
            ok = ratio <= LIMITED_RATIO_TARGET and share < LIMITED_429_TARGET
            out.append(
                f"- `limited`: within {LIMITED_RATIO_TARGET}x of its floor with 429s under "
                f"{LIMITED_429_TARGET:.0%} of requests: {ratio:.2f}x, {share:.1%} "
                f"(**{'met' if ok else 'missed'}**)."
            )
            month = s["month_s"] if s["month_before_end"] else None
            ok = month is not None and month <= MONTH_TARGET_SECONDS
            out.append(
                f"- `limited`: this month's report complete within {MONTH_TARGET_SECONDS:.0f} s "
                f"of starting: {month_text(s)} (**{'met' if ok else 'missed'}**)."
            )
        elif res.profile == "internet":
            ok = ratio <= INTERNET_RATIO_TARGET
            out.append(
                f"- `internet`: within {INTERNET_RATIO_TARGET}x of its floor: {ratio:.2f}x "
                f"(**{'met' if ok else 'missed'}**)."
            )
        elif res.profile == "loopback" and "cpu_run" in res.floor:
            per = s["cpu_run"] / s["records"] * 100_000 if s["records"] else 0.0
            floor = res.floor["cpu_run"] / s["records"] * 100_000 if s["records"] else 0.0
            out.append(
                f"- `loopback`: aiq {per:.1f} CPU-s per 100k records vs the floor client's "
                f"{floor:.1f} ({per / floor:.1f}x); wall {ratio:.2f}x of the floor."
                if floor
                else f"- `loopback`: wall {ratio:.2f}x of the floor."
            )
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_sync":
        child_sync(*sys.argv[2:5])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_floor":
        child_floor(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clinics", type=int, default=3)
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--profiles", default=",".join(PROFILES))
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--no-write", action="store_true", help="print the figures only")
    args = parser.parse_args()
    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    unknown = [p for p in profiles if p not in PROFILES]
    if unknown:
        parser.error(f"unknown profile(s): {', '.join(unknown)}; known: {', '.join(PROFILES)}")
    dialects = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    settings = SyncSettings()
    load_before = os.getloadavg()
    measured = revision()
    started = time.perf_counter()
    results: list[ProfileResult] = []
    with tempfile.TemporaryDirectory() as tmp:
        for profile in profiles:
            results.append(run_profile(profile, args, dialects, Path(tmp)))
    load_after = os.getloadavg()
    command = "python -m bench.bench_network" + "".join(
        f" {a}" for a in sys.argv[1:] if a != "--no-write"
    )
    first = TODAY.replace(day=1)
    body = [
        "## `aiq sync` over the network profiles, against their floors",
        "",
        f"Measured {dt.date.today()} on {machine()} with `{command}` at {measured} "
        f"(load average {load_before[0]:.2f}/{load_before[1]:.2f} before, "
        f"{load_after[0]:.2f}/{load_after[1]:.2f} after (1/5 minutes); "
        f"the whole run took {seconds(time.perf_counter() - started)}). "
        f"Sandbox: {args.clinics} clinic(s), {args.years} year(s), seed 42, "
        f"date {TODAY}, served from its own process with `--profile NAME`; aiq's first full "
        f"sync with the default settings (concurrency {settings.concurrency}, windows of "
        f"{settings.window_days} days, {settings.since_months} months back and "
        f"{settings.future_days} days ahead).",
        "",
        "Requests and 429s are the sandbox's counts (`GET /__sandbox/stats`, "
        "`GET /__sandbox/network`), sign-in included. Wall is the sync itself (the engine's run); "
        "CPU-s is user + system time of the syncing process during the sync, and in brackets of "
        "the whole process (start-up and imports included). Records are the records the sync "
        f'stored (every stream). "This month complete" is when every grid window of invoices '
        f"and appointments overlapping {first:%B %Y} was marked done in the run log, counted "
        f"from the start of the sync (polled every {POLL_SECONDS} s).",
        "",
    ]
    for res in results:
        body += [*table(res), ""]
    body += [
        "Targets:",
        "",
        *verdicts(results),
        "",
        "The floors:",
        "",
        "- `loopback` and `internet`: the requests aiq made that the sandbox answered with "
        "200 (reference lists and windows; not the sign-in, nor any 429), replayed against the "
        "same sandbox at aiq's concurrency by the leanest client there is: the standard "
        "library's http.client, one kept-alive connection per thread, signed in once, the pages "
        "of one window one after another (as aiq must: the first page says how many follow), "
        "bodies read and discarded. It runs in a process of its own, so its CPU is measured as "
        "aiq's is. Before the measured sync an unmeasured one warms the sandbox, so that both "
        "see the same server.",
        "- `limited`: the time the rate limit itself needs: (requests - burst) / rate, where "
        "requests are those aiq made less the 429s it got, and the bucket starts full (burst "
        "60, refilled at 60 a minute). No client can do better without making fewer requests; "
        "the latency of the last requests comes on top.",
    ]
    text = "\n".join(body)
    print(text)
    if not args.no_write:
        from bench.common import write_section

        write_section("bench_network", text)


if __name__ == "__main__":
    main()
