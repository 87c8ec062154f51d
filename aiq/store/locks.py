"""The sync lock: one sync per org at a time.

SQLite (one machine): an exclusive ``flock`` on a file beside the database, holding the holder's
pid, host and start time. Postgres (many hosts): a session-level ``pg_try_advisory_lock`` on a
dedicated connection, so the lock holds across hosts and goes away if the holder dies.
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
from typing import Any

from sqlalchemy import text

from aiq.errors import Locked
from aiq.store.db import Store


def _holder() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
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
        return Path(db).with_name(Path(db).name + f".sync-{self.org_id}.lock")

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
        # Advisory locks are per database, not per schema: fold the schema into the key so two
        # aiq stores in one database (schemas) do not block each other's syncs.
        schema = conn.execute(text("select current_schema()")).scalar_one() or "public"
        digest = hashlib.blake2b(f"aiq-sync:{schema}".encode(), digest_size=4).digest()
        return int.from_bytes(digest, "big") & 0x7FFFFFFF

    def _try_advisory(self) -> str | None:
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
        return (
            f"{name or 'a session'} from {addr or 'local socket'} since {start:%Y-%m-%d %H:%M:%S}"
        )

    def release(self) -> None:
        """Let go of the lock (safe to call twice)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            try:
                self._conn.execute(
                    text("select pg_advisory_unlock(:c, :o)"), {"c": self._class, "o": self.org_id}
                )
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None
