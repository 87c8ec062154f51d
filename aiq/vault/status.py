"""What ``aiq status`` and ``aiq keys status`` report: plain results, no printing.

Neither needs the master key to work: without one they say where aiq looked; with one they check
that every stored credential still opens. The email is shown masked (``o***@example.com``), the
password never. On Postgres ``aiq status`` shows each practice's sign-in only to a role that may
see it (ADMIN or OWNER: ``aiq/roles.py``); to a MEMBER it is "not available", never an error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from aiq.errors import AiqError, AuthRequired, CredentialsCorrupt, MasterKeyMissing
from aiq.roles import MATRIX, Action, Role, allowed, best_role, role_in
from aiq.store.orgs import OrgRef, list_orgs, resolve_org
from aiq.vault.credentials import Vault, ar_login_table, credential_table, vault_key_table
from aiq.vault.keys import EnvKeySource

if TYPE_CHECKING:
    from aiq.store.db import Store


def mask_email(email: str) -> str:
    """``owner@example.com`` as ``o***@example.com``: enough to recognise, not to reuse."""
    local, at, domain = email.partition("@")
    return f"{local[:1]}***{at}{domain}"


@dataclass
class KeyInfo:
    """Which master key aiq would use, or why there is none."""

    found: bool
    source: str | None = None
    kind: str | None = None
    key_id: str | None = None
    searched: list[str] = field(default_factory=list)
    problem: str | None = None
    warning: str | None = None


@dataclass
class LastSync:
    """The newest sync run of an org."""

    started_at: datetime
    ended_at: datetime | None
    status: str


@dataclass
class OrgStatus:
    """One practice: its AR account, who is signed in, and its last sync."""

    name: str
    ar_account_id: int | None
    ar_base_url: str
    signed_in: bool | None  # None: the caller's role may not see the sign-in (a MEMBER)
    role: str | None = None  # the caller's role in the practice (OWNER on SQLite)
    email: str | None = None
    user_id: int | None = None
    user_role: str | None = None
    signed_in_at: datetime | None = None
    credentials: str = "none"  # none | ok | unreadable | not available
    problem: str | None = None
    last_sync: LastSync | None = None


@dataclass
class Status:
    """Everything ``aiq status`` shows."""

    database: str
    dialect: str
    master_key: KeyInfo
    orgs: list[OrgStatus]
    may_sign_in: bool = True  # whether the caller may see and manage any practice's AR sign-in


NOT_AVAILABLE = "not available"
"""``OrgStatus.credentials`` of a practice whose sign-in the caller's role may not see."""


def _key_info(vault: Vault, *, reads_credentials: bool = True) -> KeyInfo:
    """Which key aiq would use. ``reads_credentials`` False (a caller who may read no stored
    credential, a MEMBER): where the key is, without looking at the credentials it seals (nor
    finishing an interrupted rotation, which needs them)."""
    try:
        search = vault.search()
    except MasterKeyMissing as exc:
        return KeyInfo(found=False, problem=str(exc))
    if search.key is None or search.source is None:
        return KeyInfo(found=False, searched=list(search.searched))
    warning = None
    if isinstance(search.source, EnvKeySource):
        warning = "a key in the environment can leak; prefer a key file or a systemd credential"
    try:
        key = vault.master_key() if reads_credentials else search.key
    except MasterKeyMissing as exc:
        return KeyInfo(found=False, problem=str(exc))
    return KeyInfo(
        found=True,
        source=search.source.describe(),
        kind=search.source.kind,
        key_id=key.key_id,
        searched=list(search.searched),
        warning=warning,
    )


def _last_sync(store: Store, org_id: int, *, writes_log: bool = True) -> LastSync | None:
    """The newest run; one shown as running whose process is gone (nobody holds the org's sync
    lock) is marked interrupted first, or only shown so to a role that may not write the log
    (``writes_log`` False: a MEMBER)."""
    from sqlalchemy.exc import SQLAlchemyError

    from aiq.store.locks import sync_in_progress
    from aiq.store.models import SyncRun, table_of
    from aiq.store.runlog import settle_interrupted
    from aiq.store.statuses import RUN_INTERRUPTED

    if writes_log:
        with contextlib.suppress(AiqError, SQLAlchemyError):
            settle_interrupted(store, org_id)
    table = table_of(SyncRun)
    with store.connect() as conn:
        row = conn.execute(
            select(table.c.started_at, table.c.ended_at, table.c.status)
            .where(table.c.org_id == org_id)
            .order_by(table.c.started_at.desc(), table.c.id.desc())
            .limit(1)
        ).first()
    if row is None:
        return None
    status = str(row.status)
    if status == "running" and not sync_in_progress(store, org_id):
        status = RUN_INTERRUPTED
    return LastSync(row.started_at, row.ended_at, status)


def _org_status(
    store: Store, vault: Vault, org: OrgRef, key: KeyInfo, role: Role | None
) -> OrgStatus:
    status = OrgStatus(
        name=org.name,
        ar_account_id=org.ar_account_id,
        ar_base_url=org.ar_base_url,
        signed_in=False,
        role=role.name if role is not None else None,
        last_sync=_last_sync(store, org.id, writes_log=allowed(role, Action.SYNC)),
    )
    if not allowed(role, Action.SEE_LOGIN):
        # The credentials and ar_login are the ADMINs' and OWNERs' (docs/teams.md): the database
        # refuses them to a MEMBER, and hides this practice's rows from one who is ADMIN of
        # another (which would read as "nobody signed in").
        status.signed_in = None
        status.credentials = NOT_AVAILABLE
        status.problem = (
            f"not available to {role.name if role is not None else 'your role'} "
            f"(seeing the AR sign-in needs {MATRIX[Action.SEE_LOGIN].name})"
        )
        return status
    with store.connect() as conn:
        n = conn.execute(
            select(func.count())
            .select_from(credential_table)
            .where(credential_table.c.org_id == org.id)
        ).scalar_one()
        login = conn.execute(
            select(ar_login_table).where(ar_login_table.c.org_id == org.id)
        ).first()
    if not n:
        return status
    status.signed_in = True
    if login is not None:
        status.user_id = login.ar_user_id
        status.user_role = login.ar_user_role
        status.signed_in_at = login.signed_in_at
    if not key.found:
        status.credentials = "unreadable"
        status.problem = "no master key found"
        return status
    try:
        email = vault.open(org, ("email",))["email"]
    except (CredentialsCorrupt, MasterKeyMissing) as exc:
        status.credentials = "unreadable"
        status.problem = str(exc)
        return status
    status.email = mask_email(email)
    status.credentials = "ok"
    return status


def gather_status(
    store: Store,
    data_dir: Path,
    *,
    org_name: str | None = None,
    key_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Status:
    """Who is signed in to which AR account, where the master key lives, the last syncs."""
    vault = Vault(store, data_dir, key_file=key_file, environ=environ)
    orgs = [resolve_org(store, org_name)] if org_name is not None else list_orgs(store)
    with store.connect() as conn:
        # Grants follow the caller's highest role: ADMIN somewhere may read the credentials
        # (row-level security keeps it to those practices).
        may_sign_in = allowed(best_role(conn), Action.SEE_LOGIN)
        roles = {o.id: role_in(conn, o.id) for o in orgs}
    key = _key_info(vault, reads_credentials=may_sign_in)
    return Status(
        database=store.display_url,
        dialect=store.dialect,
        master_key=key,
        orgs=[_org_status(store, vault, o, key, roles[o.id]) for o in orgs],
        may_sign_in=may_sign_in,
    )


@dataclass
class KeyRecord:
    """A master key the database knows of (by id only)."""

    key_id: str
    source: str
    status: str
    created_at: datetime | None
    retired_at: datetime | None
    credentials: int
    current: bool


@dataclass
class KeysStatus:
    """Everything ``aiq keys status`` shows."""

    master_key: KeyInfo
    keys: list[KeyRecord]
    credentials: int
    readable: list[str]
    unreadable: list[str]


def gather_key_status(
    store: Store,
    data_dir: Path,
    *,
    key_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> KeysStatus:
    """The master key in use, every key id on record, and whether each credential opens."""
    vault = Vault(store, data_dir, key_file=key_file, environ=environ)
    key = _key_info(vault)
    in_use = vault.key_ids_in_use()
    with store.connect() as conn:
        rows = conn.execute(
            select(vault_key_table).order_by(vault_key_table.c.created_at, vault_key_table.c.key_id)
        ).all()
    records = [
        KeyRecord(
            key_id=str(r.key_id),
            source=str(r.source),
            status=str(r.status),
            created_at=r.created_at,
            retired_at=r.retired_at,
            credentials=in_use.get(str(r.key_id), 0),
            current=str(r.key_id) == key.key_id,
        )
        for r in rows
    ]
    known = {r.key_id for r in records}
    for key_id, n in sorted(in_use.items()):
        if key_id not in known:
            records.append(KeyRecord(key_id, "", "unknown", None, None, n, key_id == key.key_id))
    readable: list[str] = []
    unreadable: list[str] = []
    if in_use:
        for org in list_orgs(store):
            try:
                vault.open(org)
            except AuthRequired as exc:
                if isinstance(exc, CredentialsCorrupt | MasterKeyMissing):
                    unreadable.append(org.name)
                continue
            readable.append(org.name)
    return KeysStatus(
        master_key=key,
        keys=records,
        credentials=sum(in_use.values()),
        readable=readable,
        unreadable=unreadable,
    )
