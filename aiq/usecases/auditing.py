"""Reading the audit log and checking that nobody edited it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiq.roles import Action, require
from aiq.store.orgs import resolve_org

if TYPE_CHECKING:
    from aiq.audit import AuditEntry, VerifyResult
    from aiq.store.db import Store


def audit_entries(
    store: Store, org_name: str | None = None, action: str | None = None
) -> list[AuditEntry]:
    """The audit log, oldest first: of one practice (``org_name``) or all, one action or all."""
    from aiq.audit import entries

    org_id = None
    if org_name is not None:
        target = resolve_org(store, org_name)
        require(store, target.id, Action.READ_AUDIT, org_name=target.name)
        org_id = target.id
    else:
        require(store, None, Action.READ_AUDIT)
    return entries(store, org_id=org_id, action=action)


def verify_audit(store: Store) -> VerifyResult:
    """Recompute the hash chain; the result names the first edited or orphaned row.

    On Postgres anyone who can read the log may check it (row-level security shows each role its
    own practices' rows); on SQLite it takes the READ_AUDIT permission.
    """
    from aiq.audit import verify

    if store.dialect == "sqlite":
        require(store, None, Action.READ_AUDIT)
    return verify(store)
