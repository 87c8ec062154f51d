"""Deletion, reactivation and purge of a practice's data: the cancellation path.

    delete_org      credentials destroyed at once, the org marked deleted: no more syncs; its
                    business data is kept for ``retention_days`` (30 by default)
    reactivate_org  undoes a deletion while the data is kept (the owner signs in again)
    purge_org       removes every row of the org from every table, then the org row itself
    purge_due       purges each deleted org whose retention has run out (the daemon, daily)
    apply_retention purge_due, then prune backups older than the backup retention

Only the audit log keeps rows about a purged org (its id, what was done, by whom, when): they hold
no business data. Every table with an ``org_id`` column is purged, and so is every table reached
from one (``INDIRECT``); a test checks that no table of the schema escapes both lists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Table, delete, select, update

from aiq.audit import record
from aiq.clock import utcnow
from aiq.errors import UsageError
from aiq.store.db import Store
from aiq.store.models import metadata, table_of
from aiq.store.orgs import ACTIVE, DELETED, OrgRef, get_org, org_table
from aiq.store.vault_models import ARLogin, Credential

if TYPE_CHECKING:
    from aiq.config import Settings

log = logging.getLogger(__name__)

INDIRECT: dict[str, tuple[str, str, str]] = {
    "alert_delivery": ("alert_id", "alert", "id"),
}
"""Tables without ``org_id`` whose rows belong to an org through a parent: (column, parent, key)."""

GLOBAL_TABLES = frozenset({"org", "audit_log", "vault_key"})
"""Tables that are not an org's data: the orgs themselves, the audit log, the key registry."""

DEFAULT_RETENTION_DAYS = 30
PURGE_LOCK_WAIT_SECONDS = 120.0


def org_tables() -> list[Table]:
    """Every table holding an org's rows, children before parents (the order to delete in)."""
    return [
        t
        for t in reversed(metadata.sorted_tables)
        if t.name not in GLOBAL_TABLES and ("org_id" in t.c or t.name in INDIRECT)
    ]


def unaccounted_tables() -> list[str]:
    """Tables a purge would not know what to do with (should always be empty)."""
    known = {t.name for t in org_tables()} | GLOBAL_TABLES
    return sorted(t.name for t in metadata.sorted_tables if t.name not in known)


@dataclass(frozen=True)
class DeleteResult:
    """A deletion: when, until when the data is kept, how many sign-ins were destroyed."""

    org: OrgRef
    deleted_at: datetime
    purge_after: datetime
    credentials_removed: int


@dataclass
class PurgeResult:
    """A purge: the org and the rows removed per table."""

    org_id: int
    org_name: str
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


@dataclass
class RetentionResult:
    """What one retention pass did: orgs purged and backup files pruned."""

    purged: list[PurgeResult]
    pruned: list[Path]


def delete_org(
    store: Store,
    org: OrgRef,
    *,
    retention_days: int = DEFAULT_RETENTION_DAYS,
    now: datetime | None = None,
) -> DeleteResult:
    """Destroy the org's credentials and mark it deleted; its data is kept ``retention_days``."""
    if org.deleted:
        raise UsageError(
            f"the practice {org.name!r} is already deleted",
            hint="aiq data reactivate undoes it; aiq data purge removes due data",
        )
    when = now or utcnow()
    purge_after = when + timedelta(days=retention_days)
    cred = table_of(Credential)
    login = table_of(ARLogin)
    with store.begin() as conn:
        removed = conn.execute(delete(cred).where(cred.c.org_id == org.id)).rowcount or 0
        conn.execute(delete(login).where(login.c.org_id == org.id))
        conn.execute(
            update(org_table)
            .where(org_table.c.id == org.id)
            .values(status=DELETED, deleted_at=when)
        )
        record(
            conn,
            "data.delete",
            org_id=org.id,
            target=org.name,
            details={
                "retention_days": retention_days,
                "purge_after": purge_after.isoformat(timespec="seconds"),
                "credential_fields_destroyed": removed,
            },
        )
    return DeleteResult(org, when, purge_after, removed)


def reactivate_org(store: Store, org: OrgRef) -> OrgRef:
    """Undo a deletion while the data is still kept. The owner must sign in again."""
    if not org.deleted:
        raise UsageError(f"the practice {org.name!r} is not deleted")
    with store.begin() as conn:
        conn.execute(
            update(org_table).where(org_table.c.id == org.id).values(status=ACTIVE, deleted_at=None)
        )
        record(
            conn,
            "data.reactivate",
            org_id=org.id,
            target=org.name,
            details={"deleted_at": org.deleted_at.isoformat() if org.deleted_at else None},
        )
        fresh = get_org(conn, org.id)
    assert fresh is not None
    return fresh


def _purge_rows(conn: Connection, org_id: int) -> dict[str, int]:
    rows: dict[str, int] = {}
    for table in org_tables():
        if table.name in INDIRECT:
            column, parent_name, key = INDIRECT[table.name]
            parent = metadata.tables[parent_name]
            owned = select(parent.c[key]).where(parent.c.org_id == org_id)
            res = conn.execute(delete(table).where(table.c[column].in_(owned)))
        else:
            res = conn.execute(delete(table).where(table.c.org_id == org_id))
        rows[table.name] = int(res.rowcount or 0)
    rows["org"] = int(conn.execute(delete(org_table).where(org_table.c.id == org_id)).rowcount or 0)
    return rows


def _compact_sqlite(store: Store) -> None:
    """Rebuild the SQLite file so purged rows do not linger in free pages or the WAL."""
    raw = store.engine.raw_connection()
    try:
        driver = raw.driver_connection
        assert driver is not None
        driver.execute("VACUUM")
        driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()


def purge_org(
    store: Store,
    org: OrgRef,
    *,
    reason: str = "retention",
    wait_seconds: float = PURGE_LOCK_WAIT_SECONDS,
    compact: bool = True,
) -> PurgeResult:
    """Remove every row of ``org`` from every table, and the org itself, in one transaction.

    The org's sync lock is held meanwhile, so a sync still running cannot write rows back.
    """
    from aiq.store.locks import SyncLock

    with SyncLock(store, org.id, wait_seconds=wait_seconds), store.begin() as conn:
        rows = _purge_rows(conn, org.id)
        record(
            conn,
            "data.purge",
            org_id=org.id,
            target=org.name,
            details={"reason": reason, "rows": sum(rows.values())},
        )
    if compact and store.dialect == "sqlite":
        _compact_sqlite(store)
    log.info("purged org %s: %s rows", org.id, sum(rows.values()))
    return PurgeResult(org.id, org.name, rows)


def due_orgs(store: Store, retention_days: int, now: datetime | None = None) -> list[OrgRef]:
    """Deleted orgs whose data has been kept ``retention_days`` already."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    with store.connect() as conn:
        ids = [
            int(r[0])
            for r in conn.execute(
                select(org_table.c.id)
                .where(org_table.c.deleted_at.is_not(None), org_table.c.deleted_at <= cutoff)
                .order_by(org_table.c.id)
            )
        ]
        return [o for o in (get_org(conn, i) for i in ids) if o is not None]


def purge_due(store: Store, settings: Settings, now: datetime | None = None) -> list[PurgeResult]:
    """Purge every deleted org whose retention has run out."""
    days = settings.data.retention_days
    results = [
        purge_org(store, org, reason=f"retention of {days} days over", compact=False)
        for org in due_orgs(store, days, now)
    ]
    if results and store.dialect == "sqlite":
        _compact_sqlite(store)
    return results


def apply_retention(
    store: Store, settings: Settings, now: datetime | None = None
) -> RetentionResult:
    """The daily retention pass: purge due orgs, then prune backups older than their retention."""
    from aiq.lifecycle.backup import prune_backups

    purged = purge_due(store, settings, now)
    pruned = prune_backups(settings, now=now, store=store)
    return RetentionResult(purged, pruned)


def check_org_active(conn: Connection, org_id: int) -> None:
    """Refuse to sync a deleted org (the sync command and engine call this)."""
    org = get_org(conn, org_id)
    if org is not None and org.deleted:
        raise UsageError(
            f"the practice {org.name!r} was deleted; it is no longer synced",
            hint=f"aiq data reactivate --org {org.name!r} undoes the deletion until it is purged",
        )
