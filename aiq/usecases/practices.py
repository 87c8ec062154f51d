"""The practices a database holds: adding and removing them, deleting one with its data (kept
for the retention period, then purged), undoing a deletion, and the daily retention pass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select

from aiq import audit
from aiq.clock import utcnow
from aiq.errors import Cancelled, UsageError
from aiq.roles import Action, require
from aiq.store.models import Org, table_of
from aiq.store.orgs import OrgRef, all_orgs, create_org, find_any_org, find_org
from aiq.store.team_models import OrgMember

if TYPE_CHECKING:
    from aiq.config import Settings
    from aiq.lifecycle.retention import DeleteResult, PurgeResult, RetentionResult
    from aiq.store.db import Store

member_table = table_of(OrgMember)
org_table = table_of(Org)

Confirm = Callable[[OrgRef], bool]
"""Asked before anything is removed; False cancels (nothing is changed)."""


def delete_practice(
    store: Store, settings: Settings, org_name: str | None, *, confirm: Confirm
) -> DeleteResult:
    """Delete a practice: its AR sign-in is destroyed and syncs stop now; its data is kept
    ``[data] retention_days`` (``reactivate_practice`` undoes it until then), then purged."""
    from aiq.lifecycle.retention import delete_org

    org = find_any_org(store, org_name)
    require(store, org.id, Action.DELETE_DATA, org_name=org.name)
    if org.deleted:
        raise UsageError(
            f"the practice {org.name!r} is already deleted",
            hint="pass --now to purge it at once, or aiq data reactivate to undo",
        )
    if not confirm(org):
        raise Cancelled("nothing was changed")
    return delete_org(store, org, retention_days=settings.data.retention_days)


def purge_practice(
    store: Store, settings: Settings, org_name: str | None, *, confirm: Confirm
) -> PurgeResult:
    """Delete a practice (if it is not yet) and purge every row of it now."""
    from aiq.lifecycle.retention import delete_org, purge_org

    org = find_any_org(store, org_name)
    require(store, org.id, Action.DELETE_DATA, org_name=org.name)
    if not confirm(org):
        raise Cancelled("nothing was changed")
    if not org.deleted:
        delete_org(store, org, retention_days=settings.data.retention_days)
    return purge_org(store, find_any_org(store, org.name), reason="deleted --now")


def reactivate_practice(store: Store, org_name: str) -> OrgRef:
    """Undo a deletion while the data is kept; the practice then needs a new sign-in."""
    from aiq.lifecycle.retention import reactivate_org

    org = find_any_org(store, org_name, deleted=True)
    require(store, org.id, Action.DELETE_DATA, org_name=org.name)
    return reactivate_org(store, org)


@dataclass(frozen=True)
class DueNow:
    """What a retention pass would remove now."""

    practices: list[OrgRef]
    backups: list[Path]


def retention_due(store: Store, settings: Settings) -> DueNow:
    """The deleted practices and old backups the retention pass would remove now."""
    from aiq.lifecycle.backup import backup_time, list_backups
    from aiq.lifecycle.retention import due_orgs

    require(store, None, Action.DELETE_DATA)
    cutoff = utcnow() - timedelta(days=settings.data.backup_keep_days)
    old = [p for p in list_backups(settings) if (backup_time(p) or cutoff) < cutoff]
    return DueNow(due_orgs(store, settings.data.retention_days), old)


def apply_retention(store: Store, settings: Settings) -> RetentionResult:
    """The retention pass (daily, from the daemon or cron): purge deleted practices whose
    retention is over, and prune backups older than theirs."""
    from aiq.lifecycle import retention

    require(store, None, Action.DELETE_DATA)
    return retention.apply_retention(store, settings)


@dataclass(frozen=True)
class PracticeState:
    """A practice, its state, and when a deleted one's data is purged."""

    org: OrgRef
    state: str
    purge_after: datetime | None


def practice_states(store: Store, settings: Settings) -> list[PracticeState]:
    """Every practice, deleted ones included, by name."""
    days = settings.data.retention_days
    return [
        PracticeState(
            o,
            "deleted" if o.deleted else o.status,
            o.deleted_at + timedelta(days=days) if o.deleted_at else None,
        )
        for o in all_orgs(store)
    ]


def add_practice(store: Store, name: str) -> OrgRef:
    """A new practice with no AR sign-in yet (``aiq login --org NAME`` signs it in)."""
    require(store, None, Action.MANAGE_ORGS)
    name = name.strip()
    if not name:
        raise UsageError("the practice's name is empty")
    with store.begin() as conn:
        if find_org(conn, name) is not None:
            raise UsageError(f"there is already a practice called {name!r}")
        org = create_org(conn, name)
        audit.record(conn, "org.add", org_id=org.id, target=name)
    return org


def _org_rows(store: Store, org_id: int) -> int:
    """How many rows of an org's data the database holds (every org table)."""
    from aiq.lifecycle.retention import org_tables

    total = 0
    with store.connect() as conn:
        for table in org_tables():
            if "org_id" not in table.c or table.name == "org_member":
                continue
            total += int(
                conn.execute(
                    select(func.count()).select_from(table).where(table.c.org_id == org_id)
                ).scalar_one()
            )
    return total


def remove_practice(store: Store, org: OrgRef) -> None:
    """Remove a practice that holds no data; one with data goes through ``aiq data delete``."""
    require(store, None, Action.MANAGE_ORGS)
    n = _org_rows(store, org.id)
    if n:
        raise UsageError(
            f"{org.name} holds {n:,} rows of data (and maybe an AR sign-in)",
            hint=f"aiq data delete --org {org.name!r} deletes it with its data",
        )
    with store.begin() as conn:
        conn.execute(delete(member_table).where(member_table.c.org_id == org.id))
        conn.execute(delete(org_table).where(org_table.c.id == org.id))
        audit.record(conn, "org.remove", org_id=org.id, target=org.name)
