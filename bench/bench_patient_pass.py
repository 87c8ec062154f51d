"""Benchmark the nightly patient pass (`aiq sync --patients`) against its floors.

    .venv/bin/python -m bench.bench_patient_pass [--profiles limited] [--skip-limited]
        [--skip-default] [--skip-large] [--runs 5] [--db sqlite|postgres|both] [--no-write]
        [--results FILE]

Each practice is served by a sandbox in its own process (`aiq sandbox serve`, seed 42, the
benchmarks' date) and first synced, unmeasured, on `loopback` (a first sync runs the pass too);
that database is then the starting state: every measured run starts from a copy of it, in a child
process of its own (CPU of the run from getrusage and of the whole process from wait4, peak RSS
from VmHWM). The pass is ``SyncOptions(patients=True)``, what `aiq sync --patients` runs.

1. The default practice (3 clinics, 2 years) under each of ``--profiles`` (`limited` by default;
   the sandbox's profile is switched with ``POST /__sandbox/network``, which starts the buckets
   full): the pass's requests and 429s as the sandbox counted them (``GET /__sandbox/stats`` and
   ``GET /__sandbox/network``), its wall, CPU and peak RSS. The floor under `limited` is the time
   the rate limit needs, (requests - 429s - burst) / rate, as in bench_network; under `loopback`
   or `internet` it is the same full read with the pass off. Then, back on `loopback`, an
   ordinary run after the pass, told no date as the daemon's are (the engine's clock is set to
   the sandbox's day): its requests give "a day", 46 runs and one pass.
2. The large practice (10 clinics, 3 years) on `loopback`, ``--runs`` times each, alternating:
   the pass, and its floor, the same full read with the pass off (``SyncOptions(full=True)``,
   ``PrivacySettings(patient_figures=False)``): peak RSS, CPU seconds and wall, and their ratios.
   Inside the pass's run the compute and save phases are timed and the RSS before and after them
   read; the facts it held and the ``patient_figure`` rows it wrote are counted. One more pass,
   not measured otherwise, weighs the facts themselves (``PatientTap.nbytes``).

`--skip-limited` (or `--profiles loopback`) makes a quick run of a few minutes; the full run takes
about 35 minutes, most of it the `limited` pass. Figures go to docs/benchmarks.md (section
bench_patient_pass) with the machine, the date and the commit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

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
    rss_mb,
    sandbox_admin,
    sandbox_process,
    seconds,
    write_section,
)

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_PREFIX = "aiq_bench_pp"
PROFILES = ("loopback", "internet", "limited")
RUNS_A_DAY = 46  # with the daemon every 30 minutes: 48 slots, the pass takes the place of two
RSS_TARGET_MB = 150.0  # the target for the large practice
LIMITED_RATIO_TARGET = 1.1  # as for a first sync (bench_network)
LIMITED_429_TARGET = 0.01


# --- the child: one sync ------------------------------------------------------------------------


def child_sync(mode: str, db_url: str, base_url: str, weigh: bool) -> None:
    """One sync of the bench practice, as `aiq sync` builds its client; prints its figures.

    ``mode``: ``first`` (a first sync, which runs the pass), ``pass`` (``--patients``), ``floor``
    (a full read with the pass off) or ``run`` (an ordinary run)."""
    import httpx
    from sqlalchemy import func, select

    import aiq.sync.patients as pp
    from aiq.ar.client import ARClient
    from aiq.config import ARSettings, PrivacySettings, SyncSettings
    from aiq.store.db import open_store
    from aiq.store.models import Org, PatientFigure, table_of
    from aiq.sync.engine import SyncEngine, SyncOptions

    store = open_store(db_url, migrate=False)
    with store.connect() as conn:
        org_id = conn.execute(
            select(table_of(Org).c.id).where(table_of(Org).c.name == ORG_NAME)
        ).scalar_one()
    settings, ar = SyncSettings(), ARSettings()
    options = {
        "first": SyncOptions(today=TODAY),
        "pass": SyncOptions(today=TODAY, patients=True),
        "floor": SyncOptions(today=TODAY, full=True),
        "run": SyncOptions(),
    }[mode]
    privacy = PrivacySettings(patient_figures=mode != "floor")
    if mode == "run":
        # An ordinary run is told no date (a run told one reads the whole invoice lookback, as
        # the once-a-day run does): its clock's date is made the sandbox's, nothing else.
        import aiq.sync.engine as engine_module

        class SandboxDay(dt.datetime):
            @classmethod
            def now(cls, tz: dt.tzinfo | None = None) -> SandboxDay:
                # The engine's today is the date 14 hours ahead of UTC (the last zone's).
                return cls.combine(TODAY, dt.time(), tzinfo=dt.UTC) - dt.timedelta(hours=2)

        setattr(engine_module, "datetime", SandboxDay)  # noqa: B010

    # Instruments, none on the per-record path: records read per window, the pass's phases.
    read: dict[str, int] = {}
    lock = threading.Lock()
    phases: dict[str, Any] = {}
    held: list[Any] = []
    fetch_window = SyncEngine._fetch_window
    save_pass = SyncEngine._save_patient_pass
    compute, save = pp.compute, pp.save

    def counted_fetch(self: Any, stream: str, window: Any, zones: Any) -> Any:
        res = fetch_window(self, stream, window, zones)
        with lock:
            read[stream] = read.get(stream, 0) + len(res.records) + len(res.skipped)
        return res

    def timed_save_pass(self: Any, tap: Any, streams: Any) -> Any:
        phases["facts"] = {"appointments": tap.appointments, "invoices": tap.invoices}
        phases["rss_read_mb"], phases["peak_read_mb"] = rss_mb()
        if weigh:
            held.append(tap)
        return save_pass(self, tap, streams)

    def timed_compute(*args: Any, **kwargs: Any) -> Any:
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        rows = compute(*args, **kwargs)
        phases["compute_s"], phases["compute_cpu"] = time.perf_counter() - t0, cpu_seconds() - cpu0
        phases["rss_computed_mb"], phases["peak_computed_mb"] = rss_mb()
        phases["figure_rows"] = len(rows)
        return rows

    def timed_save(*args: Any, **kwargs: Any) -> Any:
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        save(*args, **kwargs)
        phases["save_s"], phases["save_cpu"] = time.perf_counter() - t0, cpu_seconds() - cpu0
        phases["rss_saved_mb"], phases["peak_saved_mb"] = rss_mb()

    SyncEngine._fetch_window = counted_fetch  # type: ignore[method-assign]
    SyncEngine._save_patient_pass = timed_save_pass  # type: ignore[method-assign]
    pp.compute, pp.save = timed_compute, timed_save

    connections = max(4, settings.concurrency * 2)  # as aiq.usecases.sync.ar_client
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
        transport=httpx.HTTPTransport(
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        ),
    )
    # Garbage collection during the run: collections and the CPU of the thread that ran each.
    collected = {"collections": 0, "full": 0, "cpu": 0.0}
    began = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.thread_time()
            return
        collected["collections"] += 1
        collected["full"] += info["generation"] == 2
        collected["cpu"] += time.thread_time() - began[0]

    gc.callbacks.append(on_gc)
    rss_start = rss_mb()[0]
    cpu0, start = cpu_seconds(), time.perf_counter()
    with client:
        report = SyncEngine(store, client, int(org_id), settings, options, privacy=privacy).run()
    wall, cpu = time.perf_counter() - start, cpu_seconds() - cpu0
    gc.callbacks.remove(on_gc)
    peak = peak_rss_mb()
    with store.connect() as conn:
        figures = table_of(PatientFigure)
        figure_rows = conn.execute(
            select(func.count()).select_from(figures).where(figures.c.org_id == org_id)
        ).scalar_one()
    store.dispose()
    totals = report.totals()
    out = {
        "mode": mode,
        "status": report.status,
        "report_mode": report.mode,
        "patient_pass": report.patient_pass,
        "wall": wall,
        "cpu_run": cpu,
        "rss_mb": peak,
        "rss_start_mb": rss_start,
        "aiq_requests": report.requests,
        "read": read,
        "records": sum(read.values()),
        "rows_written": totals.inserted + totals.changed + totals.removed,
        "figure_rows_db": int(figure_rows),
        "gc_cpu": collected["cpu"],
        "gc_collections": collected["collections"],
        "gc_full": collected["full"],
        "streams": {
            sr.stream: {"requests": sr.requests, "windows": sr.windows, "reasons": sr.reasons}
            for sr in report.streams
            if sr.stream in read
        },
        **phases,
    }
    if held:
        out["fact_bytes"] = held[0].nbytes()
    print(json.dumps(out))


# --- databases: a starting state and its copies -------------------------------------------------


@dataclass
class Db:
    """One database: its URL for aiq, and where it lives (an SQLite file or a Postgres name)."""

    dialect: str
    url: str
    path: Path | None = None
    name: str = ""


def pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def pg_admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


def new_db(dialect: str, tmp: Path, name: str) -> Db:
    """An empty database with aiq's schema and the bench practice's row."""
    if dialect == "sqlite":
        path = tmp / f"{name}.db"
        db = Db("sqlite", f"sqlite:///{path}", path=path)
    else:
        full = f"{PG_PREFIX}_{name}".replace("-", "_")
        pg_admin(f"drop database if exists {full} with (force)", f"create database {full}")
        db = Db("postgres", pg_url(full), name=full)
    return db


def copy_db(src: Db, tmp: Path, name: str) -> Db:
    """A copy of ``src`` as it is (no process may be using it)."""
    if src.dialect == "sqlite":
        assert src.path is not None
        path = tmp / f"{name}.db"
        source, target = sqlite3.connect(src.path), sqlite3.connect(path)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        return Db("sqlite", f"sqlite:///{path}", path=path)
    full = f"{PG_PREFIX}_{name}".replace("-", "_")
    pg_admin(
        f"drop database if exists {full} with (force)",
        f"create database {full} template {src.name}",
    )
    return Db("postgres", pg_url(full), name=full)


def drop_db(db: Db) -> None:
    if db.dialect == "sqlite":
        assert db.path is not None
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db.path}{suffix}").unlink(missing_ok=True)
    else:
        pg_admin(f"drop database if exists {db.name} with (force)")


# --- the parent ---------------------------------------------------------------------------------


def run_child(mode: str, db: Db, base_url: str, *, weigh: bool = False) -> dict[str, Any]:
    """Run ``mode`` in a child process; its JSON, with the process's CPU from wait4
    (``cpu_process``: start-up and imports included)."""
    args = ["_sync", mode, db.url, base_url, *(["--weigh"] if weigh else [])]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_patient_pass", *args],
            stdout=subprocess.PIPE,
            stderr=err,
        )
        try:
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
            raise RuntimeError(f"{mode} failed ({proc.returncode}): {err.read().decode()[-3000:]}")
    result = dict(json.loads(out.strip().splitlines()[-1]))
    result["cpu_process"] = usage.ru_utime + usage.ru_stime
    if result["status"] != "ok":
        raise RuntimeError(f"{mode}: sync {result['status']}: {result}")
    return result


def counted(base_url: str, profile: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run()`` against the sandbox set to ``profile`` (buckets full, counts at zero), with the
    requests and the 429s the sandbox counted."""
    sandbox_admin(base_url, "POST", "/__sandbox/network", {"profile": profile})
    sandbox_admin(base_url, "DELETE", "/__sandbox/stats")
    result = run()
    stats = sandbox_admin(base_url, "GET", "/__sandbox/stats")
    network = sandbox_admin(base_url, "GET", "/__sandbox/network")
    result["requests"] = sum(stats.values())
    result["throttled"] = int(network["throttled"])
    result["profile"] = profile
    return result


def rate_floor(network: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """The time the rate limit needs for the requests that were answered (the bucket full)."""
    rate, burst = rate_limit(network)
    needed = result["requests"] - result["throttled"]
    return {
        "wall": max(0.0, needed - burst) / rate,
        "requests": needed,
        "per_minute": float(network["rate_limit_per_minute"]),
        "burst": burst,
    }


def log(label: str, figures: dict[str, Any]) -> None:
    print(f"{label}: {json.dumps(figures)}", file=sys.stderr, flush=True)


@dataclass
class DefaultResult:
    """Part 1: the default practice's pass under each profile, and a run after it."""

    dialect: str
    first: dict[str, Any] = field(default_factory=dict)
    passes: dict[str, dict[str, Any]] = field(default_factory=dict)
    floors: dict[str, dict[str, Any]] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)


def default_practice(
    args: argparse.Namespace, profiles: list[str], dialect: str, tmp: Path
) -> DefaultResult:
    out = DefaultResult(dialect)
    with sandbox_process(args.clinics, args.years, extra_args=("--profile", "loopback")) as base:
        start = new_db(dialect, tmp, f"default-{dialect}-start")
        prepare_db(start.url, base)
        out.first = counted(base, "loopback", lambda: run_child("first", start, base))
        log(f"default {dialect} first sync", out.first)
        after: Db | None = None
        for profile in profiles:
            db = copy_db(start, tmp, f"default-{dialect}-{profile}")
            res = counted(base, profile, partial(run_child, "pass", db, base))
            log(f"default {dialect} pass ({profile})", res)
            out.passes[profile] = res
            network = sandbox_admin(base, "GET", "/__sandbox/network")
            if network["rate_limit_per_minute"] is not None:
                out.floors[profile] = rate_floor(network, res)
            else:
                fdb = copy_db(start, tmp, f"default-{dialect}-{profile}-floor")
                out.floors[profile] = counted(
                    base,
                    profile,
                    partial(run_child, "floor", fdb, base),
                )
                drop_db(fdb)
            log(f"default {dialect} floor ({profile})", out.floors[profile])
            if after is not None:
                drop_db(after)
            after = db
        assert after is not None
        out.run = counted(base, "loopback", lambda: run_child("run", after, base))
        log(f"default {dialect} run after the pass", out.run)
        drop_db(after)
        drop_db(start)
    return out


@dataclass
class LargeResult:
    """Part 2: the large practice's pass and its floor on `loopback`, ``runs`` of each."""

    dialect: str
    first: dict[str, Any] = field(default_factory=dict)
    passes: list[dict[str, Any]] = field(default_factory=list)
    floors: list[dict[str, Any]] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)
    weighed: dict[str, Any] = field(default_factory=dict)


def large_practice(args: argparse.Namespace, dialect: str, tmp: Path) -> LargeResult:
    out = LargeResult(dialect)
    with sandbox_process(args.large_clinics, args.large_years) as base:
        start = new_db(dialect, tmp, f"large-{dialect}-start")
        prepare_db(start.url, base)
        out.first = counted(base, "loopback", lambda: run_child("first", start, base))
        log(f"large {dialect} first sync", out.first)
        kept: Db | None = None
        for i in range(args.runs):
            # Alternate which goes first, so that a drift in the machine's load is shared.
            for mode in ("floor", "pass") if i % 2 == 0 else ("pass", "floor"):
                db = copy_db(start, tmp, f"large-{dialect}-{mode}-{i}")
                res = counted(base, "loopback", partial(run_child, mode, db, base))
                log(f"large {dialect} {mode} {i + 1}", res)
                (out.passes if mode == "pass" else out.floors).append(res)
                if mode == "pass" and kept is None:
                    kept = db
                else:
                    drop_db(db)
        assert kept is not None
        out.run = counted(base, "loopback", lambda: run_child("run", kept, base))
        log(f"large {dialect} run after the pass", out.run)
        drop_db(kept)
        if args.weigh:
            db = copy_db(start, tmp, f"large-{dialect}-weigh")
            out.weighed = run_child("pass", db, base, weigh=True)
            log(f"large {dialect} facts weighed", out.weighed)
            drop_db(db)
        drop_db(start)
    return out


# --- the report ---------------------------------------------------------------------------------


def median(results: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in results))


def best(results: list[dict[str, Any]], key: str) -> float:
    return float(min(r[key] for r in results))


def best_of(results: list[dict[str, Any]], key: str, fmt: str = "{:.1f}") -> str:
    """The best run's figure, and the median in brackets when there is more than one run."""
    text = fmt.format(best(results, key))
    if len(results) > 1:
        text += f" (median {fmt.format(median(results, key))})"
    return text


def spread(results: list[dict[str, Any]], key: str, fmt: str = "{:.1f}") -> str:
    """The median, and the range when there is more than one run."""
    values = [r[key] for r in results]
    text = fmt.format(statistics.median(values))
    if len(values) > 1:
        text += f" ({fmt.format(min(values))}-{fmt.format(max(values))})"
    return text


def per_100k(cpu: float, records: int) -> float:
    return cpu / records * 100_000 if records else 0.0


def facts_text(r: dict[str, Any]) -> str:
    facts = r.get("facts")
    if not facts:
        return ""
    return f"{facts['appointments'] + facts['invoices']:,}"


def default_table(res: DefaultResult) -> list[str]:
    rows = [
        "| profile | status | requests (aiq's) | 429s | records read | wall | floor "
        "| pass / floor | CPU-s (process) | peak RSS | facts | `patient_figure` rows |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for profile, p in res.passes.items():
        floor = res.floors[profile]
        share = p["throttled"] / p["requests"] if p["requests"] else 0.0
        rows.append(
            f"| `{profile}` | {p['status']}, pass {p['patient_pass']} "
            f"| {p['requests']:,} ({p['aiq_requests']:,}) | {p['throttled']:,} ({share:.1%}) "
            f"| {p['records']:,} | {seconds(p['wall'])} | {seconds(floor['wall'])} "
            f"| **{p['wall'] / floor['wall']:.2f}x** "
            f"| {p['cpu_run']:.1f} ({p['cpu_process']:.1f}) | {p['rss_mb']:.0f} MB "
            f"| {facts_text(p)} | {p['figure_rows_db']:,} |"
        )
        if "cpu_run" in floor:
            rows.append(
                f"| `{profile}`, pass off (floor) | {floor['status']} "
                f"| {floor['requests']:,} ({floor['aiq_requests']:,}) | {floor['throttled']:,} "
                f"| {floor['records']:,} | {seconds(floor['wall'])} | | "
                f"| {floor['cpu_run']:.1f} ({floor['cpu_process']:.1f}) "
                f"| {floor['rss_mb']:.0f} MB | | |"
            )
    return rows


def large_table(res: LargeResult) -> list[str]:
    p, f = res.passes, res.floors
    records = int(median(p, "records"))
    rows = [
        "| run | requests (aiq's) | records read | wall | CPU-s of the run | CPU-s of the process "
        "| CPU-s per 100k records | peak RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, rs in (("full read, pass off (floor)", f), ("patient pass", p)):
        rows.append(
            f"| {label} | {rs[0]['requests']:,} ({rs[0]['aiq_requests']:,}) "
            f"| {rs[0]['records']:,} | {best_of(rs, 'wall')} s | {best_of(rs, 'cpu_run')} "
            f"| {best_of(rs, 'cpu_process')} | {per_100k(best(rs, 'cpu_run'), records):.1f} "
            f"| {spread(rs, 'rss_mb', '{:.0f}')} MB |"
        )
    rows.append(
        f"| **pass / floor** | | | **{best(p, 'wall') / best(f, 'wall'):.2f}x** "
        f"| **{best(p, 'cpu_run') / best(f, 'cpu_run'):.2f}x** "
        f"| {best(p, 'cpu_process') / best(f, 'cpu_process'):.2f}x "
        f"| {per_100k(best(p, 'cpu_run') - best(f, 'cpu_run'), records):+.1f} "
        f"| **{median(p, 'rss_mb') / median(f, 'rss_mb'):.2f}x** "
        f"(+{median(p, 'rss_mb') - median(f, 'rss_mb'):.0f} MB) |"
    )
    return rows


def large_details(res: LargeResult) -> list[str]:
    p, f = res.passes, res.floors
    facts = p[0]["facts"]
    rest = best(p, "cpu_run") - best(f, "cpu_run") - best(p, "compute_cpu") - best(p, "save_cpu")
    lines = [
        f"- Facts held in memory by the pass: {facts['appointments']:,} appointments and "
        f"{facts['invoices']:,} invoices ({facts['appointments'] + facts['invoices']:,}); "
        f"`patient_figure` rows written: {p[0]['figure_rows_db']:,}.",
        f"- Memory inside the pass's run (medians): RSS {median(p, 'rss_start_mb'):.0f} MB "
        f"before the run (aiq imported), {median(p, 'rss_read_mb'):.0f} MB when the read ended "
        f"(peak so far {median(p, 'peak_read_mb'):.0f} MB; the floor's whole run peaks at "
        f"{median(f, 'rss_mb'):.0f} MB), {median(p, 'rss_computed_mb'):.0f} MB after `compute` "
        f"(peak {median(p, 'peak_computed_mb'):.0f} MB), peak {median(p, 'peak_saved_mb'):.0f} MB "
        f"after `save`. The first sync into an empty database, which runs the pass too, peaked at "
        f"{res.first['rss_mb']:.0f} MB.",
        f"- CPU inside the pass's run (best runs): `compute` {best(p, 'compute_cpu'):.2f} CPU-s "
        f"({best(p, 'compute_s'):.2f} s), `save` {best(p, 'save_cpu'):.2f} CPU-s "
        f"({best(p, 'save_s'):.2f} s); the rest of what the pass adds to the read, "
        f"{rest:.1f} CPU-s (by difference, so within the noise of a shared machine), is making "
        "the facts and keeping them. Garbage collection took "
        f"{best(p, 'gc_cpu'):.2f} CPU-s in the pass ({median(p, 'gc_full'):.0f} full "
        f"collections) and {best(f, 'gc_cpu'):.2f} in the floor ({median(f, 'gc_full'):.0f}).",
    ]
    if res.weighed:
        w, n = res.weighed["fact_bytes"], res.weighed["facts"]
        total = sum(w.values())
        lines.append(
            f"- The facts' own weight (one more pass, `PatientTap.nbytes`): "
            f"{total / 2**20:.1f} MB, {w['appointments'] / n['appointments']:.0f} bytes an "
            f"appointment and {w['invoices'] / max(1, n['invoices']):.0f} bytes an invoice "
            f"(packed in arrays), and {w['patient numbers'] / 2**20:.1f} MB numbering the "
            "patients."
        )
    return lines


def verdicts(defaults: list[DefaultResult], larges: list[LargeResult]) -> list[str]:
    out = []
    for d in defaults:
        for profile, p in d.passes.items():
            ratio = p["wall"] / d.floors[profile]["wall"]
            if profile == "limited":
                share = p["throttled"] / p["requests"] if p["requests"] else 0.0
                ok = ratio <= LIMITED_RATIO_TARGET and share < LIMITED_429_TARGET
                out.append(
                    f"- Default practice, `limited` ({d.dialect}): the pass within "
                    f"{LIMITED_RATIO_TARGET}x of the rate limit's floor with 429s under "
                    f"{LIMITED_429_TARGET:.0%} of requests (the first sync's target): "
                    f"{ratio:.2f}x, {share:.1%} (**{'met' if ok else 'missed'}**)."
                )
            else:
                out.append(
                    f"- Default practice, `{profile}` ({d.dialect}): the pass takes {ratio:.2f}x "
                    "the wall of the same full read with the pass off."
                )
    for r in larges:
        rss = median(r.passes, "rss_mb")
        ok = rss < RSS_TARGET_MB
        out.append(
            f"- Large practice ({r.dialect}): peak RSS of the pass under {RSS_TARGET_MB:.0f} MB: "
            f"{rss:.0f} MB, {rss / median(r.floors, 'rss_mb'):.2f}x the read's "
            f"{median(r.floors, 'rss_mb'):.0f} MB (**{'met' if ok else 'missed'}**)."
        )
    return out


def a_day(defaults: list[DefaultResult], larges: list[LargeResult]) -> list[str]:
    """Requests a day with the daemon's default schedule: 46 runs and one pass (the sandbox's
    counts)."""
    out = []
    for label, first, one_pass, run in (
        *(
            ("default", d.first, next(iter(d.passes.values())), d.run)
            for d in defaults[:1]
            if d.passes
        ),
        *(("large", r.first, r.passes[0], r.run) for r in larges[:1]),
    ):
        day = RUNS_A_DAY * run["requests"] + one_pass["requests"]
        out.append(
            f"- {label} practice: first sync {first['requests']:,} requests, a pass "
            f"{one_pass['requests']:,}, a run after it {run['requests']:,}; a day "
            f"{RUNS_A_DAY} x {run['requests']} + {one_pass['requests']:,} = "
            f"**{day:,}**; at 60 requests a minute a pass needs at least "
            f"{seconds(max(0, one_pass['requests'] - one_pass['throttled'] - 60))} "
            "((requests - burst) / rate, sign-in included)."
        )
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_sync":
        child_sync(sys.argv[2], sys.argv[3], sys.argv[4], "--weigh" in sys.argv[5:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clinics", type=int, default=3, help="the default practice's")
    parser.add_argument("--years", type=int, default=2, help="the default practice's")
    parser.add_argument("--large-clinics", type=int, default=10)
    parser.add_argument("--large-years", type=int, default=3)
    parser.add_argument(
        "--profiles", default="limited", help="the default practice's pass under each"
    )
    parser.add_argument(
        "--skip-limited", action="store_true", help="leave out `limited` (about 20 minutes)"
    )
    parser.add_argument("--skip-default", action="store_true")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--runs", type=int, default=5, help="of the large practice's pass")
    parser.add_argument(
        "--no-weigh", dest="weigh", action="store_false", help="do not weigh the facts"
    )
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--no-write", action="store_true", help="print the figures only")
    parser.add_argument("--results", type=Path, help="also save every run's figures (JSON) here")
    args = parser.parse_args()
    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    unknown = [p for p in profiles if p not in PROFILES]
    if unknown:
        parser.error(f"unknown profile(s): {', '.join(unknown)}; known: {', '.join(PROFILES)}")
    if args.skip_limited:
        profiles = [p for p in profiles if p != "limited"] or ["loopback"]
    dialects = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    load_before = os.getloadavg()
    measured = revision()
    started = time.perf_counter()
    defaults: list[DefaultResult] = []
    larges: list[LargeResult] = []
    with tempfile.TemporaryDirectory() as tmp:
        for dialect in dialects:
            if not args.skip_large:
                larges.append(large_practice(args, dialect, Path(tmp)))
            if not args.skip_default:
                defaults.append(default_practice(args, profiles, dialect, Path(tmp)))
    load_after = os.getloadavg()
    if args.results:
        args.results.write_text(
            json.dumps(
                {"default": [asdict(d) for d in defaults], "large": [asdict(r) for r in larges]}
            )
        )
    command = "python -m bench.bench_patient_pass" + "".join(
        f" {a}"
        for a in sys.argv[1:]
        if a not in ("--no-write", "--results") and a != str(args.results)
    )
    body = [
        "## The patient pass (`aiq sync --patients`), against its floors",
        "",
        f"Measured {dt.date.today()} on {machine()} with `{command}` at {measured} "
        f"(load average {load_before[0]:.2f}/{load_before[1]:.2f} before, "
        f"{load_after[0]:.2f}/{load_after[1]:.2f} after (1/5 minutes); "
        f"the whole run took {seconds(time.perf_counter() - started)}). "
        f"Sandbox: seed 42, date {TODAY}, served from its own process; aiq's default settings "
        "(24 months of history and 90 days ahead, concurrency 8).",
        "",
        "Each practice is first synced (not measured, on `loopback`; a first sync runs the pass "
        "too), and every measured run starts from a copy of that database, in a child process "
        "of its own. The pass is `SyncOptions(patients=True)`: a full read of both streams that "
        "keeps a fact per appointment and invoice in memory, then computes and saves the "
        "figures. Requests and 429s are the sandbox's counts (`GET /__sandbox/stats`, "
        "`GET /__sandbox/network`), aiq's own count (`SyncReport.requests`) in brackets; both "
        "include the sign-in. Wall is the engine's run; CPU-s is user + system time of the "
        "syncing process during the run, and in brackets of the whole process (start-up and "
        "imports included, from wait4); peak RSS is the process's VmHWM. Records read are the "
        "appointments and invoices the run mapped.",
        "",
    ]
    for d in defaults:
        body += [
            f"### Default practice ({args.clinics} clinics, {args.years} years), {d.dialect}",
            "",
            *default_table(d),
            "",
        ]
    for r in larges:
        body += [
            f"### Large practice ({args.large_clinics} clinics, {args.large_years} years), "
            f"`loopback`, {r.dialect}: {args.runs} runs each",
            "",
            "Wall and CPU: the best run (the least disturbed by the other work on the machine), "
            "the median in brackets; the ratios are of the best runs. Peak RSS: the median, the "
            "range in brackets.",
            "",
            *large_table(r),
            "",
            *large_details(r),
            "",
        ]
    body += [
        "Requests a day with the daemon every 30 minutes: 46 runs and one pass (docs/sync.md). "
        "The run is an ordinary one right after the pass, on `loopback`, told no date as the "
        "daemon's runs are (the engine's clock set to the sandbox's day): the appointments' "
        "lookback and future, the last week of invoices, the reference lists.",
        "",
        *a_day(defaults, larges),
        "",
        "Targets:",
        "",
        *verdicts(defaults, larges),
        "",
        "The floors:",
        "",
        "- under `limited`: the time the rate limit itself needs for the requests the sandbox "
        "answered, (requests - 429s - burst) / rate, the bucket full at the start (burst 60, "
        "refilled at 60 a minute). The pass cannot make fewer requests than the full read it is;",
        "- on `loopback` (and `internet`): the same full read from the same database state with "
        "the pass off (`SyncOptions(full=True)`, `PrivacySettings(patient_figures=False)`): "
        "what the pass adds to the read it needs anyway, in wall, CPU and memory.",
    ]
    text = "\n".join(body)
    print(text)
    if not args.no_write:
        write_section("bench_patient_pass", text)


if __name__ == "__main__":
    main()
