"""`aiq sync`'s engine: plan windows, fetch them concurrently, write them in batches, log the run.

Reference streams (categories, clinics, staff, services, products) are read whole each run.
Appointments and invoices are read by date windows (see ``aiq.sync.plan``), fetched by a bounded
pool of threads sharing one HTTP client, mapped through the PHI firewall in those threads, and
written by this thread alone in batches (``aiq.sync.writer``).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from aiq.ar import mapping
from aiq.ar import patients as patient_facts
from aiq.ar.client import ARClient, PageNumberPaginator
from aiq.ar.streams import ALL_STREAMS, REFERENCE_STREAMS, WINDOWED_STREAMS
from aiq.clock import utcnow
from aiq.config import PrivacySettings, SyncSettings
from aiq.errors import (
    AiqError,
    Interrupted,
    RecordInvalid,
    UpstreamContractError,
    UsageError,
)
from aiq.store import bulk, runlog
from aiq.store.db import Store
from aiq.store.locks import SyncLock
from aiq.store.models import (
    Category,
    Clinic,
    Product,
    Service,
    Staff,
    table_of,
)
from aiq.sync import patients
from aiq.sync.plan import (
    PAGES_PER_REQUEST_WINDOW,
    RequestWindow,
    StreamPlan,
    Window,
    density,
    plan_windows,
    request_windows,
)
from aiq.sync.writer import Counts, WindowResult, Writer

log = logging.getLogger("aiq.sync")

# The store table each reference stream is written to.
REFERENCE_TABLES: dict[str, Any] = {
    "product_categories": Category,
    "clinics": Clinic,
    "users": Staff,
    "services": Service,
    "products": Product,
}
MAX_SKIPPED_REPORTED = 20
FLUSH_SECONDS = 2.0
"""Fetched windows wait at most this long to be written: behind a rate limit a batch fills
slowly, and a report should see this month's windows as soon as they are read."""


@dataclass
class SyncOptions:
    """What one run should do."""

    full: bool = False
    since: date | None = None
    streams: tuple[str, ...] | None = None
    lookback_days: int | None = None
    dry_run: bool = False
    today: date | None = None
    wait_seconds: float = 0.0
    deep: bool = False  # re-read the deep window now, whenever the last deep read was
    patients: bool = False  # run the patient pass now (a full read), whenever the last one was


@dataclass
class StreamReport:
    """One stream's part of a run."""

    stream: str
    status: str = "ok"
    windows: int = 0
    requests: int = 0
    inserted: int = 0
    changed: int = 0
    removed: int = 0
    skipped: int = 0
    error: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    skipped_ids: set[Any] = field(default_factory=set, repr=False)
    started_at: datetime = field(default_factory=utcnow)
    ended_at: datetime | None = None

    @property
    def rows(self) -> int:
        """Rows written: inserted, changed and removed."""
        return self.inserted + self.changed + self.removed

    def figures(self) -> dict[str, Any]:
        """The stream's figures by their names in the run log and in ``aiq sync --format json``."""
        return {
            "stream": self.stream,
            "status": self.status,
            "windows": self.windows,
            "requests": self.requests,
            "rows_inserted": self.inserted,
            "rows_changed": self.changed,
            "rows_removed": self.removed,
            "rows_skipped": self.skipped,
            "error": self.error,
        }


@dataclass
class SyncReport:
    """What a run did."""

    org_id: int
    run_id: int | None
    mode: str
    dry_run: bool
    started_at: datetime
    ended_at: datetime | None = None
    status: str = "running"
    streams: list[StreamReport] = field(default_factory=list)
    new_fields: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    patient_pass: str | None = None  # "saved", or why a pass that ran saved nothing

    def totals(self) -> Counts:
        """Rows inserted, changed and removed over every stream."""
        c = Counts()
        for s in self.streams:
            c.add(Counts(s.inserted, s.changed, s.removed))
        return c

    @property
    def seconds(self) -> float:
        """Wall time of the run."""
        end = self.ended_at or utcnow()
        return (end - self.started_at).total_seconds()

    @property
    def error(self) -> str | None:
        """The run's first error: its own, else the first stream's."""
        if self.errors:
            return self.errors[0]
        return next((s.error for s in self.streams if s.error), None)

    def document(self) -> dict[str, Any]:
        """The run as a JSON-ready document (``aiq sync --format json``)."""
        totals = self.totals()
        return {
            "run_id": self.run_id,
            "org_id": self.org_id,
            "status": self.status,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "started_at": self.started_at.isoformat() + "Z",
            "seconds": round(self.seconds, 3),
            "requests": self.requests,
            "rows_inserted": totals.inserted,
            "rows_changed": totals.changed,
            "rows_removed": totals.removed,
            "new_upstream_fields": self.new_fields,
            "errors": self.errors,
            "patient_pass": self.patient_pass,
            "streams": [s.figures() for s in self.streams],
        }


ProgressFn = Callable[[str, int, int], None]


class _Abort(Exception):
    """Internal: stop the run (the cause is attached)."""


class SyncEngine:
    """One run of a sync for one org."""

    def __init__(
        self,
        store: Store,
        client: ARClient,
        org_id: int,
        settings: SyncSettings,
        options: SyncOptions | None = None,
        *,
        progress: ProgressFn | None = None,
        should_stop: Callable[[], bool] | None = None,
        privacy: PrivacySettings | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.org_id = org_id
        self.settings = settings
        self.options = options or SyncOptions()
        self.privacy = privacy or PrivacySettings()
        self._tap: patients.PatientTap | None = None
        self.progress = progress
        self.should_stop = should_stop or (lambda: False)
        streams = self.options.streams or ALL_STREAMS
        unknown = [s for s in streams if s not in ALL_STREAMS]
        if unknown:
            raise UsageError(
                f"unknown stream {', '.join(unknown)}", hint=f"choose from {', '.join(ALL_STREAMS)}"
            )
        self.streams = [s for s in ALL_STREAMS if s in streams]
        if self.options.patients and not {"appointments", "invoices"} <= set(self.streams):
            raise UsageError(
                "the patient pass reads appointments and invoices",
                hint="drop --streams, or give both",
            )
        if self.options.patients and self.options.dry_run:
            raise UsageError(
                "the patient pass writes figures; a dry run writes nothing",
                hint="drop --patients or --dry-run",
            )
        if any(s in WINDOWED_STREAMS for s in self.streams) and "clinics" not in self.streams:
            # Windowed records need their clinic's time zone; clinics are cheap to read.
            self.streams.insert(0, "clinics")
        self.today = self.options.today or (datetime.now(UTC) + timedelta(hours=14)).date()
        self._cancel = threading.Event()
        self._live_reports: dict[str, StreamReport] = {}
        self._item_names: frozenset[str] = frozenset()

    # --- the run --------------------------------------------------------------------------------

    def run(self) -> SyncReport:
        """Run the sync under the org's lock and return its report."""
        from aiq.lifecycle.retention import check_org_active

        with self.store.connect() as conn:
            check_org_active(conn, self.org_id)  # a deleted practice is no longer synced
        with SyncLock(self.store, self.org_id, wait_seconds=self.options.wait_seconds):
            return self._run_locked()

    def _run_locked(self) -> SyncReport:
        mode = "full" if self.options.full else "incremental"
        report = SyncReport(
            org_id=self.org_id,
            run_id=None,
            mode=mode,
            dry_run=self.options.dry_run,
            started_at=utcnow(),
        )
        if not self.options.dry_run:
            report.run_id = self._start_run(report)
        requests_before = self.client.stats.requests
        unknown_fields: dict[str, set[str]] = {}
        failure: BaseException | None = None
        try:
            for stream in self.streams:
                if stream in REFERENCE_STREAMS:
                    report.streams.append(self._reference(stream, unknown_fields))
            windowed = [s for s in self.streams if s in WINDOWED_STREAMS]
            if windowed:
                # From here a failure (a count of records AR will not give) is the streams' own.
                self._live_reports = {s: StreamReport(s, status="running") for s in windowed}
                self._tap = self._patient_tap(windowed)
                planned = {s: self._plan(s) for s in windowed}
                plans = {s: plan for s, (plan, _windows) in planned.items()}
                if plans.get("appointments") and plans["appointments"].deep:
                    full = self.options.full or self._tap is not None
                    report.mode = "full" if full else "deep"
                requests = {s: windows for s, (_plan, windows) in planned.items()}
                report.streams.extend(self._windowed(plans, requests, unknown_fields))
                if self._tap is not None:
                    report.patient_pass = self._save_patient_pass(self._tap, report.streams)
        except KeyboardInterrupt as exc:
            failure = Interrupted("sync interrupted; finished windows are kept")
            failure.__cause__ = exc
        except Exception as exc:
            # Anything else (a database error, a bug) still ends the run as failed in the log.
            failure = exc
        finally:
            self._tap = None  # the patient facts live for the run, not a moment longer
            report.requests = self.client.stats.requests - requests_before
            report.new_fields = {s: sorted(v) for s, v in sorted(unknown_fields.items()) if v}
            if report.new_fields:
                names = "; ".join(f"{s}: {', '.join(v)}" for s, v in report.new_fields.items())
                log.warning("AR sent fields aiq does not know (ignored): %s", names)
            report.ended_at = utcnow()
            if failure is not None:
                interrupted = isinstance(failure, Interrupted)
                logged = {s.stream for s in report.streams}
                report.streams.extend(sr for s, sr in self._live_reports.items() if s not in logged)
                # A stop on request is not AR failing: it does not count toward failure alerts.
                report.status = "interrupted" if interrupted else "failed"
                message = (
                    str(failure)
                    if isinstance(failure, AiqError)
                    else (f"{type(failure).__name__}: {failure}")
                )
                report.errors.insert(0, message[:500])
                for s in report.streams:
                    if s.status == "running":
                        s.status, s.error = report.status, message[:500]
            elif any(s.status != "ok" for s in report.streams):
                report.status = "partial"
            else:
                report.status = "ok"
            if not self.options.dry_run:
                self._finish_run(report)
        if failure is not None:
            raise failure
        return report

    # --- reference streams ----------------------------------------------------------------------

    def _reference(self, stream: str, unknown: dict[str, set[str]]) -> StreamReport:
        spec = REFERENCE_STREAMS[stream]
        sr = StreamReport(stream)
        table = table_of(REFERENCE_TABLES[stream])
        rows: list[dict[str, Any]] = []
        watch = mapping.FieldWatch()
        before = self.client.stats.by_path.get(spec.path, 0)
        for page in self.client.paginate(**spec.request()):
            for rec in page:
                try:
                    watch.check(stream, rec)
                    rows.append(spec.mapper(self.org_id, rec))
                except (RecordInvalid, ValueError, TypeError, AttributeError, KeyError) as exc:
                    self._skip(sr, stream, rec, exc, spec.mapper)
        sr.requests = self.client.stats.by_path.get(spec.path, 0) - before
        for s, names in watch.unknown.items():
            unknown.setdefault(s, set()).update(names)
        with self.store.begin() if not self.options.dry_run else self.store.connect() as conn:
            existing = {
                rid: h
                for rid, h in conn.execute(
                    select(table.c.id, table.c.row_hash).where(table.c.org_id == self.org_id)
                )
            }
            seen = {r["id"] for r in rows}
            write = [r for r in rows if existing.get(r["id"]) != r["row_hash"]]
            sr.inserted = sum(1 for r in write if r["id"] not in existing)
            sr.changed = len(write) - sr.inserted
            # A record skipped as invalid is not "vanished": keep its old row.
            gone = [rid for rid in existing if rid not in seen and rid not in sr.skipped_ids]
            sr.removed = len(gone)
            if not self.options.dry_run:
                bulk.upsert(conn, table, write)
                bulk.delete_where_in(conn, table, self.org_id, "id", gone)
                self._save_state(conn, stream, sr, deep=False, backfill_from=None)
        sr.status = "partial" if sr.skipped else "ok"
        sr.ended_at = utcnow()
        if self.progress:
            self.progress(stream, 1, 1)
        return sr

    def _skip(
        self, sr: StreamReport, stream: str, rec: Any, exc: Exception, mapper: Callable[..., Any]
    ) -> None:
        sr.skipped += 1
        rid = rec.get("id") if isinstance(rec, dict) else None
        sr.skipped_ids.add(rid)
        message = (
            str(exc)
            if isinstance(exc, RecordInvalid)
            else mapping.explain(stream, rec, mapper, self.org_id, error=exc)
        )
        if sr.skipped <= MAX_SKIPPED_REPORTED:
            log.error("skipped %s", message)
        if sr.error is None:
            sr.error = message

    # --- windowed streams -----------------------------------------------------------------------

    def _plan(self, stream: str) -> tuple[StreamPlan, list[RequestWindow]]:
        """The grid windows ``stream`` must read, and the request windows that read them."""
        s = self.settings
        since = self._history_from()
        with self.store.connect() as conn:
            read = runlog.windows_read(conn, self.org_id, stream)
            backfill_from, last_deep = runlog.backfill_and_deep(conn, self.org_id, stream)
        lookback_days = (
            self.options.lookback_days
            if self.options.lookback_days is not None
            else (s.lookback_days if stream == "appointments" else s.invoice_lookback_days)
        )
        settled: set[date] = set()
        if stream == "invoices" and self.options.lookback_days is None and not self.options.today:
            # Today's sales every run; the refunds and voids of older ones as often as set. (A
            # run told another date reads them all: when windows were read is the real time.)
            recent = self.today - timedelta(days=s.invoice_recent_days)
            fresh_since = utcnow() - timedelta(hours=s.invoice_lookback_every_hours)
            settled = {w.start for w in read if w.end < recent and w.read_at >= fresh_since}
        # A first read (the history recorded, no deep read finished yet) that a stop cut short
        # goes on with what it has not read; once nothing is left, the deep read is due.
        first_read = backfill_from is not None and last_deep is None

        def planned(deep_due: bool) -> StreamPlan:
            return plan_windows(
                stream,
                today=self.today,
                since=since,
                future_days=s.future_days if stream == "appointments" else 0,
                window_days=s.window_days,
                lookback_days=lookback_days,
                done=[w.start for w in read],
                backfill_from=backfill_from,
                # The patient pass follows patients through the whole history: it reads it all.
                full=self.options.full or self._tap is not None,
                deep_due=deep_due,
                deep_days=s.deep_days,
                settled=settled,
            )

        deep_due = backfill_from is not None and (
            self.options.deep
            or (last_deep is not None and utcnow() - last_deep >= timedelta(days=s.deep_every_days))
        )
        plan = planned(deep_due)
        if first_read and not deep_due:
            # Ending it well counts as the deep read; if nothing is left unread, do that now.
            plan = replace(planned("unread" not in plan.reasons), deep=True)
        spec = WINDOWED_STREAMS[stream]
        per_day = density((Window(w.start, w.end), w.rows) for w in read)
        if per_day is None and plan.windows:
            per_day = self._probe_density(stream, plan.windows[0].start, plan.windows[-1].end)
        windows = request_windows(
            plan.windows,
            {w.start: w.rows for w in read},
            per_page=spec.per_page,
            per_day=per_day or 0.0,
        )
        return plan, windows

    def _history_from(self) -> date:
        return self.options.since or _months_back(self.today, self.settings.since_months)

    def _patient_tap(self, windowed: list[str]) -> patients.PatientTap | None:
        """A tap for the patient pass, if this run is to make one (see docs/sync.md).

        The pass needs the whole history of both streams, so it makes the run a full read: the
        first sync (which reads everything anyway), then whenever the last pass is older than
        ``[privacy] patient_pass_every_hours`` (the daemon runs it at its deep hour), or when
        asked (``aiq sync --patients``). A first read that a stop cut short goes on where it
        stopped instead: starting it again to compute the figures would waste what it read.
        """
        p = self.privacy
        if not p.patient_figures or self.options.dry_run:
            return None
        if not {"appointments", "invoices"} <= set(windowed):
            return None
        if self.options.patients:
            return patients.PatientTap()
        with self.store.connect() as conn:
            last = patients.last_pass_at(conn, self.org_id)
            states = [runlog.backfill_and_deep(conn, self.org_id, s) for s in windowed]
        if any(start is not None and deep is None for start, deep in states):
            return None
        if last is not None and utcnow() - last < timedelta(hours=p.patient_pass_every_hours):
            return None
        return patients.PatientTap()

    def _save_patient_pass(self, tap: patients.PatientTap, streams: list[StreamReport]) -> str:
        """Compute the patient figures from the tap's facts and save them, if it saw everything."""
        windowed = [sr for sr in streams if sr.stream in WINDOWED_STREAMS]
        if not tap.complete or any(sr.status not in ("ok", "partial") for sr in windowed):
            log.warning("patient pass: not every window was read; the figures are not updated")
            return "incomplete"
        history_from = self._history_from()
        until = self.today + timedelta(days=self.settings.future_days)
        rows = patients.compute(
            tap,
            history_from=history_from,
            until=until,
            today=self.today,
            min_cell=self.privacy.min_cell,
        )
        info = patients.PassInfo(
            computed_at=utcnow(),
            as_of=self.today,
            history_from=history_from,
            appointments_until=until,
            appointments=tap.appointments,
            invoices=tap.invoices,
            min_cell=self.privacy.min_cell,
        )
        with self.store.begin() as conn:
            patients.save(conn, self.org_id, rows, info)
        log.info(
            "patient pass: %d figures from %d appointments and %d invoices",
            len(rows),
            info.appointments,
            info.invoices,
        )
        return "saved"

    def _probe_density(self, stream: str, start: date, end: date) -> float:
        """Records a day of ``stream`` over ``[start, end]``, from the first page's total (one
        request, made once: before anything of the stream was ever read)."""
        spec = WINDOWED_STREAMS[stream]
        request = spec.request(start, end)
        request["json_body"]["page_number"] = 1
        pager = PageNumberPaginator(spec.path)
        try:
            pager.accept(1, self.client.request_json(**request))
        except UpstreamContractError as exc:  # pages that did not add up; AR down fails the run
            # Not knowing the density costs requests, not correctness: read a grid window a time.
            log.warning("%s: could not count the records to read (%s)", stream, exc)
            return float(spec.per_page * PAGES_PER_REQUEST_WINDOW)
        return (pager.total or 0) / ((end - start).days + 1)

    def _zones(self) -> dict[int, ZoneInfo]:
        zones = runlog.clinic_zones(self.store, self.org_id)
        return {cid: mapping.zone(tz) for cid, tz in zones.items()}

    def _catalogue_names(self) -> frozenset[str]:
        """The names of the practice's services and products (as synced just before)."""
        names: set[str] = set()
        with self.store.connect() as conn:
            for model in (Service, Product):
                t = table_of(model)
                names.update(
                    str(n)
                    for (n,) in conn.execute(select(t.c.name).where(t.c.org_id == self.org_id))
                )
        return frozenset(names)

    def _fetch_window(
        self, stream: str, window: RequestWindow, zones: dict[int, ZoneInfo]
    ) -> WindowResult:
        """Read one request window whole (every page) and map it. Runs in a worker thread."""
        result = WindowResult(stream, window, [])
        watch = mapping.FieldWatch()
        spec = WINDOWED_STREAMS[stream]
        # Invoices also take the catalogue's names: an item keeps its name only if it is one.
        mapper = (
            spec.mapper
            if stream != "invoices"
            else functools.partial(spec.mapper, item_names=self._item_names)
        )
        org_id, check, keep = self.org_id, watch.check, result.records.append
        # With the patient pass on, each record also leaves a fact (its patient id beside its
        # business fields) for the pass, in memory only.
        fact = None
        if self._tap is not None:
            fact = (
                patient_facts.appointment_fact
                if stream == "appointments"
                else patient_facts.invoice_fact
            )
        facts = result.facts
        for page in self.client.paginate(**spec.request(window.start, window.end)):
            result.requests += 1
            if self._cancel.is_set():
                raise _Abort()
            for rec in page:
                try:
                    check(stream, rec)
                    mapped = mapper(org_id, rec, zones)
                    keep(mapped)
                    if fact is not None:
                        f = fact(rec, mapped)
                        if f is not None:
                            facts.append(f)
                except (RecordInvalid, ValueError, TypeError, AttributeError, KeyError) as exc:
                    # The message names stream, id and field, never a value (it is logged,
                    # stored in the run log and may reach Sentry).
                    msg = (
                        str(exc)
                        if isinstance(exc, RecordInvalid)
                        else mapping.explain(stream, rec, mapper, org_id, zones, error=exc)
                    )
                    result.skipped.append(msg)
        result.unknown_fields = watch.unknown.get(stream, set())
        return result

    def _windowed(
        self,
        plans: dict[str, StreamPlan],
        requests: dict[str, list[RequestWindow]],
        unknown: dict[str, set[str]],
    ) -> list[StreamReport]:
        reports = self._live_reports  # what a failed run still logs, per stream
        for s, p in plans.items():
            reports[s].reasons = p.reasons
        if not self.options.dry_run:
            # Where the history starts, recorded before reading it: a report run during a first
            # sync (or after one was stopped) can tell what it has not read yet.
            with self.store.begin() as conn:
                for s, p in plans.items():
                    runlog.save_state(
                        conn,
                        self.org_id,
                        s,
                        succeeded=False,
                        deep=False,
                        backfill_from=p.backfill_from,
                    )
        totals = {s: len(p.windows) for s, p in plans.items()}
        # Newest first (as planned), the streams interleaved so that both make progress and the
        # writer alternates between them.
        queue: list[tuple[str, RequestWindow]] = []
        longest = max((len(w) for w in requests.values()), default=0)
        for i in range(longest):
            for s, windows in requests.items():
                if i < len(windows):
                    queue.append((s, windows[i]))
        retried: set[tuple[str, RequestWindow]] = set()
        with Writer(self.store, self.org_id, dry_run=self.options.dry_run) as writer:
            self._fetch_and_write(plans, queue, retried, writer, reports, totals, unknown)
        out = []
        for s, sr in reports.items():
            if sr.status == "running":
                sr.status = "partial" if sr.skipped else "ok"
            sr.ended_at = utcnow()
            if not self.options.dry_run:
                with self.store.begin() as conn:
                    self._save_state(
                        conn,
                        s,
                        sr,
                        deep=plans[s].deep and sr.status == "ok",
                        backfill_from=plans[s].backfill_from,
                    )
            out.append(sr)
        return out

    def _fetch_and_write(
        self,
        plans: dict[str, StreamPlan],
        queue: list[tuple[str, RequestWindow]],
        retried: set[tuple[str, RequestWindow]],
        writer: Writer,
        reports: dict[str, StreamReport],
        totals: dict[str, int],
        unknown: dict[str, set[str]],
    ) -> None:
        """Fetch the queued windows on a pool of threads; write them in batches on this one."""
        zones = self._zones()
        self._item_names = self._catalogue_names()
        done = dict.fromkeys(plans, 0)
        pending: dict[str, list[WindowResult]] = {s: [] for s in plans}
        pending_rows = dict.fromkeys(plans, 0)
        pending_since: dict[str, float] = {}
        concurrency = max(1, self.settings.concurrency)
        # Windows fetched but not yet written are what memory holds; keep them few.
        max_in_flight = concurrency + 2

        def flush(stream: str) -> None:
            batch = pending[stream]
            if not batch:
                return
            counts = writer.write(stream, batch)
            sr = reports[stream]
            sr.inserted += counts.inserted
            sr.changed += counts.changed
            sr.removed += counts.removed
            cells = sum(len(r.window.cells) for r in batch)
            sr.windows += cells
            done[stream] += cells
            pending[stream] = []
            pending_rows[stream] = 0
            pending_since.pop(stream, None)
            if self.progress:
                self.progress(stream, done[stream], totals[stream])

        if self.progress:
            for s in plans:
                self.progress(s, 0, totals[s])
        pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="aiq-fetch")
        in_flight: dict[Future[WindowResult], tuple[str, RequestWindow]] = {}
        try:
            while queue or in_flight:
                if self.should_stop():
                    raise Interrupted("sync stopped on request; finished windows are kept")
                while queue and len(in_flight) < max_in_flight:
                    s, w = queue.pop(0)
                    in_flight[pool.submit(self._fetch_window, s, w, zones)] = (s, w)
                finished, _ = wait(list(in_flight), timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in finished:
                    s, w = in_flight.pop(fut)
                    try:
                        res = fut.result()
                    except UpstreamContractError as exc:
                        if (s, w) not in retried:
                            # Pages that do not add up usually mean data changed mid-read.
                            retried.add((s, w))
                            log.warning("%s window %s: %s; reading it again", s, w, exc)
                            queue.append((s, w))
                            continue
                        sr = reports[s]
                        sr.error = sr.error or f"window {w}: {exc}"
                        sr.status = "partial"
                        if self._tap is not None:
                            self._tap.complete = False  # a patient pass needs every window
                        continue
                    sr = reports[s]
                    sr.requests += res.requests
                    unknown.setdefault(s, set()).update(res.unknown_fields)
                    for msg in res.skipped:
                        sr.skipped += 1
                        if sr.skipped <= MAX_SKIPPED_REPORTED:
                            log.error("skipped %s", msg)
                        sr.error = sr.error or msg
                    if self._tap is not None:
                        self._tap.add(s, res.facts)
                    res.facts = []
                    pending[s].append(res)
                    pending_rows[s] += len(res.records)
                    pending_since.setdefault(s, time.monotonic())
                    if pending_rows[s] >= self.settings.batch_rows:
                        flush(s)
                # Write what has arrived when nothing more is about to, or when it has waited
                # long enough (keeps memory bounded and makes progress visible), and at the end.
                now = time.monotonic()
                for s in plans:
                    if not in_flight or now - pending_since.get(s, now) >= FLUSH_SECONDS:
                        flush(s)
        except BaseException:
            self._cancel.set()
            for fut in in_flight:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        for s in plans:
            flush(s)

    # --- run log and state ----------------------------------------------------------------------

    def _start_run(self, report: SyncReport) -> int:
        return runlog.start_run(self.store, self.org_id, report.started_at, report.mode)

    def _finish_run(self, report: SyncReport) -> None:
        assert report.run_id is not None
        totals = report.totals()
        failed: set[str] = set()
        if report.status == "failed":
            failed = {s.stream for s in report.streams if s.status == "failed"} or set(self.streams)
        runlog.finish_run(
            self.store,
            self.org_id,
            report.run_id,
            {
                "ended_at": report.ended_at,
                "status": report.status,
                "mode": report.mode,
                "windows": sum(s.windows for s in report.streams),
                "requests": report.requests,
                "rows_inserted": totals.inserted,
                "rows_changed": totals.changed,
                "rows_removed": totals.removed,
                "rows_skipped": sum(s.skipped for s in report.streams),
                "error": report.error,
            },
            [
                {
                    **s.figures(),
                    "started_at": s.started_at,
                    "ended_at": s.ended_at or report.ended_at,
                }
                for s in report.streams
            ],
            known_fields={s.stream: report.new_fields.get(s.stream, []) for s in report.streams},
            failed_streams=sorted(failed),
        )

    def _save_state(
        self, conn: Any, stream: str, sr: StreamReport, *, deep: bool, backfill_from: date | None
    ) -> None:
        runlog.save_state(
            conn,
            self.org_id,
            stream,
            succeeded=sr.status in ("ok", "partial"),
            deep=deep,
            backfill_from=backfill_from,
        )


def _months_back(day: date, months: int) -> date:
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(y, m + 1, 1)
