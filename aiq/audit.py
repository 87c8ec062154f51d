"""The audit log: who did what to which practice's data, append-only.

Every administrative operation (sign-in and sign-out to AR, key rotation, member changes, exports,
backups and restores, deletions, reactivations and purges, alert configuration) is recorded as one
row of ``audit_log``. The actor is
the operating-system user on SQLite and the database role (``current_user``) on Postgres, where
many people share one database. Details are small JSON documents with no business data and never a
secret: every string passes through the secret scrubber before it is written.

The log is tamper-evident: each row holds ``prev_hash`` (the previous row's ``row_hash``, ``''``
for the first) and ``row_hash``, the sha256 of its canonical text (:func:`canonical`): every field
length-prefixed, the time as explicit ``YYYY-MM-DDTHH:MM:SS.ffffff`` of the naive UTC value, the
details as the JSON text stored. Nothing in it depends on a session setting such as the time zone.
SQLite computes the chain here; Postgres in a BEFORE INSERT trigger (migration 0005), serialised
with an advisory lock, which also sets the row's time to the database's clock, whatever the insert
said (migration 0006); there row-level security ties a row to a practice its writer administers.
:func:`verify` recomputes it and names the first row that does not match.
"""

from __future__ import annotations

import getpass
import hashlib
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
    prev_hash: str | None = None
    row_hash: str | None = None


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify` found: how many rows it checked and the first broken one, if any."""

    rows: int
    broken_id: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_id is None


def _field(value: object) -> str:
    if value is None:
        return "~"
    text_ = str(value)
    return f"{len(text_)}:{text_}"


def canonical(
    id_: int,
    at: datetime,
    actor: str,
    org_id: int | None,
    action: str,
    target: str | None,
    details_text: str,
    prev_hash: str,
) -> str:
    """The text a row's hash is taken of (the same as ``aiq_audit_hash`` on Postgres)."""
    when = at.strftime("%Y-%m-%dT%H:%M:%S.%f")
    parts = (id_, when, actor, org_id, action, target, details_text, prev_hash)
    return "|".join(_field(p) for p in parts)


def row_hash(*fields: Any) -> str:
    """sha256 (hex) of a row's canonical text; takes :func:`canonical`'s arguments."""
    return hashlib.sha256(canonical(*fields).encode("utf-8")).hexdigest()


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _sqlite_rows(conn: Connection, after_id: int | None = None) -> list[Any]:
    where = "" if after_id is None else f" where id > {int(after_id)}"
    return list(
        conn.execute(
            text(
                "select id, at, actor, org_id, action, target, cast(details as text) as details, "
                f"prev_hash, row_hash from audit_log{where} order by id"
            )
        )
    )


def _sqlite_hash(r: Any, prev: str) -> str:
    return row_hash(
        int(r.id), _as_datetime(r.at), r.actor, r.org_id, r.action, r.target, r.details, prev
    )


def _chain_sqlite(conn: Connection, new_id: int) -> None:
    last = conn.execute(
        text("select row_hash from audit_log where id < :i order by id desc limit 1"),
        {"i": new_id},
    ).first()
    prev = "" if last is None or last.row_hash is None else str(last.row_hash)
    (r,) = _sqlite_rows(conn, after_id=new_id - 1)[:1]
    conn.execute(
        text("update audit_log set prev_hash = :p, row_hash = :h where id = :i"),
        {"p": prev, "h": _sqlite_hash(r, prev), "i": new_id},
    )


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
    values = {
        "at": datetime.now(UTC).replace(tzinfo=None),
        "actor": (actor or current_actor(db))[:200],
        "org_id": org_id,
        "action": action[:64],
        "target": target,
        "details": _clean(details),
    }
    if db.dialect.name == "postgresql":
        # The trigger chains it. No RETURNING: staff roles may insert but not read the log.
        db.execute(insert(audit_table).values(**values).inline())
        return
    # SQLite: take the write lock first (an UPDATE that changes nothing), so that no other writer
    # appends between reading the last row and chaining the new one.
    db.execute(text("update audit_log set id = id where 0"))
    new_id = db.execute(insert(audit_table).values(**values).returning(audit_table.c.id))
    _chain_sqlite(db, int(new_id.scalar_one()))


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
                prev_hash=r.prev_hash,
                row_hash=r.row_hash,
            )
            for r in conn.execute(query)
        ]


def verify(store: Store) -> VerifyResult:
    """Recompute the chain; the first row whose hash or link does not match is named."""
    with store.connect() as conn:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.exc import DBAPIError

            from aiq.errors import PermissionDenied

            try:
                rows = [
                    (int(r.id), r.prev_hash, r.row_hash, r.computed)
                    for r in conn.execute(text("select * from aiq_audit_check()"))
                ]
            except DBAPIError as exc:
                if "only an OWNER" not in str(exc.orig):
                    raise
                raise PermissionDenied(
                    "only an OWNER may verify the audit log",
                    hint="ask an OWNER, or run it as the role that installed aiq",
                ) from exc
        else:
            rows = []
            for r in _sqlite_rows(conn):
                computed = _sqlite_hash(r, "" if r.prev_hash is None else str(r.prev_hash))
                rows.append((int(r.id), r.prev_hash, r.row_hash, computed))
    prev = ""
    for id_, prev_hash, stored, computed in rows:
        if (prev_hash or "") != prev:
            return VerifyResult(
                len(rows),
                id_,
                "its link to the previous row is broken (a row before it was removed or changed)",
            )
        if stored != computed:
            return VerifyResult(len(rows), id_, "its content does not match its hash (edited)")
        prev = stored
    return VerifyResult(len(rows))
