"""`aiq data delete`, `reactivate` and `purge`: the cancellation path, on both databases."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from aiq.audit import entries
from aiq.clock import utcnow
from aiq.config import load_settings
from aiq.errors import UsageError
from aiq.lifecycle.backup import backup_dir, backup_name
from aiq.lifecycle.retention import (
    apply_retention,
    check_org_active,
    delete_org,
    org_tables,
    unaccounted_tables,
)
from aiq.store.alert_models import Alert, AlertDelivery
from aiq.store.db import Store, open_store
from aiq.store.models import metadata, table_of
from aiq.store.orgs import find_any_org
from aiq.store.vault_models import ARLogin, Credential
from tests.export.fixtures import ORG_A, ORG_B, Synced
from tests.helpers import aiq


def _sign_in(store: Store, org_id: int) -> None:
    """Stored credentials and an alert with a delivery, as aiq login and the daemon leave them."""
    now = datetime(2026, 11, 1)
    with store.begin() as conn:
        for name in ("email", "password"):
            conn.execute(
                insert(table_of(Credential)).values(
                    org_id=org_id, name=name, key_id="k1", nonce=b"n" * 12,
                    ciphertext=b"sealed", updated_at=now,
                )
            )  # fmt: skip
        conn.execute(insert(table_of(ARLogin)).values(org_id=org_id, signed_in_at=now))
        alert_id = conn.execute(
            insert(table_of(Alert))
            .values(
                org_id=org_id, fingerprint=f"stale:{org_id}", kind="stale", title="Data is stale",
                details={}, opened_at=now, since=now, last_seen_at=now,
            )
            .returning(table_of(Alert).c.id)
        ).scalar_one()  # fmt: skip
        conn.execute(
            insert(table_of(AlertDelivery)).values(
                alert_id=alert_id, channel="webhook", event="opened", last_attempt_at=now
            )
        )


def org_counts(store: Store, org_id: int) -> dict[str, int]:
    """Rows of ``org_id`` in every table that holds an org's rows (and the org row)."""
    counts: dict[str, int] = {}
    with store.connect() as conn:
        for table in org_tables():
            if "org_id" in table.c:
                q = select(func.count()).select_from(table).where(table.c.org_id == org_id)
            else:
                alert = metadata.tables["alert"]
                owned = select(alert.c.id).where(alert.c.org_id == org_id)
                q = select(func.count()).select_from(table).where(table.c.alert_id.in_(owned))
            counts[table.name] = int(conn.execute(q).scalar_one())
        org = metadata.tables["org"]
        counts["org"] = int(
            conn.execute(select(func.count()).where(org.c.id == org_id)).scalar_one()
        )
    return counts


def test_every_table_is_known_to_purge() -> None:
    assert unaccounted_tables() == []


def test_delete_then_reactivate(
    capsys: pytest.CaptureFixture[str], synced: Synced, synced_store: Store
) -> None:
    store = synced_store
    _sign_in(store, synced.org_a)
    before = org_counts(store, synced.org_a)
    # Without a terminal, the deletion is confirmed by naming the practice.
    r = aiq(capsys, "--db", synced.url, "data", "delete", "--org", ORG_A)
    assert r.code == 2 and "--confirm" in r.err
    r = aiq(capsys, "--db", synced.url, "data", "delete", "--org", ORG_A, "--confirm", "Glow")
    assert r.code == 3
    assert org_counts(store, synced.org_a) == before
    r = aiq(capsys, "--db", synced.url, "data", "delete", "--org", ORG_A, "--confirm", ORG_A)
    assert r.code == 0, r.err
    assert "reactivate" in r.err
    after = org_counts(store, synced.org_a)
    # Credentials are destroyed at once; the business data is kept.
    assert after["credential"] == 0 and after["ar_login"] == 0
    assert {k: v for k, v in after.items() if k not in ("credential", "ar_login")} == {
        k: v for k, v in before.items() if k not in ("credential", "ar_login")
    }
    org = find_any_org(store, ORG_A)
    assert org.deleted and org.status == "deleted" and org.deleted_at is not None
    # Syncs stop: the org is hidden from the commands that sync, and refused by id.
    from aiq.store.orgs import list_orgs

    assert ORG_A not in [o.name for o in list_orgs(store)]
    with store.connect() as conn, pytest.raises(UsageError, match="was deleted"):
        check_org_active(conn, synced.org_a)
    r = aiq(capsys, "--db", synced.url, "data", "status", "--format", "json")
    doc = json.loads(r.out)
    row = next(p for p in doc["practices"] if p["practice"] == ORG_A)
    assert doc["retention_days"] == 30 and row["status"] == "deleted"
    purge_after = datetime.fromisoformat(row["purge_after"])
    assert purge_after - datetime.fromisoformat(row["deleted_at"]) == timedelta(days=30)
    # Deleting twice is an error; a purge now removes nothing (not due).
    r = aiq(capsys, "--db", synced.url, "data", "delete", "--org", ORG_A, "--confirm", ORG_A)
    assert r.code == 2 and "already deleted" in r.err
    r = aiq(capsys, "--db", synced.url, "data", "purge")
    assert r.code == 0 and "Nothing is due" in r.err
    # Reactivation brings the practice back with its data (the owner signs in again).
    r = aiq(capsys, "--db", synced.url, "data", "reactivate", "--org", ORG_A)
    assert r.code == 0, r.err
    assert "aiq login" in r.err
    org = find_any_org(store, ORG_A)
    assert not org.deleted and org.status == "active"
    with store.connect() as conn:
        check_org_active(conn, synced.org_a)
    assert org_counts(store, synced.org_a)["invoice"] == before["invoice"]
    r = aiq(capsys, "--db", synced.url, "data", "reactivate", "--org", ORG_A)
    assert r.code == 2
    actions = [e.action for e in entries(store, org_id=synced.org_a)]
    assert actions == ["data.delete", "data.reactivate"]
    assert all(e.actor for e in entries(store))


def test_purge_removes_every_row_of_the_org_and_nothing_else(
    capsys: pytest.CaptureFixture[str],
    synced: Synced,
    synced_store: Store,
    isolated_dirs: Path,
) -> None:
    store = synced_store
    _sign_in(store, synced.org_a)
    _sign_in(store, synced.org_b)
    a_before, b_before = org_counts(store, synced.org_a), org_counts(store, synced.org_b)
    assert all(a_before[t] > 0 for t in ("invoice", "invoice_item", "alert_delivery", "sync_run"))
    settings = load_settings()
    # Deleted 31 days ago: due. A backup older than 90 days is pruned in the same pass.
    delete_org(store, find_any_org(store, ORG_A), now=utcnow() - timedelta(days=31))
    folder = backup_dir(settings)
    folder.mkdir(parents=True)
    old = folder / backup_name("sqlite", utcnow() - timedelta(days=95))
    young = folder / backup_name("sqlite", utcnow() - timedelta(days=5))
    old.write_bytes(b"x")
    young.write_bytes(b"x")
    r = aiq(capsys, "--db", synced.url, "data", "purge", "--dry-run")
    assert r.code == 0 and f"would purge {ORG_A}" in r.err and old.name in r.err
    kept = org_counts(store, synced.org_a)
    assert kept == {**a_before, "credential": 0, "ar_login": 0}
    r = aiq(capsys, "--db", synced.url, "data", "purge")
    assert r.code == 0, r.err
    assert f"Purged {ORG_A}" in r.err
    assert not old.exists() and young.exists()
    # No row of the org remains in any table; the other org is untouched.
    assert set(org_counts(store, synced.org_a).values()) == {0}
    assert org_counts(store, synced.org_b) == b_before
    # The audit log keeps what was done to the org (and no business data).
    actions = [e.action for e in entries(store, org_id=synced.org_a)]
    assert actions == ["data.delete", "data.purge"]
    purge = entries(store, action="data.purge")[0]
    assert purge.details["rows"] == sum(kept.values())
    assert [e.action for e in entries(store, action="backup.prune")] == ["backup.prune"]
    # A second pass has nothing to do.
    result = apply_retention(store, settings)
    assert result.purged == [] and result.pruned == []


def test_delete_now_purges_after_the_name_is_typed(
    capsys: pytest.CaptureFixture[str], synced_sqlite: Synced, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = synced_sqlite
    synced_store = open_store(synced.url)
    try:
        _delete_now(capsys, synced, synced_store, monkeypatch)
    finally:
        synced_store.dispose()


def _delete_now(
    capsys: pytest.CaptureFixture[str],
    synced: Synced,
    synced_store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    b_before = org_counts(synced_store, synced.org_b)
    r = aiq(capsys, "--db", synced.url, "data", "delete", "--org", ORG_A, "--now")
    assert r.code == 2 and "--confirm" in r.err
    # At a terminal, the name is typed; a wrong one cancels.
    import aiq.commands.data as data_commands

    monkeypatch.setattr(data_commands, "_interactive", lambda: True)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("Other Spa\n"))
    r = aiq(capsys, "--db", synced.url, "data", "delete", "--org", ORG_A, "--now")
    assert r.code == 3 and "did not match" in r.err
    assert org_counts(synced_store, synced.org_a)["invoice"] > 0
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(f"{ORG_A}\n"))
    r = aiq(capsys, "--db", synced.url, "data", "delete", "--org", ORG_A, "--now")
    assert r.code == 0, r.err
    assert "Purged" in r.err
    assert set(org_counts(synced_store, synced.org_a).values()) == {0}
    assert org_counts(synced_store, synced.org_b) == b_before
    assert [e.action for e in entries(synced_store)] == ["data.delete", "data.purge"]
    r = aiq(capsys, "--db", synced.url, "data", "status")
    assert ORG_B in r.out and ORG_A not in r.out
