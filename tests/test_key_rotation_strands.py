"""`aiq keys rotate` says which other databases and backups the old key strands, and asks first."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from aiq.vault.keys import DATA_KEY_FILE
from tests.helpers import aiq
from tests.test_auth_cli import CLI
from tests.test_auth_cli import cli as cli  # fixtures, used by name
from tests.vault.fixtures import EMAIL, PASSWORD
from tests.vault.fixtures import ar as ar
from tests.vault.fixtures import ar_server as ar_server
from tests.vault.fixtures import no_os_keyring as no_os_keyring
from tests.vault.fixtures import no_sentry as no_sentry


def test_rotation_names_what_it_strands_and_asks_first(
    cli: CLI,
    isolated_dirs: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = isolated_dirs / "data"
    assert cli.login().code == 0
    # The same master key seals a second database: the default SQLite file in the data dir.
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    other = aiq(
        capsys, "login", "--email", EMAIL, "--password-stdin", "--base-url", cli.ar.base_url
    )
    assert other.code == 0, other.err
    backup = cli("backup")
    assert backup.code == 0, backup.err
    (taken,) = (data / "backups").iterdir()
    key = (data / DATA_KEY_FILE).read_text()

    # No terminal and no --yes: the list, then a refusal; nothing changed.
    refused = cli("keys", "rotate")
    assert refused.code == 2, refused.err
    assert f"database {data / 'aiq.db'} (2 credential fields)" in refused.err
    assert f"backup {taken}" in refused.err
    assert "aiq --db URL login" in refused.err and "--yes" in refused.err
    assert (data / DATA_KEY_FILE).read_text() == key

    done = cli("keys", "rotate", "--yes")
    assert done.code == 0, done.err
    assert f"database {data / 'aiq.db'}" in done.err and "re-encrypted" in done.err
    assert "run aiq login again" in done.err
    assert (data / DATA_KEY_FILE).read_text() != key
    # As said: the other database's sign-in no longer opens; this one's does.
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    stranded = json.loads(aiq(capsys, "status", "--format", "json").out)
    assert stranded["orgs"][0]["credentials"] != "ok"
    assert cli("status", "--format", "json").code == 0
    audit = cli("audit", "list", "--format", "json")
    assert str(data / "aiq.db") in audit.out


def test_rotation_with_nothing_else_sealed_asks_nothing(cli: CLI) -> None:
    assert cli.login().code == 0
    done = cli("keys", "rotate")
    assert done.code == 0, done.err
    assert "Rotate the master key?" not in done.err and "will no longer open" not in done.err
