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

from sqlalchemy import Connection, select, update

from aiq.clock import utcnow
from aiq.store import bulk
from aiq.store.db import Store
from aiq.store.models import Clinic, SyncRun, SyncRunStream, SyncStreamState, SyncWindow, table_of

run_table = table_of(SyncRun)
run_stream_table = table_of(SyncRunStream)
state_table = table_of(SyncStreamState)
window_table = table_of(SyncWindow)
clinic_table = table_of(Clinic)


def start_run(store: Store, org_id: int, started_at: datetime, mode: str) -> int:
    """Record a run as running; its id."""
    with store.begin() as conn:
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
    consecutive failure for each of ``failed_streams``."""
    with store.begin() as conn:
        conn.execute(update(run_table).where(run_table.c.id == run_id).values(**run))
        bulk.upsert(
            conn,
            run_stream_table,
            [{"run_id": run_id, "org_id": org_id, **s} for s in streams],
        )
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
