"""The audit log: who did what to which practice's data, append-only.

Exports, backups, restores, deletions, reactivations and purges are each recorded as one row of
``audit_log`` (the teams issue adds a hash chain and more actions on the same table). The actor is
the operating-system user on SQLite and the database role (``current_user``) on Postgres, where
many people share one database. Details are small JSON documents with no business data and never a
secret: every string passes through the secret scrubber before it is written.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, text

from aiq.store.models import AuditLog, table_of

if TYPE_CHECKING:
    from aiq.store.db import Store

audit_table = table_of(AuditLog)


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log."""

    id: int
    at: datetime
    actor: str
    org_id: int | None
    action: str
    target: str | None
    details: dict[str, Any]


def os_user() -> str:
    """The operating-system user running aiq (the uid when it has no name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def current_actor(conn: Connection) -> str:
    """Who is acting: the database role on Postgres, the OS user on SQLite."""
    if conn.dialect.name == "postgresql":
        return str(conn.execute(text("select current_user")).scalar_one())
    return os_user()


def _clean(details: dict[str, Any] | None) -> dict[str, Any]:
    from aiq.vault.redact import scrub

    return dict(scrub(dict(details or {})))


def record(
    db: Store | Connection,
    action: str,
    *,
    org_id: int | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    actor: str | None = None,
) -> None:
    """Append one entry to the audit log.

    ``db`` is a connection (the entry joins its transaction, so it commits or rolls back with the
    operation it records) or a store (the entry is written in a transaction of its own).
    """
    if not isinstance(db, Connection):
        with db.begin() as conn:
            record(conn, action, org_id=org_id, target=target, details=details, actor=actor)
        return
    db.execute(
        insert(audit_table).values(
            at=datetime.now(UTC).replace(tzinfo=None),
            actor=(actor or current_actor(db))[:200],
            org_id=org_id,
            action=action[:64],
            target=target,
            details=_clean(details),
        )
    )


def entries(
    store: Store, *, org_id: int | None = None, action: str | None = None
) -> list[AuditEntry]:
    """The audit log, oldest first, optionally for one org or one action."""
    query = select(audit_table).order_by(audit_table.c.id)
    if org_id is not None:
        query = query.where(audit_table.c.org_id == org_id)
    if action is not None:
        query = query.where(audit_table.c.action == action)
    with store.connect() as conn:
        return [
            AuditEntry(
                id=int(r.id),
                at=r.at,
                actor=str(r.actor),
                org_id=None if r.org_id is None else int(r.org_id),
                action=str(r.action),
                target=r.target,
                details=dict(r.details or {}),
            )
            for r in conn.execute(query)
        ]
