"""Sync health: the run log and each stream's freshness against the schedule.

Freshness follows Airbyte's convention (docs/reports.md): a stream is ``fresh`` within one schedule
interval of its last successful sync, ``delayed`` past one interval, ``stale`` past two, and
``never`` when it has not been synced at all. The interval is the daemon's
(``[daemon] interval_minutes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiq.store.reader import as_datetime, in_list

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
    return SyncHealth(
        org_id=scope.org_id,
        org_name=scope.org_name,
        now=now,
        interval_minutes=interval_minutes,
        freshness=data_freshness(db, scope.org_id, now, interval_minutes),
        streams=streams,
        runs=run_rows,
    )


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
    "Freshness",
    "RunSummary",
    "StreamHealth",
    "SyncHealth",
    "age_text",
    "data_freshness",
    "freshness_of",
    "stale_note",
    "sync_health",
]
