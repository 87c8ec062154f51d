"""Orgs (practices, one per AR account): find them by name, pick the one a command acts on.

``resolve_org`` is what every command taking ``--org`` calls: with a name, that org; without one,
the only org there is; several orgs and no name is a usage error that lists them; none at all means
nobody has signed in yet (exit 4, "run aiq login").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from aiq.clock import utcnow
from aiq.errors import AuthRequired, UsageError
from aiq.store.db import Store
from aiq.store.models import Org

_org = Org.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class OrgRef:
    """An org as the rest of aiq needs it."""

    id: int
    name: str
    ar_account_id: int | None
    ar_base_url: str
    status: str


def _ref(row: Any) -> OrgRef:
    return OrgRef(
        id=int(row.id),
        name=str(row.name),
        ar_account_id=None if row.ar_account_id is None else int(row.ar_account_id),
        ar_base_url=str(row.ar_base_url or ""),
        status=str(row.status),
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
            raise UsageError(
                f"there is no practice called {name!r}",
                hint=f"known: {', '.join(names)}",
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
    if org is not None:
        conn.execute(
            update(_org)
            .where(_org.c.id == org.id)
            .values(ar_account_id=ar_account_id, ar_base_url=ar_base_url, status="active")
        )
        return OrgRef(org.id, org.name, ar_account_id, ar_base_url, "active")
    assert name is not None
    refuse_if_deleted(conn, name)
    now = utcnow()
    new_id = conn.execute(
        insert(_org)
        .values(
            name=name,
            ar_account_id=ar_account_id,
            ar_base_url=ar_base_url,
            currency="USD",
            status="active",
            created_at=now,
        )
        .returning(_org.c.id)
    ).scalar_one()
    return OrgRef(int(new_id), str(name), ar_account_id, ar_base_url, "active")
