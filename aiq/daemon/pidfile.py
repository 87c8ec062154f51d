"""The daemon's pidfile, held by an exclusive lock, and the status file beside it.

The lock, not the file, says whether a daemon runs: the kernel drops an ``flock`` when its holder
dies, however it dies, so a pidfile left behind by a crash is harmless and is simply taken over.
The file is never deleted (deleting a lock file races with a process that just opened it); it is
emptied when the daemon exits.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiq.errors import Locked


@dataclass
class Holder:
    """The daemon that holds a pidfile."""

    pid: int
    host: str
    started_at: str


class PidFile:
    """An exclusive lock on ``path`` that holds this process's pid while it lives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ``Locked`` naming the daemon that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _parse(os.pread(fd, 4096, 0))
            os.close(fd)
            who = f"pid {holder.pid} since {holder.started_at}" if holder else "another process"
            raise Locked(
                f"an aiq daemon is already running ({who})",
                hint="stop it with aiq daemon stop, or see aiq daemon status",
            ) from None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Empty the file and let go of the lock (safe to call twice)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> PidFile:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _parse(data: bytes) -> Holder | None:
    try:
        info = json.loads(data or b"{}")
        return Holder(int(info["pid"]), str(info.get("host", "")), str(info.get("started_at", "")))
    except (ValueError, KeyError, TypeError):
        return None


def running(path: Path) -> Holder | None:
    """The daemon holding ``path``, or None when none does (no file, or a stale one)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _parse(os.pread(fd, 4096, 0)) or Holder(0, "", "")
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def write_status(path: Path, doc: dict[str, Any]) -> None:
    """Replace the status file atomically (readers never see half a document)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".daemon-status-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=1, default=str)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_status(path: Path) -> dict[str, Any]:
    """The last status the daemon wrote, or an empty document."""
    try:
        with path.open() as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}
