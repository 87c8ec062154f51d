"""The other detectors: failed syncs, stale data, upstream fields that appeared or vanished."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert, update

from aiq.alerts import detect
from aiq.store.db import Store
from aiq.store.models import SyncRun, SyncRunStream, SyncStreamState, table_of

NOW = datetime(2026, 11, 26, 12, 0)
INTERVAL = timedelta(minutes=30)


def _state(store: Store, org_id: int, stream: str, **values: object) -> None:
    t = table_of(SyncStreamState)
    with store.begin() as conn:
        conn.execute(
            insert(t).values(
                **{"consecutive_failures": 0, "known_fields": []}
                | values
                | {"org_id": org_id, "stream": stream}
            )
        )


def test_failed_syncs_open_an_alert_at_the_threshold(store: Store, org_id: int) -> None:
    _state(store, org_id, "invoices", consecutive_failures=2)
    assert detect.sync_failures(store, org_id, 3).found == []
    t = table_of(SyncStreamState)
    with store.begin() as conn:
        conn.execute(update(t).values(consecutive_failures=3))
        conn.execute(
            insert(table_of(SyncRun)).values(
                org_id=org_id,
                started_at=NOW,
                status="failed",
                mode="incremental",
                error="the stored credentials are refused (run aiq login)",
            )
        )
    (f,) = detect.sync_failures(store, org_id, 3).found
    assert f.fingerprint == f"sync_failed:{org_id}"
    assert "aiq login" in f.action and "3" in f.how_far
    # Failures before a run could start (no master key) count too.
    (g,) = detect.sync_failures(
        store, org_id, 3, daemon_failures=5, daemon_error="no master key was found"
    ).found
    assert g.facts["failures"] == 5 and "master key" in g.action


def test_data_goes_delayed_then_stale_against_the_schedule(store: Store, org_id: int) -> None:
    _state(store, org_id, "clinics", last_success_at=NOW - timedelta(minutes=10))
    _state(store, org_id, "invoices", last_success_at=NOW - timedelta(minutes=45))
    assert detect.freshness_level(timedelta(minutes=45), INTERVAL) == "delayed"
    assert detect.freshness(store, org_id, INTERVAL, "stale", now=NOW).found == []
    (delayed,) = detect.freshness(store, org_id, INTERVAL, "delayed", now=NOW).found
    assert delayed.facts["level"] == "delayed" and delayed.facts["stream"] == "invoices"
    (stale,) = detect.freshness(store, org_id, INTERVAL, "stale", now=NOW + INTERVAL).found
    assert stale.severity == "critical" and "stale" in stale.title
    assert detect.freshness(store, org_id, INTERVAL, now=NOW - timedelta(minutes=30)).found == []


def test_upstream_fields_that_appear_or_vanish(store: Store, org_id: int) -> None:
    _state(store, org_id, "invoices", known_fields=["loyalty_points"], last_success_at=NOW)
    with store.begin() as conn:
        conn.execute(
            insert(table_of(SyncRunStream)).values(
                run_id=1,
                stream="appointments",
                org_id=org_id,
                started_at=NOW,
                status="partial",
                rows_skipped=12,
                error="appointments record 77: required field 'clinic_id' is missing",
            )
        )
    found = {f.fingerprint: f for f in detect.schema_changes(store, org_id).found}
    assert set(found) == {
        f"schema_change:{org_id}:invoices:+loyalty_points",
        f"schema_change:{org_id}:appointments:-clinic_id",
    }
    vanished = found[f"schema_change:{org_id}:appointments:-clinic_id"]
    assert "12" in vanished.how_far and vanished.facts["change"] == "vanished"
