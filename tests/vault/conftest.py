"""Fixtures of the vault tests (shared with tests/test_auth_cli.py)."""

from __future__ import annotations

from tests.vault.fixtures import (  # noqa: F401
    ar,
    ar_server,
    memory_keyring,
    no_os_keyring,
    no_sentry,
)
