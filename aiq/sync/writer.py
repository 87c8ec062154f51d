"""The one writer of a sync: windows' rows, their "done" marks and rollups, one transaction a batch.

A crash at any point loses nothing and duplicates nothing: either a batch (its rows, the
``sync_window`` marks of its windows, and the rollups of the dates it touched) committed, or none of
it did and the next run reads those windows again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Table, select

from aiq.ar.mapping import MappedAppointment, MappedInvoice
from aiq.store import bulk
from aiq.store.db import Store
from aiq.store.models import (
    Appointment,
    AppointmentService,
    Invoice,
    InvoiceItem,
    Payment,
    Refund,
    SyncWindow,
    table_of,
)
from aiq.store.rollups import rebuild_appointments, rebuild_sales
from aiq.sync.plan import Window


@dataclass
class Counts:
    """Rows inserted, changed and removed."""

    inserted: int = 0
    changed: int = 0
    removed: int = 0

    def add(self, other: Counts) -> None:
        self.inserted += other.inserted
        self.changed += other.changed
        self.removed += other.removed


@dataclass
class WindowResult:
    """Everything read from one window: mapped records and the records that had to be skipped."""

    stream: str
    window: Window
    records: list[Any]
    skipped: list[str] = field(default_factory=list)
    requests: int = 0
    unknown_fields: set[str] = field(default_factory=set)


def utcnow() -> datetime:
    """Naive UTC now, as the store keeps it."""
    return datetime.now(UTC).replace(tzinfo=None)


def _has_rows(conn: Connection, table: Table, org_id: int) -> bool:
    return (
        conn.execute(select(table.c.id).where(table.c.org_id == org_id).limit(1)).first()
        is not None
    )


class Writer:
    """Writes batches of window results for one org."""

    def __init__(self, store: Store, org_id: int, *, dry_run: bool = False) -> None:
        self.store = store
        self.org_id = org_id
        self.dry_run = dry_run
        with store.connect() as conn:
            # On a first sync the tables are empty and no fetched id can exist elsewhere; skip
            # the per-id lookups that would only find nothing.
            self._had_rows = {
                "appointments": _has_rows(conn, table_of(Appointment), org_id),
                "invoices": _has_rows(conn, table_of(Invoice), org_id),
            }

    def write(self, stream: str, results: list[WindowResult]) -> Counts:
        """Write one batch of windows of ``stream`` in one transaction."""
        if self.dry_run:
            # Classify only: what a real run would insert, change and remove. Nothing is written.
            with self.store.connect() as conn:
                if stream == "appointments":
                    return self._appointments(conn, results)
                return self._invoices(conn, results)
        with self.store.begin() as conn:
            if stream == "appointments":
                counts = self._appointments(conn, results)
            else:
                counts = self._invoices(conn, results)
            now = utcnow()
            bulk.upsert(
                conn,
                table_of(SyncWindow),
                [
                    {
                        "org_id": self.org_id,
                        "stream": stream,
                        "window_start": r.window.start,
                        "window_end": r.window.end,
                        "rows": len(r.records),
                        "read_at": now,
                    }
                    for r in results
                ],
            )
        return counts

    def _classify(
        self, conn: Connection, table: Table, stream: str, results: list[WindowResult]
    ) -> tuple[dict[int, Any], dict[int, tuple[int, date]], list[int], list[int], list[int]]:
        """Split fetched records into new, changed and unchanged, and find the vanished ones."""
        fetched: dict[int, Any] = {}
        for r in results:
            for m in r.records:
                fetched[m.row["id"]] = m
        ranges = [(r.window.start, r.window.end) for r in results]
        existing = bulk.hashes_in_dates(conn, table, self.org_id, ranges)
        elsewhere_ids = [i for i in fetched if i not in existing]
        if elsewhere_ids and self._had_rows[stream]:
            # Rows dated outside these windows before (a rescheduled appointment).
            existing.update(bulk.hashes_for_ids(conn, table, self.org_id, elsewhere_ids))
        new, changed = [], []
        for rid, m in fetched.items():
            old = existing.get(rid)
            if old is None:
                new.append(rid)
            elif old[0] != m.row["row_hash"]:
                changed.append(rid)
        in_windows = {(r.window.start, r.window.end) for r in results}
        removed = [
            rid
            for rid, (_h, d) in existing.items()
            if rid not in fetched and any(lo <= d <= hi for lo, hi in in_windows)
        ]
        return fetched, existing, new, changed, removed

    def _appointments(self, conn: Connection, results: list[WindowResult]) -> Counts:
        table = table_of(Appointment)
        links = table_of(AppointmentService)
        fetched, existing, new, changed, removed = self._classify(
            conn, table, "appointments", results
        )
        touched: set[date] = set()
        for rid in new:
            touched.add(fetched[rid].row["local_date"])
        for rid in changed:
            touched.add(fetched[rid].row["local_date"])
            touched.add(existing[rid][1])
        for rid in removed:
            touched.add(existing[rid][1])
        if self.dry_run:
            return Counts(len(new), len(changed), len(removed))
        write_ids = new + changed
        bulk.delete_where_in(conn, links, self.org_id, "appointment_id", changed + removed)
        bulk.delete_where_in(conn, table, self.org_id, "id", removed)
        rows: list[dict[str, Any]] = []
        services: list[dict[str, Any]] = []
        for rid in write_ids:
            m: MappedAppointment = fetched[rid]
            rows.append(m.row)
            services.extend(m.services)
        bulk.upsert(conn, table, rows)
        bulk.insert(conn, links, services)
        if touched:
            rebuild_appointments(conn, self.org_id, touched)
        return Counts(len(new), len(changed), len(removed))

    def _invoices(self, conn: Connection, results: list[WindowResult]) -> Counts:
        table = table_of(Invoice)
        items, pays, refs = table_of(InvoiceItem), table_of(Payment), table_of(Refund)
        fetched, existing, new, changed, removed = self._classify(conn, table, "invoices", results)
        gone = changed + removed
        touched: set[date] = set()
        for rid in new + changed:
            m: MappedInvoice = fetched[rid]
            touched.add(m.row["local_date"])
            touched.update(p["local_date"] for p in m.payments)
            touched.update(f["local_date"] for f in m.refunds)
        for rid in gone:
            touched.add(existing[rid][1])
        if self.dry_run:
            return Counts(len(new), len(changed), len(removed))
        if gone:
            touched |= bulk.dates_of_children(conn, pays, self.org_id, gone)
            touched |= bulk.dates_of_children(conn, refs, self.org_id, gone)
            for child in (items, pays, refs):
                bulk.delete_where_in(conn, child, self.org_id, "invoice_id", gone)
        bulk.delete_where_in(conn, table, self.org_id, "id", removed)
        write_ids = new + changed
        rows, item_rows, pay_rows, ref_rows = [], [], [], []
        for rid in write_ids:
            m = fetched[rid]
            rows.append(m.row)
            item_rows.extend(m.items)
            pay_rows.extend(m.payments)
            ref_rows.extend(m.refunds)
        bulk.upsert(conn, table, rows)
        # Children are replaced whole with their invoice; AR ids can in principle be reused
        # across invoices after a rewrite, so an upsert (not an insert) keeps that safe.
        bulk.upsert(conn, items, item_rows)
        bulk.upsert(conn, pays, pay_rows)
        bulk.upsert(conn, refs, ref_rows)
        if touched:
            rebuild_sales(conn, self.org_id, touched)
        return Counts(len(new), len(changed), len(removed))
