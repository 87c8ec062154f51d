"""The run log (``sync_run``, ``sync_run_stream``) and each stream's state (``sync_stream_state``,
``sync_window``): what the sync engine reads to plan a run and writes as it ends one.

``sync_window`` rows (a window read whole) are written with the window's records, by
``aiq.sync.writer``, in the same transaction; everything else about a run's bookkeeping is here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from aiq.clock import utcnow
from aiq.store import bulk
from aiq.store.db import Store
from aiq.store.models import Clinic, SyncRun, SyncRunStream, SyncStreamState, SyncWindow, table_of
from aiq.store.statuses import RUN_INTERRUPTED, RUN_INTERRUPTED_ERROR

run_table = table_of(SyncRun)
run_stream_table = table_of(SyncRunStream)
state_table = table_of(SyncStreamState)
window_table = table_of(SyncWindow)
clinic_table = table_of(Clinic)


def start_run(store: Store, org_id: int, started_at: datetime, mode: str) -> int:
    """Record a run as running; its id. The caller holds the org's sync lock, so any earlier run
    still ``running`` belongs to a process that is gone: it is marked interrupted first."""
    with store.begin() as conn:
        mark_interrupted(conn, org_id)
        result = conn.execute(
            run_table.insert().values(
                org_id=org_id, started_at=started_at, status="running", mode=mode
            )
        )
        pk = result.inserted_primary_key
        assert pk is not None
        return int(pk[0])


def finish_run(
    store: Store,
    org_id: int,
    run_id: int,
    run: Mapping[str, Any],
    streams: Iterable[Mapping[str, Any]],
    *,
    known_fields: Mapping[str, list[str]],
    failed_streams: Iterable[str] = (),
) -> None:
    """Record how a run ended: its row (``run``: the ``sync_run`` columns), a row per stream
    (``sync_run_stream`` columns), the fields AR sent that aiq does not know, and one more
    consecutive failure for each of ``failed_streams``.

    A failed stream the run did not reach (a run that failed at sign-in, before any stream
    began) gets a failed row too, with the run's error: its last run is this one, so a report
    never shows "last run ok" beside a failure count that just grew.
    """
    rows = [{"run_id": run_id, "org_id": org_id, **s} for s in streams]
    with store.begin() as conn:
        conn.execute(update(run_table).where(run_table.c.id == run_id).values(**run))
        listed = {r["stream"] for r in rows}
        unreached = [s for s in failed_streams if s not in listed]
        if unreached:
            started = conn.execute(
                select(run_table.c.started_at).where(run_table.c.id == run_id)
            ).scalar_one()
            rows += [_unreached(run_id, org_id, s, started, run) for s in unreached]
        bulk.upsert(conn, run_stream_table, rows)
        t = state_table
        for stream, names in known_fields.items():
            ensure_state(conn, org_id, stream)
            conn.execute(
                update(t)
                .where(t.c.org_id == org_id, t.c.stream == stream)
                .values(known_fields=names)
            )
        for stream in failed_streams:
            ensure_state(conn, org_id, stream)
            conn.execute(
                update(t)
                .where(t.c.org_id == org_id, t.c.stream == stream)
                .values(consecutive_failures=t.c.consecutive_failures + 1)
            )


def _unreached(
    run_id: int, org_id: int, stream: str, started: datetime, run: Mapping[str, Any]
) -> dict[str, Any]:
    """The run-log row of a stream a failed run never reached."""
    zero = ("windows", "requests", "rows_inserted", "rows_changed", "rows_removed", "rows_skipped")
    return {
        "run_id": run_id,
        "org_id": org_id,
        "stream": stream,
        "status": "failed",
        **dict.fromkeys(zero, 0),
        "error": run.get("error"),
        "started_at": started,
        "ended_at": run.get("ended_at"),
    }


def ensure_state(conn: Connection, org_id: int, stream: str) -> None:
    """Make sure ``stream`` has its state row."""
    t = state_table
    exists = conn.execute(
        select(t.c.stream).where(t.c.org_id == org_id, t.c.stream == stream)
    ).first()
    if exists is None:
        conn.execute(
            t.insert().values(org_id=org_id, stream=stream, consecutive_failures=0, known_fields=[])
        )


def save_state(
    conn: Connection,
    org_id: int,
    stream: str,
    *,
    succeeded: bool,
    deep: bool,
    backfill_from: date | None,
) -> None:
    """After a stream's part of a run: its last success, its last deep read, and how far back
    its history has been read (``backfill_from`` only ever moves back)."""
    t = state_table
    ensure_state(conn, org_id, stream)
    values: dict[str, Any] = {}
    if succeeded:
        values["last_success_at"] = utcnow()
        values["consecutive_failures"] = 0
    if deep:
        values["last_deep_at"] = utcnow()
    if backfill_from is not None:
        current = conn.execute(
            select(t.c.backfill_from).where(t.c.org_id == org_id, t.c.stream == stream)
        ).scalar()
        values["backfill_from"] = min(backfill_from, current) if current else backfill_from
    if values:
        conn.execute(update(t).where(t.c.org_id == org_id, t.c.stream == stream).values(**values))


def windows_done(conn: Connection, org_id: int, stream: str) -> list[date]:
    """The start dates of the windows of ``stream`` read whole so far."""
    return [w.start for w in windows_read(conn, org_id, stream)]


@dataclass(frozen=True)
class WindowRead:
    """A window of a stream read whole: its dates, the records it held, when it was read."""

    start: date
    end: date
    rows: int
    read_at: datetime


def windows_read(conn: Connection, org_id: int, stream: str) -> list[WindowRead]:
    """The windows of ``stream`` read whole so far."""
    w = window_table
    return [
        WindowRead(start, end, int(rows), read_at)
        for start, end, rows, read_at in conn.execute(
            select(w.c.window_start, w.c.window_end, w.c.rows, w.c.read_at).where(
                w.c.org_id == org_id, w.c.stream == stream
            )
        )
    ]


def backfill_and_deep(
    conn: Connection, org_id: int, stream: str
) -> tuple[date | None, datetime | None]:
    """How far back ``stream``'s history has been read, and when its last deep read was."""
    t = state_table
    row = conn.execute(
        select(t.c.backfill_from, t.c.last_deep_at).where(
            t.c.org_id == org_id, t.c.stream == stream
        )
    ).first()
    return (row[0], row[1]) if row else (None, None)


def clinic_zones(store: Store, org_id: int) -> dict[int, str]:
    """Each clinic's IANA time zone name, by clinic id."""
    c = clinic_table
    with store.connect() as conn:
        rows = conn.execute(select(c.c.id, c.c.timezone).where(c.c.org_id == org_id)).all()
    return {int(cid): str(tz) for cid, tz in rows}


def running_runs(conn: Connection, org_id: int) -> list[int]:
    """The ids of the org's runs the log shows as running."""
    r = run_table
    return [
        int(i)
        for (i,) in conn.execute(
            select(r.c.id).where(r.c.org_id == org_id, r.c.status == "running")
        )
    ]


def mark_interrupted(conn: Connection, org_id: int, run_ids: Iterable[int] | None = None) -> int:
    """Mark the org's runs still ``running`` (all, or those of ``run_ids``) as interrupted; how
    many were. Only for runs whose process is gone: the caller holds the org's sync lock, or saw
    it free after reading ``run_ids``.

    A run's end is its last sign of life, the last window it finished (else its start), so its
    duration is not stretched to the moment it was found.
    """
    r, w = run_table, window_table
    query = update(r).where(r.c.org_id == org_id, r.c.status == "running")
    if run_ids is not None:
        ids = sorted(set(run_ids))
        if not ids:
            return 0
        query = query.where(r.c.id.in_(ids))
    last_window = (
        select(func.max(w.c.read_at))
        .where(w.c.org_id == org_id, w.c.read_at >= r.c.started_at)
        .scalar_subquery()
    )
    done = conn.execute(
        query.values(
            status=RUN_INTERRUPTED,
            ended_at=func.coalesce(last_window, r.c.started_at),
            error=RUN_INTERRUPTED_ERROR,
        )
    )
    return int(done.rowcount or 0)


def settle_interrupted(store: Store, org_id: int, run_ids: Iterable[int] | None = None) -> int:
    """What a report or ``aiq status`` does before showing the run log: the org's runs shown as
    running (or those of ``run_ids``, read before) are marked interrupted when nobody holds the
    org's sync lock; a run under way in another process is left alone. How many were marked."""
    from aiq.store.locks import sync_in_progress

    with store.connect() as conn:
        found = running_runs(conn, org_id)
    if run_ids is not None:
        found = sorted(set(found) & set(run_ids))
    # The ids are read before the lock is looked at: a run started after the look is not among
    # them, and a run among them that is still going holds the lock.
    if not found or sync_in_progress(store, org_id):
        return 0
    with store.begin() as conn:
        return mark_interrupted(conn, org_id, found)
