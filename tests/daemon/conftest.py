"""Fixtures for daemon tests: a signed-in practice and real `aiq daemon run` processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from aiq.sandbox import Sandbox
from aiq.sandbox.config import DEFAULT_EMAIL, DEFAULT_PASSWORD
from aiq.sandbox.server import RunningSandbox, serve_in_thread
from aiq.sandbox.testing import make_config
from aiq.store.db import Store, open_store
from aiq.store.models import SyncRun, table_of
from tests.helpers import login


@pytest.fixture(autouse=True)
def daemon_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Quick failures, a short history, no keyring probing, for every child process."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.setenv("AIQ_SYNC_SINCE_MONTHS", "18")
    monkeypatch.setenv("AIQ_AR_MAX_RETRIES", "1")


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """A small practice of its own, served over HTTP (tests change its faults)."""
    with serve_in_thread(Sandbox(make_config())) as running:
        yield running


def sign_in(db_url: str, running: RunningSandbox) -> None:
    """`aiq login`, as an owner would (in this process: the daemon is the process under test)."""
    login(db_url, running.base_url, DEFAULT_EMAIL, DEFAULT_PASSWORD)


class DaemonProcess:
    """A real `aiq daemon run` in a child process, its log in a file."""

    def __init__(self, db_url: str, log: Path, *args: str) -> None:
        self.db_url = db_url
        self.log = log
        self._log_fh = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aiq", "--db", db_url, "daemon", "run", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._log_fh,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, what: Callable[[], bool], timeout: float, why: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if what():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited ({self.proc.returncode}):\n{self.text()}")
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {why}:\n{self.text()[-3000:]}")

    def terminate(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log_fh.close()


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    """Start daemons (killed at the end if still running)."""
    started: list[DaemonProcess] = []

    def start(db_url: str, *args: str) -> DaemonProcess:
        d = DaemonProcess(db_url, tmp_path / f"daemon-{len(started)}.log", *args)
        started.append(d)
        return d

    yield start
    for d in started:
        d.close()


def runs(store: Store, status: str | None = None) -> int:
    """Sync runs in the log (of one status)."""
    t = table_of(SyncRun)
    q = select(func.count()).select_from(t)
    if status:
        q = q.where(t.c.status == status)
    with store.connect() as conn:
        return int(conn.execute(q).scalar_one())


@pytest.fixture
def signed_in(db_url: str, sandbox: RunningSandbox) -> Iterator[tuple[str, RunningSandbox, Store]]:
    """A database with the sandbox practice signed in, and a store on it."""
    sign_in(db_url, sandbox)
    store = open_store(db_url)
    try:
        yield db_url, sandbox, store
    finally:
        store.dispose()
