"""The sync lock: one sync per org at a time.

SQLite (one machine): an exclusive ``flock`` on a file beside the database, holding the holder's
pid, host and start time. Postgres (many hosts): a session-level ``pg_try_advisory_lock`` on a
dedicated connection, so the lock holds across hosts and goes away if the holder dies.

The lock also tells whether a sync is under way: a run the log shows ``running`` while nobody
holds its org's lock belongs to a process that is gone (killed, or the database was restored from
a backup taken mid-sync). :func:`sync_in_progress` asks through a store, :func:`reader_sees_sync`
through a report's reader; neither takes the lock from anyone. This module imports no SQLAlchemy
at load time, so the report read path can use it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiq.errors import Locked

if TYPE_CHECKING:
    from aiq.store.db import Store
    from aiq.store.reader import Reader


def lock_class(schema: str) -> int:
    """The first key of the orgs' advisory locks in ``schema``.

    Advisory locks are per database, not per schema: the schema is folded into the key so two aiq
    stores in one database (schemas) do not block each other's syncs.
    """
    digest = hashlib.blake2b(f"aiq-sync:{schema}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


def lock_file(database: str | Path, org_id: int) -> Path:
    """The lock file of ``org_id`` beside the SQLite database file ``database``."""
    db = Path(database)
    return db.with_name(db.name + f".sync-{org_id}.lock")


ADVISORY_HELD_SQL = (
    "select count(*) from pg_catalog.pg_locks where locktype = 'advisory' and granted"
    " and database = (select oid from pg_catalog.pg_database where datname = current_database())"
    " and classid = cast(cast(:c as bigint) as oid) and objid = cast(cast(:o as bigint) as oid)"
    " and objsubid = 2"
)
"""How many sessions hold an org's advisory lock (``:c`` its class, ``:o`` the org id)."""


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def file_lock_held(path: Path) -> bool:
    """Whether a process holds the SQLite sync lock file ``path``.

    A released lock leaves the file empty, and a lock whose holder was killed names a process of
    this host that is gone: both are free, told without touching the lock, so a sync starting at
    that very moment is never refused. Only when the file names a live process (its holder, or a
    new process that got a dead holder's pid) is the lock itself tried, shared and at once
    released.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        raw = os.pread(fd, 4096, 0)
        if not raw.strip():
            return False
        try:
            info = json.loads(raw)
        except ValueError:
            info = {}
        pid = info.get("pid") if isinstance(info, dict) else None
        if (
            isinstance(pid, int)
            and info.get("host") == socket.gethostname()
            and (pid <= 0 or _pid_gone(pid))
        ):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def sync_in_progress(store: Store, org_id: int) -> bool:
    """Whether some process holds ``org_id``'s sync lock (in this process too)."""
    from sqlalchemy import text

    if store.dialect == "sqlite":
        db = store.engine.url.database
        return bool(db) and file_lock_held(lock_file(str(db), org_id))
    with store.connect() as conn:
        schema = conn.execute(text("select current_schema()")).scalar_one() or "public"
        n = conn.execute(text(ADVISORY_HELD_SQL), {"c": lock_class(schema), "o": org_id})
        return bool(n.scalar_one())


def reader_sees_sync(db: Reader, org_id: int) -> bool:
    """:func:`sync_in_progress` through a report's reader (its snapshot does not matter: the
    lock is looked at as it is now)."""
    if db.dialect == "sqlite":
        rows = db.rows("select file from pragma_database_list where name = 'main'")
        path = str(rows[0][0]) if rows and rows[0][0] else ""
        return bool(path) and file_lock_held(lock_file(path, org_id))
    (schema,) = db.one("select current_schema()")
    (n,) = db.one(ADVISORY_HELD_SQL, c=lock_class(str(schema or "public")), o=org_id)
    return bool(n)


def _holder() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
    }


class SyncLock:
    """Held while a sync of one org runs. Use as a context manager."""

    def __init__(self, store: Store, org_id: int, *, wait_seconds: float = 0.0) -> None:
        self.store = store
        self.org_id = org_id
        self.wait_seconds = wait_seconds
        self._fd: int | None = None
        self._conn: Any = None
        self._class = 0

    def __enter__(self) -> SyncLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, waiting up to ``wait_seconds``; raise ``Locked`` naming the holder."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            holder = self._try()
            if holder is None:
                return
            if time.monotonic() >= deadline:
                raise Locked(
                    f"another sync of this practice is running ({holder})",
                    hint="wait for it to finish, or pass --wait SECONDS",
                )
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))

    def _try(self) -> str | None:
        if self.store.dialect == "sqlite":
            return self._try_file()
        return self._try_advisory()

    def _lock_path(self) -> Path:
        db = self.store.engine.url.database
        assert db is not None
        return lock_file(db, self.org_id)

    def _try_file(self) -> str | None:
        path = self._lock_path()
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                info = json.loads(os.pread(fd, 4096, 0) or b"{}")
                who = f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')}"
            except ValueError:
                who = "holder unknown"
            os.close(fd)
            return who
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_holder()).encode(), 0)
        self._fd = fd
        return None

    def _lock_class(self, conn: Any) -> int:
        from sqlalchemy import text

        return lock_class(conn.execute(text("select current_schema()")).scalar_one() or "public")

    def _try_advisory(self) -> str | None:
        from sqlalchemy import text

        conn = self.store.engine.connect()
        try:
            self._class = self._lock_class(conn)
            ok = conn.execute(
                text("select pg_try_advisory_lock(:c, :o)"), {"c": self._class, "o": self.org_id}
            ).scalar_one()
            conn.commit()
        except Exception:
            conn.close()
            raise
        if ok:
            conn.execute(
                text("select set_config('application_name', :n, false)"),
                {"n": f"aiq sync pid {os.getpid()} on {socket.gethostname()}"[:63]},
            )
            conn.commit()
            self._conn = conn
            return None
        row = conn.execute(
            text(
                "select a.application_name, a.client_addr, a.backend_start from pg_locks l "
                "join pg_stat_activity a on a.pid = l.pid "
                "where l.locktype = 'advisory' and l.classid = :c and l.objid = :o and l.granted"
            ),
            {"c": self._class, "o": self.org_id},
        ).first()
        conn.close()
        if row is None:
            return "holder unknown"
        name, addr, start = row
        if start.tzinfo is not None:
            start = start.astimezone(UTC)
        where = f"{name or 'a session'} from {addr or 'local socket'}"
        return f"{where} since {start:%Y-%m-%d %H:%M:%S} UTC"

    def release(self) -> None:
        """Let go of the lock (safe to call twice)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            from sqlalchemy import text

            try:
                self._conn.execute(
                    text("select pg_advisory_unlock(:c, :o)"), {"c": self._class, "o": self.org_id}
                )
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None
