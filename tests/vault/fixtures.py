"""Fixtures for vault and sign-in tests: a sandbox with known accounts, no ambient keyring.

Import them into a test module or conftest (``from tests.vault.fixtures import *``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from aiq.sandbox import AccountSpec, Sandbox
from aiq.sandbox.server import RunningSandbox, serve_in_thread
from aiq.sandbox.testing import make_config

# Distinctive values, so that a leak test finds them anywhere they end up.
EMAIL = "owner.canary@glowmedspa.example"
PASSWORD = 'Zq7!canary-Pa55w0rd #"quoted" & more'
ACCOUNT = AccountSpec(account_id=4411, name="Glow Med Spa", email=EMAIL, password=PASSWORD)

OTP_EMAIL = "manager.canary@twofactor.example"
OTP_PASSWORD = "2fa-canary-Secret!pw"
OTP_CODE = "246810"
OTP_ACCOUNT = AccountSpec(
    account_id=5522, name="Two Factor Spa", email=OTP_EMAIL, password=OTP_PASSWORD, otp=OTP_CODE
)

OTHER_EMAIL = "owner.canary@second.example"
OTHER_PASSWORD = "second-canary-Passw0rd?"
OTHER_ACCOUNT = AccountSpec(
    account_id=6633, name="Second Spa", email=OTHER_EMAIL, password=OTHER_PASSWORD
)

SECRETS = (EMAIL, PASSWORD, OTP_EMAIL, OTP_PASSWORD, OTHER_EMAIL, OTHER_PASSWORD)


@pytest.fixture(scope="module")
def ar_server() -> Iterator[RunningSandbox]:
    """One sandbox per test module, with a plain, a 2FA and a second account."""
    config = make_config(clinics=1, accounts=(ACCOUNT, OTP_ACCOUNT, OTHER_ACCOUNT))
    with serve_in_thread(Sandbox(config)) as running:
        yield running


@pytest.fixture
def ar(ar_server: RunningSandbox) -> RunningSandbox:
    """The module's sandbox, unlocked, with no faults and fresh counters."""
    ar_server.sandbox.unlock()
    ar_server.sandbox.faults.clear()
    ar_server.sandbox.stats.reset()
    return ar_server


class MemoryKeyring:
    """Stands in for a real OS keyring (Secret Service, Keychain): a dict, with call counts."""

    priority = 5

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], str] = {}
        self.calls = 0

    def get_password(self, service: str, username: str) -> str | None:
        self.calls += 1
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.calls += 1
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.calls += 1
        self.entries.pop((service, username), None)


@pytest.fixture(autouse=True)
def no_os_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never touch the developer's real keyring: the fail backend, here and in children."""
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    try:
        yield
    finally:
        keyring.set_keyring(previous)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """A working OS keyring for this test (installed as keyring's backend)."""
    import keyring
    from keyring.backend import KeyringBackend

    ring = MemoryKeyring()

    class TestSecretService(KeyringBackend):  # the name of a real backend, not a fake one
        priority = 5

        def get_password(self, service: str, username: str) -> str | None:
            return ring.get_password(service, username)

        def set_password(self, service: str, username: str, password: str) -> None:
            ring.set_password(service, username, password)

        def delete_password(self, service: str, username: str) -> None:
            ring.delete_password(service, username)

    keyring.set_keyring(TestSecretService())
    yield ring


@pytest.fixture(autouse=True)
def no_sentry() -> Iterator[None]:
    """Whatever a test switched on, Sentry is off afterwards."""
    yield
    from aiq.observability import shutdown_sentry

    shutdown_sentry()


def child_env(**extra: str) -> dict[str, str]:
    """The environment for an `aiq` subprocess: this test's dirs, no keyring, no D-Bus."""
    env = {k: v for k, v in os.environ.items() if k not in ("DBUS_SESSION_BUS_ADDRESS",)}
    env.update(extra)
    return env


def everything_under(root: Any) -> bytes:
    """The bytes of every file under ``root`` (config, data, database, logs), concatenated."""
    from pathlib import Path

    out = b""
    for path in sorted(Path(root).rglob("*")):
        if path.is_file():
            out += path.read_bytes()
    return out


REPO = __import__("pathlib").Path(__file__).resolve().parents[2]


def aiq_child(
    *args: str, env: dict[str, str], input: str | None = None, timeout: float = 120
) -> Any:
    """Run `aiq ARGS` in a child process and capture it."""
    import subprocess
    import sys

    from tests.helpers import Result

    code = "import sys\nfrom aiq.cli import run\nsys.exit(run(sys.argv[1:]))\n"
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        input=input,
        timeout=timeout,
        cwd=REPO,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)
