"""The one writer of a sync: windows' rows, their "done" marks and rollups, one transaction a batch.

A crash at any point loses nothing and duplicates nothing: either a batch (its rows, the
``sync_window`` marks of its windows, and the rollups of the dates it touched) committed, or none of
it did and the next run reads those windows again.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, Table, select
from sqlalchemy.exc import DBAPIError

from aiq.ar.mapping import (
    APPOINTMENT_COLUMNS,
    APPOINTMENT_LOCAL_DATE,
    APPOINTMENT_SERVICE_COLUMNS,
    ID,
    INVOICE_COLUMNS,
    INVOICE_ITEM_COLUMNS,
    INVOICE_LOCAL_DATE,
    PAYMENT_COLUMNS,
    PAYMENT_LOCAL_DATE,
    REFUND_COLUMNS,
    REFUND_LOCAL_DATE,
    ROW_HASH,
    MappedAppointment,
    MappedInvoice,
    Row,
)
from aiq.clock import utcnow
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
from aiq.sync.plan import RequestWindow

log = logging.getLogger("aiq.sync")


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
    """Everything read from one request window: mapped records and the records that were skipped."""

    stream: str
    window: RequestWindow
    records: list[Any]
    skipped: list[str] = field(default_factory=list)
    requests: int = 0
    unknown_fields: set[str] = field(default_factory=set)
    facts: list[Any] = field(default_factory=list)  # the patient pass's, never written


class _Statistics:
    """Keeps Postgres' table statistics in step with a sync that fills the tables.

    Postgres plans from statistics that autovacuum gathers about once a minute. During a first sync
    they say the tables are empty, and the planner picks plans that read every invoice of the org
    for each batch (the payments rollup took 0.2 s a batch and growing): the sync slows down with
    the square of the history. So each time a table has taken as many rows as it held when its
    statistics were last gathered (and at least ``MIN_ROWS``), the writer runs ANALYZE on it: a few
    times a table per first sync, and not at all on an incremental one. ANALYZE reads a fixed-size
    sample, so each costs milliseconds. A role that does not own the tables gets a warning from
    Postgres and no statistics, nothing worse.
    """

    MIN_ROWS = 2_000

    def __init__(self, conn: Connection, tables: list[Table]) -> None:
        rows = conn.exec_driver_sql(
            "SELECT c.relname, greatest(c.reltuples, 0)::bigint FROM pg_class c "
            "WHERE c.oid = ANY(%(oids)s::regclass[])",
            {"oids": [t.name for t in tables]},
        ).all()
        self._at_last = {name: int(n) for name, n in rows}
        self._since = dict.fromkeys(self._at_last, 0)

    def wrote(self, table: Table, rows: int) -> None:
        """Count rows written to ``table`` in this batch."""
        if table.name in self._since:
            self._since[table.name] += rows

    def refresh(self, conn: Connection) -> None:
        """ANALYZE the tables that have grown enough since their last statistics."""
        due = [
            name for name, n in self._since.items() if n >= max(self.MIN_ROWS, self._at_last[name])
        ]
        if not due:
            return
        try:
            with conn.begin():
                # A small sample: the planner needs sizes and rough spreads, not fine histograms.
                conn.exec_driver_sql("SET LOCAL default_statistics_target = 10")
                conn.exec_driver_sql(f"ANALYZE {', '.join(due)}")
        except DBAPIError as exc:
            # Statistics only make the sync faster; their failure must not fail it.
            log.warning("could not gather statistics on %s: %s", ", ".join(due), exc.orig)
            self._since.clear()
            return
        for name in due:
            self._at_last[name] += self._since[name]
            self._since[name] = 0


_FACTS = (Appointment, AppointmentService, Invoice, InvoiceItem, Payment, Refund)


def _rows_by_cell(stream: str, result: WindowResult) -> list[tuple[Any, int]]:
    """Each grid window of a request window, with the records dated in it (what the planner uses
    to size the next request windows)."""
    cells = result.window.cells
    if len(cells) == 1:
        return [(cells[0], len(result.records))]
    local_date = APPOINTMENT_LOCAL_DATE if stream == "appointments" else INVOICE_LOCAL_DATE
    starts = [c.start for c in cells]
    counts = [0] * len(cells)
    for m in result.records:
        counts[max(0, bisect_right(starts, m.row[local_date]) - 1)] += 1
    return list(zip(cells, counts, strict=True))


def _has_rows(conn: Connection, table: Table, org_id: int) -> bool:
    return (
        conn.execute(select(table.c.id).where(table.c.org_id == org_id).limit(1)).first()
        is not None
    )


class Writer:
    """Writes batches of window results for one org, on one connection kept for the whole run.

    Use as a context manager (or call ``close``). One connection, not one per batch: with SQLite
    each new connection would set its pragmas again and each close would checkpoint the WAL.
    """

    def __init__(
        self,
        store: Store,
        org_id: int,
        *,
        dry_run: bool = False,
    ) -> None:
        self.store = store
        self.org_id = org_id
        self.dry_run = dry_run
        self._cm = store.connect()
        conn = self._cm.__enter__()
        try:
            # On a first sync the tables are empty and no fetched id can exist elsewhere; skip
            # the per-id lookups that would only find nothing.
            self._had_rows = {
                "appointments": _has_rows(conn, table_of(Appointment), org_id),
                "invoices": _has_rows(conn, table_of(Invoice), org_id),
            }
            self._stats = (
                _Statistics(conn, [table_of(m) for m in _FACTS])
                if store.dialect == "postgresql" and not dry_run
                else None
            )
            if conn.in_transaction():
                conn.rollback()
        except BaseException:
            self._cm.__exit__(None, None, None)
            raise
        self._conn: Connection | None = conn if dry_run else conn.execution_options(aiq_write=True)

    def close(self) -> None:
        """Give the connection back."""
        if self._conn is not None:
            self._conn = None
            self._cm.__exit__(None, None, None)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, stream: str, results: list[WindowResult]) -> Counts:
        """Write one batch of windows of ``stream`` in one transaction."""
        conn = self._conn
        assert conn is not None, "the writer is closed"
        if self.dry_run:
            # Classify only: what a real run would insert, change and remove. Nothing is written.
            try:
                if stream == "appointments":
                    return self._appointments(conn, results)
                return self._invoices(conn, results)
            finally:
                if conn.in_transaction():
                    conn.rollback()
        with conn.begin():
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
                        "window_start": cell.start,
                        "window_end": cell.end,
                        "rows": rows,
                        "read_at": now,
                    }
                    for r in results
                    for cell, rows in _rows_by_cell(stream, r)
                ],
            )
        if self._stats is not None:
            self._stats.refresh(conn)
        return counts

    def _wrote(self, table: Table, rows: int) -> None:
        if self._stats is not None:
            self._stats.wrote(table, rows)

    def _classify(
        self,
        conn: Connection,
        table: Table,
        stream: str,
        results: list[WindowResult],
    ) -> tuple[dict[int, Any], dict[int, tuple[int, date]], list[int], list[int], list[int]]:
        """Split fetched records into new, changed and unchanged, and find the vanished ones."""
        fetched: dict[int, Any] = {}
        for r in results:
            for m in r.records:
                fetched[m.row[ID]] = m
        ranges = [(r.window.start, r.window.end) for r in results]
        existing = bulk.hashes_in_dates(conn, table, self.org_id, ranges)
        elsewhere_ids = [i for i in fetched if i not in existing]
        if elsewhere_ids and self._had_rows[stream]:
            # Rows dated outside these windows before (a rescheduled appointment).
            existing.update(bulk.hashes_for_ids(conn, table, self.org_id, elsewhere_ids))
        if not existing:
            return fetched, existing, list(fetched), [], []
        new, changed = [], []
        for rid, m in fetched.items():
            old = existing.get(rid)
            if old is None:
                new.append(rid)
            elif old[0] != m.row[ROW_HASH]:
                changed.append(rid)
        in_windows = _merged(ranges)
        removed = [
            rid
            for rid, (_h, d) in existing.items()
            if rid not in fetched and any(lo <= d <= hi for lo, hi in in_windows)
        ]
        return fetched, existing, new, changed, removed

    def _add_new(
        self,
        conn: Connection,
        table: Table,
        columns: tuple[str, ...],
        fetched: dict[int, Any],
        existing: dict[int, tuple[int, date]],
        new: list[int],
        changed: list[int],
    ) -> tuple[list[int], list[int]]:
        """Insert the new records' rows; returns the new and changed ids as they turned out.

        On a first sync "new" is not checked id by id. A record that moved here from a window
        written earlier in the same run (an appointment rescheduled mid-sync) exists after all:
        the plain insert then writes nothing, and the ids are looked up; those found are
        changed records (their children and old dates are redone), or unchanged ones.
        """
        rows = [fetched[rid].row for rid in new]
        if bulk.add_rows(conn, table, columns, rows):
            return new, changed
        found = bulk.hashes_for_ids(conn, table, self.org_id, new)
        existing.update(found)
        new = [rid for rid in new if rid not in found]
        changed = changed + [
            rid for rid, (h, _day) in found.items() if h != fetched[rid].row[ROW_HASH]
        ]
        bulk.upsert_rows(conn, table, columns, [fetched[rid].row for rid in new])
        return new, changed

    def _appointments(self, conn: Connection, results: list[WindowResult]) -> Counts:
        table = table_of(Appointment)
        links = table_of(AppointmentService)
        fetched, existing, new, changed, removed = self._classify(
            conn, table, "appointments", results
        )
        if not self.dry_run:
            new, changed = self._add_new(
                conn, table, APPOINTMENT_COLUMNS, fetched, existing, new, changed
            )
        touched: set[date] = set()
        for rid in new:
            touched.add(fetched[rid].row[APPOINTMENT_LOCAL_DATE])
        for rid in changed:
            touched.add(fetched[rid].row[APPOINTMENT_LOCAL_DATE])
            touched.add(existing[rid][1])
        for rid in removed:
            touched.add(existing[rid][1])
        if self.dry_run:
            return Counts(len(new), len(changed), len(removed))
        bulk.delete_where_in(conn, links, self.org_id, "appointment_id", changed + removed)
        bulk.delete_where_in(conn, table, self.org_id, "id", removed)
        services: list[Row] = []
        for rid in new + changed:
            m: MappedAppointment = fetched[rid]
            services.extend(m.services)
        rows = [fetched[rid].row for rid in changed]
        bulk.upsert_rows(conn, table, APPOINTMENT_COLUMNS, rows)
        bulk.insert_rows(conn, links, APPOINTMENT_SERVICE_COLUMNS, services)
        self._wrote(table, len(new) + len(changed))
        self._wrote(links, len(services))
        if touched:
            rebuild_appointments(conn, self.org_id, touched)
        return Counts(len(new), len(changed), len(removed))

    def _invoices(self, conn: Connection, results: list[WindowResult]) -> Counts:
        table = table_of(Invoice)
        items, pays, refs = table_of(InvoiceItem), table_of(Payment), table_of(Refund)
        fetched, existing, new, changed, removed = self._classify(conn, table, "invoices", results)
        if self.dry_run:
            return Counts(len(new), len(changed), len(removed))
        new, changed = self._add_new(conn, table, INVOICE_COLUMNS, fetched, existing, new, changed)
        gone = changed + removed
        added = _children(fetched[rid] for rid in new)
        replaced = _children(fetched[rid] for rid in changed)
        rows = [fetched[rid].row for rid in new + changed]
        item_rows, pay_rows, ref_rows = (a + r for a, r in zip(added, replaced, strict=True))
        # The days whose sales figures change: an invoice's own day (items and invoice-level
        # lines), and the days of its payments and refunds (only those lines), old and new.
        sale_days = {r[INVOICE_LOCAL_DATE] for r in rows}
        sale_days.update(existing[rid][1] for rid in gone)
        pay_days = {p[PAYMENT_LOCAL_DATE] for p in pay_rows}
        refund_days = {f[REFUND_LOCAL_DATE] for f in ref_rows}
        if gone:
            pay_days |= bulk.dates_of_children(conn, pays, self.org_id, gone)
            refund_days |= bulk.dates_of_children(conn, refs, self.org_id, gone)
            for child in (items, pays, refs):
                bulk.delete_where_in(conn, child, self.org_id, "invoice_id", gone)
        bulk.delete_where_in(conn, table, self.org_id, "id", removed)
        bulk.upsert_rows(conn, table, INVOICE_COLUMNS, [fetched[rid].row for rid in changed])
        # Children are replaced whole with their invoice. AR ids can in principle be reused
        # across invoices after a rewrite: a child id that exists under another invoice is
        # upserted (moved over), not inserted twice.
        children = (
            (items, INVOICE_ITEM_COLUMNS),
            (pays, PAYMENT_COLUMNS),
            (refs, REFUND_COLUMNS),
        )
        for (child, cols), fresh, rewritten in zip(children, added, replaced, strict=True):
            if not bulk.add_rows(conn, child, cols, fresh):
                rewritten = rewritten + fresh
            bulk.upsert_rows(conn, child, cols, rewritten)
        for t, written in ((table, rows), (items, item_rows), (pays, pay_rows), (refs, ref_rows)):
            self._wrote(t, len(written))
        if sale_days or pay_days or refund_days:
            rebuild_sales(
                conn, self.org_id, sale_days, payment_dates=pay_days, refund_dates=refund_days
            )
        return Counts(len(new), len(changed), len(removed))


def _children(records: Iterable[MappedInvoice]) -> tuple[list[Row], list[Row], list[Row]]:
    """The items, payments and refunds of these invoices."""
    items: list[Row] = []
    payments: list[Row] = []
    refunds: list[Row] = []
    for m in records:
        items.extend(m.items)
        payments.extend(m.payments)
        refunds.extend(m.refunds)
    return items, payments, refunds


def _merged(ranges: list[tuple[date, date]]) -> list[tuple[date, date]]:
    out: list[tuple[date, date]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return out
