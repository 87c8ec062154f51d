"""Orgs (practices, one per AR account): the one model of a practice, found and created here.

``resolve_org`` is what every command taking ``--org`` calls: with a name, that org; without one,
the only org there is; several orgs and no name is a usage error that lists them; none at all means
nobody has signed in yet (exit 4, "run aiq login"). Deleted orgs are hidden from it; the
data-rights operations (export, reactivation, purge) find them with ``find_any_org``, which
sees deleted orgs while their data is kept.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from aiq.clock import utcnow
from aiq.errors import AuthRequired, Conflict, UsageError
from aiq.store.db import Store
from aiq.store.models import Org, table_of

_org = org_table = table_of(Org)

ACTIVE = "active"
DELETED = "deleted"


@dataclass(frozen=True)
class OrgRef:
    """A practice: its name, its AR account, its currency, and whether it was deleted."""

    id: int
    name: str
    ar_account_id: int | None
    ar_base_url: str
    status: str
    currency: str = "USD"
    deleted_at: datetime | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None or self.status == DELETED


def _ref(row: Any) -> OrgRef:
    return OrgRef(
        id=int(row.id),
        name=str(row.name),
        ar_account_id=None if row.ar_account_id is None else int(row.ar_account_id),
        ar_base_url=str(row.ar_base_url or ""),
        status=str(row.status),
        currency=str(row.currency or "USD"),
        deleted_at=row.deleted_at,
    )


def _live() -> Any:
    return select(_org).where(_org.c.deleted_at.is_(None))


def list_orgs(store: Store) -> list[OrgRef]:
    """Every org that has not been deleted, by name."""
    with store.connect() as conn:
        return [_ref(r) for r in conn.execute(_live().order_by(_org.c.name))]


def find_org(conn: Connection, name: str) -> OrgRef | None:
    """The org called ``name`` (exactly, else case-insensitively when that is unambiguous)."""
    row = conn.execute(_live().where(_org.c.name == name)).first()
    if row is not None:
        return _ref(row)
    rows = conn.execute(_live().where(func.lower(_org.c.name) == name.lower())).all()
    return _ref(rows[0]) if len(rows) == 1 else None


def find_org_by_account(conn: Connection, account_id: int, base_url: str) -> OrgRef | None:
    """The org already recorded for AR account ``account_id`` at ``base_url``."""
    row = conn.execute(
        _live()
        .where(_org.c.ar_account_id == account_id, _org.c.ar_base_url == base_url)
        .order_by(_org.c.id)
    ).first()
    return None if row is None else _ref(row)


def refuse_if_deleted(conn: Connection, name: str) -> None:
    """Raise a clear error when ``name`` is a practice deleted within its retention period."""
    gone = conn.execute(
        select(_org).where(_org.c.deleted_at.is_not(None), func.lower(_org.c.name) == name.lower())
    ).first()
    if gone is not None:
        raise UsageError(
            f"the practice {gone.name!r} was deleted on {gone.deleted_at:%Y-%m-%d}",
            hint=f"aiq data reactivate --org {gone.name!r} first, or pick another name with --org",
        )


def resolve_org(store: Store, name: str | None) -> OrgRef:
    """The org a command acts on: ``name``, or the only org; errors say what to do otherwise."""
    with store.connect() as conn:
        if name is not None:
            org = find_org(conn, name)
            if org is not None:
                return org
            refuse_if_deleted(conn, name)
            names = [r.name for r in conn.execute(_live().order_by(_org.c.name))]
            if not names:
                raise AuthRequired(f"there is no practice called {name!r}", hint="run aiq login")
            from aiq.names import unknown_name_hint

            raise UsageError(
                f"there is no practice called {name!r}", hint=unknown_name_hint(name, names)
            )
        orgs = [_ref(r) for r in conn.execute(_live().order_by(_org.c.name))]
    if not orgs:
        raise AuthRequired("nobody has signed in to AR yet", hint="run aiq login")
    if len(orgs) > 1:
        raise UsageError(
            f"the database holds {len(orgs)} practices: {', '.join(o.name for o in orgs)}",
            hint="choose one with --org NAME",
        )
    return orgs[0]


def claim_org(
    conn: Connection,
    *,
    name: str | None,
    ar_account_id: int,
    ar_account_name: str,
    ar_base_url: str,
) -> OrgRef:
    """The org for an AR account that just signed in: found or created, inside ``conn``'s txn.

    With ``name``, that org (created if new); it must not already belong to another AR account.
    Without, the org already recorded for the account, else a new one named after the account.
    """
    explicit = name is not None
    if name is not None:
        org = find_org(conn, name)
    else:
        org = find_org_by_account(conn, ar_account_id, ar_base_url)
        if org is None:
            name = ar_account_name.strip() or f"AR account {ar_account_id}"
            org = find_org(conn, name)
    if org is not None and org.ar_account_id is not None:
        other_account = org.ar_account_id != ar_account_id
        # The same account id at another AR (the sandbox, say) is another practice, unless the
        # user named the org on purpose.
        other_server = bool(org.ar_base_url) and org.ar_base_url != ar_base_url and not explicit
        if other_account or other_server:
            raise UsageError(
                f"the practice {org.name!r} is AR account {org.ar_account_id} at "
                f"{org.ar_base_url or 'an unknown address'}, but these credentials sign in to "
                f"AR account {ar_account_id} at {ar_base_url}",
                hint="pass --org with another name to keep both",
            )
    holder = find_org_by_account(conn, ar_account_id, ar_base_url)
    if holder is not None and (org is None or holder.id != org.id):
        # One AR account, two practices: the daemon would sync it twice, into two copies.
        raise Conflict(
            f"AR account {ar_account_id} at {ar_base_url} is already signed in as the practice "
            f"{holder.name!r}",
            hint=f"to sign it in again: aiq login --org {shlex.quote(holder.name)}",
        )
    if org is not None:
        conn.execute(
            update(_org)
            .where(_org.c.id == org.id)
            .values(ar_account_id=ar_account_id, ar_base_url=ar_base_url, status="active")
        )
        return OrgRef(org.id, org.name, ar_account_id, ar_base_url, "active")
    assert name is not None
    return create_org(conn, name, ar_account_id=ar_account_id, ar_base_url=ar_base_url)


def create_org(
    conn: Connection, name: str, *, ar_account_id: int | None = None, ar_base_url: str = ""
) -> OrgRef:
    """A new org called ``name``, in ``conn``'s transaction (not the name of a deleted one)."""
    refuse_if_deleted(conn, name)
    new_id = conn.execute(
        insert(_org)
        .values(
            name=name,
            ar_account_id=ar_account_id,
            ar_base_url=ar_base_url,
            currency="USD",
            status=ACTIVE,
            created_at=utcnow(),
        )
        .returning(_org.c.id)
    ).scalar_one()
    return OrgRef(int(new_id), str(name), ar_account_id, ar_base_url, ACTIVE)


# --- every org, deleted ones included (the data-rights operations) ---------------------------


def get_org(conn: Connection, org_id: int) -> OrgRef | None:
    """The org with id ``org_id``, deleted or not."""
    row = conn.execute(select(org_table).where(org_table.c.id == org_id)).first()
    return None if row is None else _ref(row)


def all_orgs(store: Store) -> list[OrgRef]:
    """Every org, deleted ones included, by name."""
    with store.connect() as conn:
        return [_ref(r) for r in conn.execute(select(org_table).order_by(org_table.c.name))]


def find_any_org(store: Store, name: str | None, *, deleted: bool | None = None) -> OrgRef:
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
