"""Sync behaviour beyond equality with the truth: PHI, locks, dry runs, bad records, the run log."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from aiq.ar.client import ARClient
from aiq.config import SyncSettings
from aiq.errors import Locked
from aiq.sandbox.server import RunningSandbox
from aiq.store.db import Store
from aiq.store.locks import SyncLock
from aiq.store.models import (
    Appointment,
    SyncRun,
    SyncRunStream,
    SyncStreamState,
    metadata,
    table_of,
)
from aiq.sync.engine import SyncEngine, SyncOptions, SyncReport
from tests.phi import find_phi
from tests.sync.conftest import RECENT, SyncedOrg, SyncFn


def dump_database(store: Store) -> bytes:
    """Every byte the database holds: the SQLite files, or every table as text from Postgres."""
    if store.dialect == "sqlite":
        from pathlib import Path

        db = Path(str(store.engine.url.database))
        store.dispose()
        return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*") if p.is_file())
    out = []
    with store.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                out.append(repr(tuple(row)))
    return "\n".join(out).encode()


def test_no_patient_data_reaches_the_database(
    synced_org: SyncedOrg, served: RunningSandbox
) -> None:
    data = dump_database(synced_org.store)  # after a first sync of the whole sandbox
    assert len(data) > 100_000
    assert find_phi(data, served.sandbox) == []
    # The scan does find patient data where it is (the sandbox's own answer).
    sample = json.dumps(served.sandbox.truth()["invoices"][:3]).encode()
    assert find_phi(sample, served.sandbox)


def test_run_log_records_each_run_and_stream(synced_org: SyncedOrg, served: RunningSandbox) -> None:
    synced_org.sync(served)  # the second run: the first is in the copy
    with synced_org.store.connect() as conn:
        runs = (
            conn.execute(select(table_of(SyncRun)).order_by(table_of(SyncRun).c.id))
            .mappings()
            .all()
        )
        streams = conn.execute(select(table_of(SyncRunStream))).mappings().all()
    assert [r["status"] for r in runs] == ["ok", "ok"]
    assert runs[0]["rows_inserted"] > 0 and runs[1]["rows_inserted"] == 0
    assert all(r["ended_at"] >= r["started_at"] and r["requests"] > 0 for r in runs)
    assert {s["stream"] for s in streams if s["run_id"] == runs[0]["id"]} >= {
        "appointments",
        "invoices",
        "clinics",
    }


def test_dry_run_writes_nothing(
    store: Store, org_id: int, served: RunningSandbox, run_sync: SyncFn
) -> None:
    report = run_sync(served, dry_run=True, since=RECENT)
    assert report.dry_run and report.totals().inserted > 0
    with store.connect() as conn:
        for table in ("appointment", "invoice", "sync_run", "sync_window", "clinic"):
            assert conn.execute(text(f"select count(*) from {table}")).scalar_one() == 0


def test_second_sync_of_the_same_org_is_locked_out(
    store: Store, org_id: int, served: RunningSandbox, run_sync: SyncFn
) -> None:
    with SyncLock(store, org_id):
        with pytest.raises(Locked, match="another sync of this practice is running") as info:
            run_sync(served)
        assert info.value.exit_code == 5
        assert "pid" in str(info.value) or "aiq sync" in str(info.value)
    # Once released, it runs.
    assert run_sync(served, since=RECENT).status == "ok"


def test_lock_waits_when_asked(store: Store, org_id: int) -> None:
    holder = SyncLock(store, org_id)
    released = threading.Event()
    holder.acquire()
    try:
        # Not asked to wait: refused at once. Asked to wait a little: refused after the wait.
        with pytest.raises(Locked):
            SyncLock(store, org_id).acquire()
        began = time.monotonic()
        with pytest.raises(Locked):
            SyncLock(store, org_id, wait_seconds=0.3).acquire()
        assert time.monotonic() - began >= 0.3
        # Asked to wait long enough: it waits for the holder, however long that takes.
        got: list[bool] = []

        def waiter() -> None:
            with SyncLock(store, org_id, wait_seconds=120):
                got.append(released.is_set())

        thread = threading.Thread(target=waiter)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive() and got == [], "the waiter did not wait for the lock"
    finally:
        released.set()
        holder.release()
    thread.join(120)
    assert got == [True], "the waiter took the lock before it was released"


def _fake_ar(records: dict[str, list[dict[str, Any]]]) -> httpx.MockTransport:
    """A tiny AR for corner cases the sandbox does not produce (bad records, new fields)."""

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/login":
            return httpx.Response(
                200,
                json={
                    "status": 200,
                    "data": {
                        "token": "t",
                        "expires_in": 3600,
                        "account": {"id": 1, "name": "X"},
                        "user": {"id": 1, "role": "admin"},
                    },
                },
            )
        key = {
            "/api/clinics": "clinics",
            "/api/appointment": "appointments",
            "/api/sales/invoices": "invoices",
        }.get(path)
        recs: list[dict[str, Any]] = records.get(key or "", [])
        if key in ("appointments", "invoices"):
            body = json.loads(request.content)
            lo, hi = (
                body.get("start") or body.get("fromDate"),
                body.get("end") or body.get("toDate"),
            )
            field = "start" if key == "appointments" else "created_at"
            # An entry that is not a record is served in the window of 2026-11-02.
            recs = [
                r
                for r in recs
                if lo <= (str(r.get(field, ""))[:10] if isinstance(r, dict) else "2026-11-02") <= hi
            ]
        return httpx.Response(
            200,
            json={
                "status": 200,
                "data": {
                    "current_page": 1,
                    "last_page": 1,
                    "per_page": 100,
                    "total": len(recs),
                    "data": recs,
                },
            },
        )

    return httpx.MockTransport(handler)


def _sync_appointments(
    store: Store, org_id: int, clinics: list[Any], appointments: list[Any]
) -> SyncReport:
    """Sync the appointments of November 2026 from a fake AR serving these records."""
    transport = _fake_ar({"clinics": clinics, "appointments": appointments})
    with ARClient("http://ar.test", email="e", password="p", transport=transport) as client:
        return SyncEngine(
            store,
            client,
            org_id,
            SyncSettings(concurrency=2),
            SyncOptions(
                today=dt.date(2026, 11, 26), since=dt.date(2026, 11, 1), streams=("appointments",)
            ),
        ).run()


CLINIC = {"id": 1, "name": "Main", "timezone": "America/New_York", "is_active": True}


def _appointment(rid: Any, **fields: Any) -> dict[str, Any]:
    """A completed appointment at CLINIC on 2026-11-02, with ``fields`` changed or added."""
    base = {
        "id": rid,
        "clinic_id": 1,
        "provider_id": 2,
        "kind": "in_person",
        "status": "completed",
        "start": "2026-11-02 10:00:00",
        "end": "2026-11-02 11:00:00",
    }
    return {**base, **fields}


def test_bad_record_is_skipped_and_new_fields_reported(store: Store, org_id: int) -> None:
    good = {
        **_appointment(10),
        "loyalty_tier": "gold",
        "patient": {"firstname": "Zed"},
        "notes": "PHI-NOTE",
    }
    bad = {
        "id": 11,
        "clinic_id": 1,
        "kind": "in_person",
        "start": "2026-11-03 10:00:00",
        "end": "2026-11-03 11:00:00",
    }  # no status
    report = _sync_appointments(store, org_id, [CLINIC], [good, bad])
    assert report.status == "partial"
    appts = next(s for s in report.streams if s.stream == "appointments")
    assert appts.skipped == 1 and appts.inserted == 1
    assert appts.error == "appointments record 11: required field 'status' is missing"
    assert report.new_fields == {"appointments": ["loyalty_tier"]}
    with store.connect() as conn:
        run = conn.execute(select(table_of(SyncRun))).mappings().one()
    assert run["status"] == "partial" and "record 11" in (run["error"] or "")
    assert "gold" not in repr(report)


PATIENT = "someone@patient.example"


def test_enumerated_fields_keep_only_ar_s_values_and_ids_must_fit(
    store: Store, org_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Text typed where AR has a fixed set of values is never stored; a huge id is one skip."""
    appt = _appointment
    appointments: list[Any] = [
        appt(10),  # good
        appt(11, status="Jane Roe"),  # a status that is a person: unusable, skipped
        appt(12, kind=PATIENT, booked_via="Jane Roe"),  # kept, as "other"
        appt(13, provider_id=2**70),  # a reference the database cannot hold
        appt(2**63),  # an id it cannot hold (AR's pages are in id order)
    ]
    caplog.set_level("DEBUG")
    report = _sync_appointments(store, org_id, [CLINIC], appointments)
    appts = next(s for s in report.streams if s.stream == "appointments")
    assert report.status == "partial" and appts.inserted == 2 and appts.skipped == 3, appts
    assert (
        "appointments record 11: required field 'status' is not one of the values AR documents"
        in caplog.text
    )
    with store.connect() as conn:
        rows = conn.execute(
            select(table_of(Appointment).c.id, table_of(Appointment).c.kind,
                   table_of(Appointment).c.booked_via).order_by(table_of(Appointment).c.id)
        ).all()  # fmt: skip
        runs = [dict(r) for r in conn.execute(select(table_of(SyncRunStream))).mappings()]
    assert [tuple(r) for r in rows] == [(10, "in_person", None), (12, "other", "other")]
    everything = repr((report, rows, runs)) + caplog.text
    assert "Jane Roe" not in everything and "patient.example" not in everything


def test_hostile_records_are_skipped_one_by_one_and_never_quoted(
    store: Store, org_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    """Whatever shape a record has, it is one skipped record; no message quotes a value."""
    appt = _appointment
    appointments: list[Any] = [
        appt(10),  # good
        appt(PATIENT),  # an id that is patient data
        None,  # a null entry in data
        [PATIENT],  # an entry that is not an object
        appt(12, services=PATIENT),  # services that are not a list
        appt(13, services=[PATIENT]),  # a nested entry of the wrong type
        appt(14, end=PATIENT),  # a timestamp that is patient data
        appt(15, **{PATIENT: "x"}),  # an unknown field whose name is patient data
    ]
    caplog.set_level("DEBUG")
    report = _sync_appointments(store, org_id, [CLINIC], appointments)
    assert report.status == "partial"
    appts = next(s for s in report.streams if s.stream == "appointments")
    assert appts.inserted == 2 and appts.skipped == 6, appts  # 10 and 15 are fine records
    with store.connect() as conn:
        runs = [dict(r) for r in conn.execute(select(table_of(SyncRun))).mappings()]
        streams = [dict(r) for r in conn.execute(select(table_of(SyncRunStream))).mappings()]
        states = [dict(r) for r in conn.execute(select(table_of(SyncStreamState))).mappings()]
    everything = repr((report, runs, streams, states)) + caplog.text
    assert PATIENT not in everything and "patient.example" not in everything
    assert "appointments record 12: field 'services' is not usable (a text of 23 characters)" in (
        caplog.text
    )
    assert "appointments: an entry that is not a record (null)" in caplog.text
    assert "appointments record (a text of 23 characters as its id)" in caplog.text
    assert "appointments record 14: field 'end' is not usable (a text of 23 characters)" in (
        caplog.text
    )
    assert report.new_fields == {
        "appointments": ["(1 field(s) whose names are not identifiers, not shown)"]
    }


def test_a_run_that_keeps_failing_stops_and_is_logged_as_failed(
    store: Store, org_id: int, fresh_served: RunningSandbox, run_sync: SyncFn
) -> None:
    from aiq.errors import UpstreamUnavailable
    from aiq.store.models import SyncStreamState
    from tests.sync.conftest import make_client

    sb = fresh_served.sandbox
    sb.faults.set("503", rate=1.0, endpoints=frozenset({"invoices"}))
    client = make_client(fresh_served.base_url, max_retries=2)
    with pytest.raises(UpstreamUnavailable, match="after 3 attempts"):
        run_sync(fresh_served, client=client, since=RECENT)
    client.close()
    with store.connect() as conn:
        run = conn.execute(select(table_of(SyncRun))).mappings().one()
        states = {
            r["stream"]: r["consecutive_failures"]
            for r in conn.execute(select(table_of(SyncStreamState))).mappings()
        }
    assert run["status"] == "failed" and "did not answer" in run["error"]
    assert states["invoices"] == 1 and states["clinics"] == 0
    # Appointment windows written before the failure are kept; the next run finishes the job.
    sb.faults.clear()
    assert run_sync(fresh_served, since=RECENT).status == "ok"
    with store.connect() as conn:
        assert conn.execute(text("select count(*) from invoice")).scalar_one() > 0
