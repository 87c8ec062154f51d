"""Members: who belongs to which practice with which role (a shared Postgres).

On Postgres a member is a database role (each person connects as their own); ``add_member`` maps
an existing role to an aiq role in one org, records it in ``org_member`` (which only OWNERs can
change: row-level security) and makes the role's table privileges match what its roles need
(``aiq_apply_grants``, migration 0005). On SQLite there is one person, the OWNER, and no members.
Every change is recorded in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError

from aiq import audit
from aiq.clock import utcnow
from aiq.errors import PermissionDenied, UsageError
from aiq.roles import Action, Role, require
from aiq.store.db import Store
from aiq.store.models import table_of
from aiq.store.orgs import OrgRef
from aiq.store.team_models import OrgMember

member_table = table_of(OrgMember)


@dataclass(frozen=True)
class Member:
    """A database role's role in one org."""

    org_id: int
    db_role: str
    role: str
    added_at: datetime
    added_by: str


def _need_postgres(store: Store) -> None:
    if store.dialect != "postgresql":
        raise UsageError(
            "members need a shared Postgres: on SQLite whoever runs aiq is the OWNER",
            hint="point --db at a Postgres database (see docs/teams.md)",
        )


def _role(value: str) -> Role:
    try:
        return Role[value.strip().upper()]
    except KeyError:
        raise UsageError(f"unknown role {value!r}", hint="use OWNER, ADMIN or MEMBER") from None


def _denied(exc: DBAPIError) -> PermissionDenied | None:
    text_ = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
    if "permission denied" in text_ or "row-level security" in text_:
        return PermissionDenied(f"the database refused: {text_}")
    return None


def list_members(store: Store, org: OrgRef) -> list[Member]:
    """The members of ``org`` (OWNER only)."""
    require(store, org.id, Action.MANAGE_MEMBERS, org_name=org.name)
    if store.dialect != "postgresql":
        return []
    with store.connect() as conn:
        rows = conn.execute(
            select(member_table)
            .where(member_table.c.org_id == org.id)
            .order_by(member_table.c.db_role)
        )
        return [
            Member(int(r.org_id), str(r.db_role), str(r.role), r.added_at, str(r.added_by))
            for r in rows
        ]


def set_member(store: Store, org: OrgRef, db_role: str, role: str, *, new: bool) -> Member:
    """Add ``db_role`` to ``org`` as ``role`` (``new``), or change the role of a member."""
    require(store, org.id, Action.MANAGE_MEMBERS, org_name=org.name)
    _need_postgres(store)
    wanted = _role(role)
    now = utcnow()
    try:
        with store.begin() as conn:
            me = audit.current_actor(conn)
            exists = conn.execute(
                text("select 1 from pg_catalog.pg_roles where rolname = :r"), {"r": db_role}
            ).first()
            if exists is None:
                raise UsageError(
                    f"there is no database role {db_role!r}",
                    hint=f'a database administrator creates it first: CREATE ROLE "{db_role}" '
                    "LOGIN PASSWORD '...'",
                )
            if conn.execute(text("select aiq_is_installer(:r)"), {"r": db_role}).scalar_one():
                raise UsageError(
                    f"{db_role!r} owns aiq's tables (or is a superuser): it is OWNER of every "
                    "practice already"
                )
            current = conn.execute(
                select(member_table.c.role).where(
                    member_table.c.org_id == org.id, member_table.c.db_role == db_role
                )
            ).scalar()
            if new and current is not None:
                raise UsageError(
                    f"{db_role} is already {current} of {org.name}",
                    hint="change it with aiq members set-role",
                )
            if not new and current is None:
                raise UsageError(
                    f"{db_role} is not a member of {org.name}", hint="add it with aiq members add"
                )
            if current is None:
                conn.execute(
                    insert(member_table).values(
                        org_id=org.id,
                        db_role=db_role,
                        role=wanted.name,
                        added_at=now,
                        added_by=me[:200],
                    )
                )
            else:
                _keep_an_owner(conn, org, db_role, wanted)
                conn.execute(
                    update(member_table)
                    .where(member_table.c.org_id == org.id, member_table.c.db_role == db_role)
                    .values(role=wanted.name)
                )
            conn.execute(text("select aiq_apply_grants(:r)"), {"r": db_role})
            audit.record(
                conn,
                "member.add" if new else "member.set_role",
                org_id=org.id,
                target=db_role,
                details={"role": wanted.name, "was": current},
            )
    except DBAPIError as exc:
        mapped = _denied(exc)
        if mapped is None:
            raise
        raise mapped from exc
    return Member(org.id, db_role, wanted.name, now, me)


def _keep_an_owner(conn: object, org: OrgRef, db_role: str, new_role: Role | None) -> None:
    """Refuse to demote or remove the last OWNER who is a member (the installer stays OWNER)."""
    from sqlalchemy import Connection

    assert isinstance(conn, Connection)
    if new_role is Role.OWNER:
        return
    owners = conn.execute(
        select(member_table.c.db_role).where(
            member_table.c.org_id == org.id, member_table.c.role == Role.OWNER.name
        )
    ).scalars()
    others = [o for o in owners if o != db_role]
    was_owner = conn.execute(
        select(func.count()).where(
            member_table.c.org_id == org.id,
            member_table.c.db_role == db_role,
            member_table.c.role == Role.OWNER.name,
        )
    ).scalar_one()
    if (
        was_owner
        and not others
        and not conn.execute(text("select aiq_is_installer(current_user)")).scalar_one()
    ):
        raise UsageError(
            f"{db_role} is the last OWNER of {org.name}",
            hint="make another member OWNER first",
        )


def remove_member(store: Store, org: OrgRef, db_role: str) -> None:
    """Take ``db_role`` out of ``org``; its privileges shrink to what its other orgs need."""
    require(store, org.id, Action.MANAGE_MEMBERS, org_name=org.name)
    _need_postgres(store)
    try:
        with store.begin() as conn:
            _keep_an_owner(conn, org, db_role, None)
            gone = conn.execute(
                delete(member_table).where(
                    member_table.c.org_id == org.id, member_table.c.db_role == db_role
                )
            ).rowcount
            if not gone:
                raise UsageError(f"{db_role} is not a member of {org.name}")
            conn.execute(text("select aiq_apply_grants(:r)"), {"r": db_role})
            audit.record(conn, "member.remove", org_id=org.id, target=db_role)
    except DBAPIError as exc:
        mapped = _denied(exc)
        if mapped is None:
            raise
        raise mapped from exc
