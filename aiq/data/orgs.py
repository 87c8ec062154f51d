"""Orgs as the data-rights operations see them: deleted ones included, with their currency.

``aiq.store.orgs`` hides deleted orgs from every other command; export, reactivation and purge
still need to find them while their data is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from aiq.errors import UsageError
from aiq.store.db import Store
from aiq.store.models import Org, table_of

org_table = table_of(Org)

ACTIVE = "active"
DELETED = "deleted"


@dataclass(frozen=True)
class OrgRecord:
    """An org row: who it is, its currency, and whether (and when) it was deleted."""

    id: int
    name: str
    currency: str
    status: str
    deleted_at: datetime | None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None or self.status == DELETED


def _record(row: Any) -> OrgRecord:
    return OrgRecord(
        id=int(row.id),
        name=str(row.name),
        currency=str(row.currency or "USD"),
        status=str(row.status),
        deleted_at=row.deleted_at,
    )


def get_org(conn: Connection, org_id: int) -> OrgRecord | None:
    """The org with id ``org_id``, deleted or not."""
    row = conn.execute(select(org_table).where(org_table.c.id == org_id)).first()
    return None if row is None else _record(row)


def all_orgs(store: Store) -> list[OrgRecord]:
    """Every org, deleted ones included, by name."""
    with store.connect() as conn:
        return [_record(r) for r in conn.execute(select(org_table).order_by(org_table.c.name))]


def find_org_record(store: Store, name: str | None, *, deleted: bool | None = None) -> OrgRecord:
    """The org called ``name`` (or the only one), among live, deleted (``deleted=True``) or all.

    The name matches exactly, else case-insensitively when that is unambiguous. Without a name,
    and unless ``deleted`` is True, the only live org is meant.
    """
    orgs = all_orgs(store)
    if deleted is not None:
        orgs = [o for o in orgs if o.deleted == deleted]
    elif name is None:
        orgs = [o for o in orgs if not o.deleted]
    what = {None: "practice", True: "deleted practice", False: "practice"}[deleted]
    if name is None:
        if len(orgs) == 1:
            return orgs[0]
        if not orgs:
            raise UsageError(
                f"there is no {what} in this database", hint="aiq login and aiq sync add one"
            )
        raise UsageError(
            f"the database holds {len(orgs)} practices: {', '.join(o.name for o in orgs)}",
            hint="choose one with --org NAME",
        )
    exact = [o for o in orgs if o.name == name]
    if exact:
        return exact[0]
    folded = [o for o in orgs if o.name.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    known = ", ".join(o.name for o in orgs)
    raise UsageError(
        f"there is no {what} called {name!r}", hint=f"known: {known}" if known else None
    )
