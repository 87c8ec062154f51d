"""Who may do what: the roles, the actions, the matrix, and the one check every command calls.

    action            MEMBER  ADMIN  OWNER
    read reports        yes    yes    yes
    sync                 -     yes    yes
    AR sign-in/out       -     yes    yes
    see the AR sign-in   -     yes    yes
    check keys against
      the credentials    -     yes    yes
    alerts (configure)   -     yes    yes
    export, backup       -     yes    yes
    members              -      -     yes
    rotate keys          -      -     yes
    delete, reactivate,
      purge, restore     -      -     yes
    read audit log       -      -     yes
    add/remove orgs      -      -     yes (of every org: the installer)

On SQLite (one person, one machine) whoever runs aiq is the OWNER of every org. On Postgres each
person connects as their own database role; their aiq role in an org is the row of ``org_member``
for ``current_user``, and the role that owns aiq's tables (the installer, who ran the migrations)
or a superuser is OWNER of every org. The database enforces the same matrix with row-level
security and grants (migration 0005); :func:`require` makes the CLI refuse early with a clear
message (exit 4) instead of a database error.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING

from aiq.errors import PermissionDenied

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from aiq.store.db import Store


class Role(IntEnum):
    """An aiq role; a higher role can do everything a lower one can."""

    MEMBER = 1
    ADMIN = 2
    OWNER = 3


class Action(StrEnum):
    """Something a command does that a role may or may not allow."""

    READ_REPORTS = "read reports"
    SYNC = "sync"
    MANAGE_LOGIN = "manage the AR sign-in"
    SEE_LOGIN = "see the AR sign-in"
    CHECK_KEYS = "check the master key against the stored credentials"
    MANAGE_ALERTS = "configure alerts"
    EXPORT = "export data"
    BACKUP = "back up the database"
    MANAGE_MEMBERS = "manage members"
    ROTATE_KEYS = "rotate the master key"
    DELETE_DATA = "delete, reactivate or purge a practice's data"
    RESTORE = "restore a backup"
    READ_AUDIT = "read the audit log"
    MANAGE_ORGS = "add or remove practices"


MATRIX: dict[Action, Role] = {
    Action.READ_REPORTS: Role.MEMBER,
    Action.SYNC: Role.ADMIN,
    Action.MANAGE_LOGIN: Role.ADMIN,
    Action.SEE_LOGIN: Role.ADMIN,
    Action.CHECK_KEYS: Role.ADMIN,
    Action.MANAGE_ALERTS: Role.ADMIN,
    Action.EXPORT: Role.ADMIN,
    Action.BACKUP: Role.ADMIN,
    Action.MANAGE_MEMBERS: Role.OWNER,
    Action.ROTATE_KEYS: Role.OWNER,
    Action.DELETE_DATA: Role.OWNER,
    Action.RESTORE: Role.OWNER,
    Action.READ_AUDIT: Role.OWNER,
    Action.MANAGE_ORGS: Role.OWNER,
}
"""The least role each action needs."""


def allowed(role: Role | None, action: Action) -> bool:
    """Whether ``role`` may do ``action``."""
    return role is not None and role >= MATRIX[action]


def db_user(conn: Connection) -> str | None:
    """The database role acting (``current_user``) on Postgres; None on SQLite."""
    from sqlalchemy import text

    if conn.dialect.name != "postgresql":
        return None
    return str(conn.execute(text("select current_user")).scalar_one())


def is_installer(conn: Connection) -> bool:
    """Whether the caller owns aiq's tables (or is a superuser): OWNER of every org."""
    from sqlalchemy import text

    if conn.dialect.name != "postgresql":
        return True
    return bool(conn.execute(text("select aiq_is_installer(current_user)")).scalar_one())


def role_in(conn: Connection, org_id: int | None) -> Role | None:
    """The caller's role in ``org_id`` (None: in every org at once), or None for no role."""
    from sqlalchemy import text

    if is_installer(conn):
        return Role.OWNER
    if org_id is None:
        # Acting on every org (key rotation, a whole-database restore): only the installer is
        # OWNER everywhere.
        return None
    value = conn.execute(
        text("select aiq_role_of(:org, current_user)"), {"org": org_id}
    ).scalar_one()
    return None if value is None else Role[str(value)]


def best_role(conn: Connection) -> Role | None:
    """The caller's highest role in any org (the installer: OWNER)."""
    from sqlalchemy import text

    if is_installer(conn):
        return Role.OWNER
    values = conn.execute(
        text("select role from org_member where db_role = current_user")
    ).scalars()
    roles = [Role[str(v)] for v in values if str(v) in Role.__members__]
    return max(roles) if roles else None


def require_somewhere(store: Store, action: Action) -> Role:
    """Like :func:`require`, for an action that is not about one org: the caller's best role."""
    with store.connect() as conn:
        role = best_role(conn)
        who = db_user(conn) or "you"
    if allowed(role, action):
        assert role is not None
        return role
    raise PermissionDenied(
        f"{who} is not {MATRIX[action].name} of any practice; to {action.value} needs "
        f"{MATRIX[action].name}",
        hint="ask an OWNER to run aiq members set-role",
    )


def role_of(store: Store, org_id: int | None) -> Role | None:
    """:func:`role_in` on a connection of its own."""
    with store.connect() as conn:
        return role_in(conn, org_id)


def require(store: Store, org_id: int | None, action: Action, *, org_name: str = "") -> Role:
    """The caller's role, or PermissionDenied (exit 4) naming the role ``action`` needs.

    ``org_id`` None means the action touches every org at once (OWNER everywhere: the installer).
    """
    role = role_of(store, org_id)
    if allowed(role, action):
        assert role is not None
        return role
    needed = MATRIX[action]
    with store.connect() as conn:
        who = db_user(conn) or "you"
    if org_id is None:
        raise PermissionDenied(
            f"{who} is not OWNER of every practice; to {action.value} for the whole database "
            "needs OWNER of every practice",
            hint="run it as the database role that installed aiq (see docs/teams.md)",
        )
    where = f" of {org_name}" if org_name else ""
    have = f"is {role.name}" if role is not None else "has no role"
    raise PermissionDenied(
        f"{who} {have}{where}; to {action.value} needs {needed.name}",
        hint="ask an OWNER to run aiq members set-role",
    )
