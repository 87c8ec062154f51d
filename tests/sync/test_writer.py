"""The writer on hand-made batches: first-sync inserts, records that move mid-run, statistics.

A first sync inserts rows without looking each id up first. These tests write batches as the
engine would, on SQLite and on Postgres, including the case that shortcut has to notice: a record
read in a window written earlier in the same run turns up again, changed, in a later window.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select, text

from aiq.ar import mapping
from aiq.store import bulk
from aiq.store.db import Store
from aiq.store.models import InvoiceItem, RollupAppointmentsDaily, table_of
from aiq.store.rollups import rebuild_appointments, rebuild_sales
from aiq.sync.plan import RequestWindow, Window
from aiq.sync.writer import Counts, WindowResult, Writer
from tests.sync.conftest import add_org

ZONES = {1: mapping.zone("America/Los_Angeles")}
FIRST = RequestWindow.of(Window(date(2026, 10, 1), date(2026, 10, 7)))
SECOND = RequestWindow.of(Window(date(2026, 10, 8), date(2026, 10, 14)))


def ar_invoice(day: str, items: list[int], total: str = "100.00") -> dict[str, Any]:
    return {
        "id": 77,
        "invoice_number": "INV-77",
        "clinic_id": 1,
        "status": "paid",
        "invoice_type": "procedure",
        "employee_id": 12,
        "created_at": f"{day} 10:00:00",
        "paid_at": f"{day} 10:05:00",
        "subtotal": total,
        "discount": "0.00",
        "tax": "0.00",
        "tip": "0.00",
        "processing_fee": "0.00",
        "total": total,
        "items": [
            {
                "id": item_id,
                "item_type": "service",
                "service_id": 3,
                "name": "Botox",
                "category_id": 2,
                "quantity": "1.00",
                "unit_price": "50.00",
                "discount": "0.00",
                "tax": "0.00",
                "total": "50.00",
                "employee_id": 12,
                "wallet_debit": "0.00",
            }
            for item_id in items
        ],
        "payments": [
            {"id": 9, "method": "card", "amount": total, "paid_at": f"{day} 10:05:00"},
        ],
        "refunds": [],
        "updated_at": f"{day} 10:05:00",
    }


def ar_appointment(day: str, services: list[int]) -> dict[str, Any]:
    return {
        "id": 5,
        "clinic_id": 1,
        "provider_id": 12,
        "kind": "in_person",
        "status": "booked",
        "start": f"{day} 09:00:00",
        "end": f"{day} 10:00:00",
        "booked_at": "2026-09-01 12:00:00",
        "services": [{"id": s, "duration_minutes": 30} for s in services],
        "updated_at": "2026-09-01 12:00:00",
    }


def invoices_in(org: int, window: Window, *records: dict[str, Any]) -> WindowResult:
    return WindowResult("invoices", window, [mapping.map_invoice(org, r, ZONES) for r in records])


def appointments_in(org: int, window: Window, *records: dict[str, Any]) -> WindowResult:
    return WindowResult(
        "appointments", window, [mapping.map_appointment(org, r, ZONES) for r in records]
    )


def column(store: Store, sql: str) -> list[Any]:
    with store.connect() as conn:
        return list(conn.execute(text(sql)).scalars())


def test_an_invoice_that_moves_to_a_later_window_mid_run_is_kept_once(store: Store) -> None:
    org = add_org(store)
    with Writer(store, org) as writer:
        first = writer.write(
            "invoices", [invoices_in(org, FIRST, ar_invoice("2026-10-03", [10, 11]))]
        )
        # The same invoice, redated and with one item fewer, read from a later window.
        moved = writer.write("invoices", [invoices_in(org, SECOND, ar_invoice("2026-10-09", [10]))])
    assert first == Counts(inserted=1)
    assert moved == Counts(changed=1)
    assert column(store, "select local_date from invoice") in ([date(2026, 10, 9)], ["2026-10-09"])
    assert column(store, "select id from invoice_item order by id") == [10]
    assert column(store, "select count(*) from payment") == [1]
    # The old day's sales are gone from the rollup, the new day's are there.
    days = column(store, "select distinct local_date from rollup_sales_daily")
    assert [str(d) for d in days] == ["2026-10-09"]
    assert column(store, "select sum(value_cents) from rollup_sales_daily") == [5000]


def test_an_appointment_rescheduled_mid_run_keeps_only_its_new_services(store: Store) -> None:
    org = add_org(store)
    with Writer(store, org) as writer:
        writer.write(
            "appointments", [appointments_in(org, FIRST, ar_appointment("2026-10-03", [1, 2]))]
        )
        moved = writer.write(
            "appointments", [appointments_in(org, SECOND, ar_appointment("2026-10-09", [3]))]
        )
    assert moved == Counts(changed=1)
    assert column(store, "select service_id from appointment_service") == [3]
    with store.connect() as conn:
        booked = dict(
            conn.execute(
                select(
                    table_of(RollupAppointmentsDaily).c.local_date,
                    table_of(RollupAppointmentsDaily).c.booked,
                )
            ).all()
        )
    assert booked == {date(2026, 10, 9): 1}


def test_a_first_sync_writes_each_row_once(store: Store) -> None:
    org = add_org(store)
    other = dict(ar_invoice("2026-10-10", [12]), id=78, payments=[])
    with Writer(store, org) as writer:
        counts = writer.write(
            "invoices",
            [
                invoices_in(org, FIRST, ar_invoice("2026-10-03", [10, 11])),
                invoices_in(org, SECOND, other),
            ],
        )
        again = writer.write(
            "invoices", [invoices_in(org, FIRST, ar_invoice("2026-10-03", [10, 11]))]
        )
    assert counts == Counts(inserted=2)
    assert again == Counts()
    assert column(store, "select id from invoice order by id") == [77, 78]
    assert column(store, "select id from invoice_item order by id") == [10, 11, 12]
    assert column(store, "select sum(value_cents) from rollup_sales_daily") == [15000]


def test_add_rows_writes_nothing_when_a_row_exists(store: Store) -> None:
    org = add_org(store)
    table = table_of(InvoiceItem)
    row = mapping.map_invoice(org, ar_invoice("2026-10-03", [10]), ZONES).items[0]
    fresh = (*row[:1], 11, *row[2:])
    with store.begin() as conn:
        assert bulk.add_rows(conn, table, mapping.INVOICE_ITEM_COLUMNS, [row])
        # One new row and one that exists: neither is written, and the transaction goes on.
        assert not bulk.add_rows(conn, table, mapping.INVOICE_ITEM_COLUMNS, [fresh, row])
        assert bulk.add_rows(conn, table, mapping.INVOICE_ITEM_COLUMNS, [fresh])
    assert column(store, "select id from invoice_item order by id") == [10, 11]


def test_postgres_statistics_follow_a_growing_first_sync(store: Store) -> None:
    org = add_org(store)
    records = [
        dict(ar_invoice("2026-10-03", [100_000 + i]), id=1_000 + i, payments=[])
        for i in range(2_500)
    ]
    with Writer(store, org) as writer:
        writer.write("invoices", [invoices_in(org, FIRST, *records)])
    if store.dialect != "postgresql":
        return
    with store.connect() as conn:
        analyzed = conn.execute(
            text(
                # This test's own schema's tables (others run beside it in other schemas).
                "select relname, reltuples from pg_class where oid in "
                "('invoice'::regclass, 'invoice_item'::regclass, 'payment'::regclass)"
            )
        ).all()
    # Statistics were gathered for the tables that took enough rows, not for the others.
    assert dict(analyzed)["invoice"] == 2_500
    assert dict(analyzed)["invoice_item"] == 2_500
    assert dict(analyzed)["payment"] <= 0


def test_rollup_planner_settings_end_with_the_rebuild(store: Store) -> None:
    org = add_org(store)
    with store.begin() as conn:
        rebuild_sales(conn, org, [date(2026, 10, 3)])
        rebuild_appointments(conn, org, [date(2026, 10, 3)])
        if store.dialect == "postgresql":
            # The rest of the sync's transaction plans as usual.
            assert conn.execute(text("show enable_hashjoin")).scalar() == "on"
            assert conn.execute(text("show enable_mergejoin")).scalar() == "on"
