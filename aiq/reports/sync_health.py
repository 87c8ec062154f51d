"""Sync health: the run log and each stream's freshness against the schedule.

Freshness follows Airbyte's convention (docs/reports.md): a stream is ``fresh`` within one schedule
interval of its last successful sync, ``delayed`` past one interval, ``stale`` past two, and
``never`` when it has not been synced at all. The interval is the daemon's
(``[daemon] interval_minutes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiq.store.reader import as_date, as_datetime, in_list
from aiq.store.statuses import RUN_INTERRUPTED, RUN_INTERRUPTED_ERROR

if TYPE_CHECKING:
    from aiq.reports.scope import Scope
    from aiq.store.reader import Reader

STREAMS = (
    "product_categories",
    "clinics",
    "users",
    "services",
    "products",
    "appointments",
    "invoices",
)
REPORT_STREAMS = ("appointments", "invoices")
"""The streams every business report reads; the report's freshness is the older of theirs."""


@dataclass
class Freshness:
    """How current the data is: ``fresh``, ``delayed``, ``stale`` or ``never``."""

    status: str
    last_success_at: datetime | None
    age_seconds: float | None
    interval_minutes: int

    @property
    def is_current(self) -> bool:
        return self.status == "fresh"


def freshness_of(last: datetime | None, now: datetime, interval_minutes: int) -> Freshness:
    """The freshness of data last synced at ``last`` (naive UTC), seen at ``now``."""
    if last is None:
        return Freshness("never", None, None, interval_minutes)
    age = (now - last).total_seconds()
    interval = max(1, interval_minutes) * 60
    status = "fresh" if age <= interval else "delayed" if age <= 2 * interval else "stale"
    return Freshness(status, last, age, interval_minutes)


def data_freshness(db: Reader, org_id: int, now: datetime, interval_minutes: int) -> Freshness:
    """The freshness of what the business reports read: the older of appointments and invoices."""
    rows = db.rows(
        "select stream, last_success_at from sync_stream_state"
        f" where org_id = :org and stream in {in_list(REPORT_STREAMS)}",
        org=org_id,
    )
    found = {str(stream): as_datetime(last) for stream, last in rows}
    if any(found.get(s) is None for s in REPORT_STREAMS):
        return freshness_of(None, now, interval_minutes)
    return freshness_of(min(v for v in found.values() if v is not None), now, interval_minutes)


@dataclass
class Coverage:
    """Which dates of a report's period the sync has read.

    A first sync reads newest first and commits as it goes, so a report can run before it has
    read the whole period; and no sync reads before the history it was asked for. ``missing``
    holds the date ranges of the period (up to today) not read yet by every report stream.
    """

    start: date
    end: date
    missing: list[tuple[date, date]] = field(default_factory=list)
    synced_from: date | None = None
    """The oldest date read so far (None: nothing read yet)."""
    backfilling: bool = False
    """A first sync (or a backfill further back) has started and not finished."""

    @property
    def complete(self) -> bool:
        return not self.missing


def _gaps(start: date, end: date, read: list[tuple[date, date]]) -> list[tuple[date, date]]:
    """The ranges of ``[start, end]`` not inside one of the ``read`` ranges."""
    gaps, cursor = [], start
    for lo, hi in sorted(read):
        if hi < cursor:
            continue
        if lo > end:
            break
        if lo > cursor:
            gaps.append((cursor, lo - timedelta(days=1)))
        cursor = max(cursor, hi + timedelta(days=1))
        if cursor > end:
            break
    if cursor <= end:
        gaps.append((cursor, end))
    return gaps


@dataclass
class Backfill:
    """How much of a windowed stream's history, from where it was asked to start, has been read."""

    stream: str
    target_from: date
    """Where the history starts ([sync] since_months or aiq sync --since when first read)."""
    until: date
    days: int
    days_read: int
    oldest_read: date | None
    missing: list[tuple[date, date]]

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def share(self) -> float:
        return self.days_read / self.days if self.days else 1.0


def _read_windows(db: Reader, org_id: int) -> dict[str, list[tuple[date, date]]]:
    read: dict[str, list[tuple[date, date]]] = {s: [] for s in REPORT_STREAMS}
    for stream, lo, hi in db.rows(
        "select stream, window_start, window_end from sync_window"
        f" where org_id = :org and stream in {in_list(REPORT_STREAMS)}",
        org=org_id,
    ):
        read[str(stream)].append((as_date(lo), as_date(hi)))
    return read


def _newest(read: dict[str, list[tuple[date, date]]]) -> date | None:
    """The last date every report stream has read up to (days after it are freshness's concern)."""
    ends = [max(hi for _lo, hi in windows) for windows in read.values() if windows]
    return min(ends) if len(ends) == len(read) else None


def backfill_progress(
    db: Reader, org_id: int, today: date, read: dict[str, list[tuple[date, date]]] | None = None
) -> list[Backfill]:
    """Each report stream's backfill: how many days from its history's start are read.

    A first sync records where the history starts before it reads anything, and reads newest
    first; a sync killed half-way leaves the older part missing, and the next one goes on.
    """
    read = _read_windows(db, org_id) if read is None else read
    newest = _newest(read)
    until = today if newest is None else min(today, newest)
    out = []
    for stream, target in db.rows(
        "select stream, backfill_from from sync_stream_state"
        f" where org_id = :org and stream in {in_list(REPORT_STREAMS)}"
        " and backfill_from is not null order by stream",
        org=org_id,
    ):
        start = as_date(target)
        if start > until:
            continue
        windows = read[str(stream)]
        missing = _gaps(start, until, windows)
        days = (until - start).days + 1
        inside = [lo for lo, hi in windows if hi >= start and lo <= until]
        out.append(
            Backfill(
                stream=str(stream),
                target_from=start,
                until=until,
                days=days,
                days_read=days - sum((hi - lo).days + 1 for lo, hi in missing),
                oldest_read=max(start, min(inside)) if inside else None,
                missing=missing,
            )
        )
    return out


def data_coverage(db: Reader, org_id: int, start: date, end: date, today: date) -> Coverage:
    """What the sync has read of ``[start, end]`` for the business reports: up to ``today``, and
    up to the newest date read (what lies after it is the freshness note's to say)."""
    read = _read_windows(db, org_id)
    cover = Coverage(start, end)
    oldest = [lo for windows in read.values() for lo, _hi in windows]
    newest = _newest(read)
    if not oldest or newest is None:
        return cover  # nothing synced: the freshness note says so
    cover.synced_from = min(oldest)
    cover.backfilling = any(not b.complete for b in backfill_progress(db, org_id, today, read))
    last = min(end, today, newest)
    if last < start:
        return cover  # a period wholly ahead: nothing to have read yet
    missing = [g for s in REPORT_STREAMS for g in _gaps(start, last, read[s])]
    # The union of both streams' gaps, merged.
    for lo, hi in sorted(missing):
        if cover.missing and lo <= cover.missing[-1][1] + timedelta(days=1):
            cover.missing[-1] = (cover.missing[-1][0], max(hi, cover.missing[-1][1]))
        else:
            cover.missing.append((lo, hi))
    return cover


def coverage_note(c: Coverage) -> str | None:
    """One line for a person when the period is not wholly read, else None."""
    if c.complete or c.synced_from is None:
        return None
    ranges = ", ".join(f"{lo:%Y-%m-%d}..{hi:%Y-%m-%d}" for lo, hi in c.missing[:3])
    if len(c.missing) > 3:
        ranges += f" and {len(c.missing) - 3} more"
    if c.backfilling:
        return (
            f"Note: the figures cover part of the period only: the sync has not read {ranges} yet"
            " (a first sync reads newest first; aiq report sync shows how far it has come)."
        )
    return (
        f"Note: the figures cover part of the period only: no sync has read {ranges}"
        f" (the synced history starts {c.synced_from:%Y-%m-%d}; aiq sync --since DATE reads"
        " further back)."
    )


@dataclass
class StreamHealth:
    """One stream's state and its latest run."""

    stream: str
    freshness: Freshness
    last_success_at: datetime | None
    consecutive_failures: int
    last_status: str | None = None
    last_run_at: datetime | None = None
    rows_inserted: int = 0
    rows_changed: int = 0
    rows_removed: int = 0
    rows_skipped: int = 0
    duration_seconds: float | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None


@dataclass
class RunSummary:
    """One run of `aiq sync`."""

    id: int
    started_at: datetime
    ended_at: datetime | None
    status: str
    mode: str
    duration_seconds: float | None
    windows: int
    requests: int
    rows_inserted: int
    rows_changed: int
    rows_removed: int
    rows_skipped: int
    error: str | None


@dataclass
class SyncHealth:
    """The run log and the streams of one practice."""

    org_id: int
    org_name: str
    now: datetime
    interval_minutes: int
    freshness: Freshness
    streams: list[StreamHealth] = field(default_factory=list)
    runs: list[RunSummary] = field(default_factory=list)
    backfill: list[Backfill] = field(default_factory=list)
    interrupted: list[int] = field(default_factory=list)
    """Runs the log still showed as running whose process is gone (nobody held the org's sync
    lock): shown as interrupted here, and written down so by the caller when it may write."""
    patient_pass_at: datetime | None = None
    """When the last patient pass computed the patient figures (None: never)."""


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


_RUN_COLUMNS = (
    "started_at, ended_at, status, windows, requests, rows_inserted, rows_changed, rows_removed,"
    " rows_skipped, error"
)


def _timestamps(row: dict[str, Any]) -> dict[str, Any]:
    row["started_at"] = as_datetime(row["started_at"])
    row["ended_at"] = as_datetime(row["ended_at"])
    return row


def sync_health(
    db: Reader, scope: Scope, now: datetime, interval_minutes: int, runs: int = 10
) -> SyncHealth:
    """Each stream's freshness and latest run, and the last ``runs`` runs, newest first."""
    states = {
        str(r["stream"]): r
        for r in db.dicts(
            "select stream, last_success_at, consecutive_failures from sync_stream_state"
            " where org_id = :org",
            org=scope.org_id,
        )
    }
    latest: dict[str, dict[str, Any]] = {}
    errors: dict[str, tuple[str, datetime]] = {}
    # The run log is small (one row per stream and run); newest first, the first row seen of a
    # stream is its latest run and the first with an error is its last error.
    for r in db.dicts(
        f"select stream, {_RUN_COLUMNS} from sync_run_stream where org_id = :org"
        " order by run_id desc limit :n",
        org=scope.org_id,
        n=len(STREAMS) * 200,
    ):
        r = _timestamps(r)
        name = str(r["stream"])
        latest.setdefault(name, r)
        if r["error"] and name not in errors:
            errors[name] = (str(r["error"]), r["started_at"])
    names = [s for s in STREAMS if s in states or s in latest]
    names += sorted((set(states) | set(latest)) - set(names))
    streams = []
    for name in names:
        state = states.get(name)
        last_ok = as_datetime(state["last_success_at"]) if state else None
        lr = latest.get(name)
        sh = StreamHealth(
            stream=name,
            freshness=freshness_of(last_ok, now, interval_minutes),
            last_success_at=last_ok,
            consecutive_failures=int(state["consecutive_failures"]) if state else 0,
        )
        if lr is not None:
            sh.last_status = str(lr["status"])
            sh.last_run_at = lr["started_at"]
            sh.rows_inserted = int(lr["rows_inserted"])
            sh.rows_changed = int(lr["rows_changed"])
            sh.rows_removed = int(lr["rows_removed"])
            sh.rows_skipped = int(lr["rows_skipped"])
            sh.duration_seconds = _seconds(lr["started_at"], lr["ended_at"])
        if name in errors:
            sh.last_error, sh.last_error_at = errors[name]
        streams.append(sh)
    run_rows = [
        RunSummary(
            id=int(r["id"]),
            started_at=r["started_at"],
            ended_at=r["ended_at"],
            status=str(r["status"]),
            mode=str(r["mode"]),
            duration_seconds=_seconds(r["started_at"], r["ended_at"]),
            windows=int(r["windows"]),
            requests=int(r["requests"]),
            rows_inserted=int(r["rows_inserted"]),
            rows_changed=int(r["rows_changed"]),
            rows_removed=int(r["rows_removed"]),
            rows_skipped=int(r["rows_skipped"]),
            error=r["error"],
        )
        for r in map(
            _timestamps,
            db.dicts(
                f"select id, mode, {_RUN_COLUMNS} from sync_run where org_id = :org"
                " order by started_at desc, id desc limit :n",
                org=scope.org_id,
                n=runs,
            ),
        )
    ]
    gone = _interrupted_runs(db, scope.org_id)
    for run in run_rows:
        if run.id in gone:
            run.status, run.error = RUN_INTERRUPTED, RUN_INTERRUPTED_ERROR
            run.ended_at = _last_sign_of_life(db, scope.org_id, run.started_at)
            run.duration_seconds = _seconds(run.started_at, run.ended_at)
    return SyncHealth(
        org_id=scope.org_id,
        org_name=scope.org_name,
        now=now,
        interval_minutes=interval_minutes,
        freshness=data_freshness(db, scope.org_id, now, interval_minutes),
        streams=streams,
        runs=run_rows,
        backfill=backfill_progress(db, scope.org_id, now.date()),
        interrupted=gone,
        patient_pass_at=_patient_pass_at(db, scope.org_id),
    )


def _patient_pass_at(db: Reader, org_id: int) -> datetime | None:
    rows = db.rows("select computed_at from patient_pass where org_id = :org", org=org_id)
    return as_datetime(rows[0][0]) if rows else None


def _interrupted_runs(db: Reader, org_id: int) -> list[int]:
    """The org's runs shown as running while nobody holds its sync lock: their process is gone.

    The runs are read first, the lock looked at after: a run still going holds the lock then."""
    from aiq.store.locks import reader_sees_sync

    running = [
        int(i)
        for (i,) in db.rows(
            "select id from sync_run where org_id = :org and status = 'running' order by id",
            org=org_id,
        )
    ]
    if not running or reader_sees_sync(db, org_id):
        return []
    return running


def _last_sign_of_life(db: Reader, org_id: int, started_at: datetime) -> datetime:
    """When an interrupted run was last seen working: its last finished window, else its start
    (how ``aiq.store.runlog.mark_interrupted`` dates its end)."""
    (last,) = db.one(
        "select max(read_at) from sync_window where org_id = :org and read_at >= :start",
        org=org_id,
        start=started_at,
    )
    return as_datetime(last) or started_at


def age_text(seconds: float | None) -> str:
    """``45 s``, ``12 min``, ``3 h``, ``2 days``."""
    if seconds is None:
        return "never"
    if seconds < 90:
        return f"{max(0, int(seconds))} s"
    if seconds < 90 * 60:
        return f"{int(seconds // 60)} min"
    if seconds < 48 * 3600:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} days"


def stale_note(f: Freshness) -> str | None:
    """One line for a person when the data is not fresh, else None."""
    if f.status == "fresh":
        return None
    if f.status == "never":
        return "Note: nothing has been synced completely yet; run aiq sync."
    return (
        f"Note: the data is {f.status}: last synced {age_text(f.age_seconds)} ago, and the "
        f"schedule is every {f.interval_minutes} min; run aiq sync (or aiq daemon) to refresh."
    )


__all__ = [
    "Backfill",
    "Coverage",
    "Freshness",
    "RunSummary",
    "StreamHealth",
    "SyncHealth",
    "age_text",
    "backfill_progress",
    "coverage_note",
    "data_coverage",
    "data_freshness",
    "freshness_of",
    "stale_note",
    "sync_health",
]
