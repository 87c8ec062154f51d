"""`aiq login`, `aiq logout`, `aiq status` and `aiq keys` against the sandbox, on both databases."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select, text, update

from aiq.sandbox.server import RunningSandbox
from aiq.vault.keys import DATA_KEY_FILE
from tests.helpers import Result, aiq
from tests.vault.fixtures import (
    EMAIL,
    OTHER_EMAIL,
    OTHER_PASSWORD,
    OTP_CODE,
    OTP_EMAIL,
    OTP_PASSWORD,
    PASSWORD,
)
from tests.vault.fixtures import ar as ar  # fixtures, used by name
from tests.vault.fixtures import ar_server as ar_server
from tests.vault.fixtures import no_os_keyring as no_os_keyring
from tests.vault.fixtures import no_sentry as no_sentry


class CLI:
    """`aiq --db URL ...` in-process, with what standard input holds."""

    def __init__(
        self,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        db_url: str,
        ar: RunningSandbox,
    ) -> None:
        self.capsys, self.monkeypatch, self.db_url, self.ar = capsys, monkeypatch, db_url, ar

    def __call__(self, *args: str, stdin: str = "") -> Result:
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        return aiq(self.capsys, "--db", self.db_url, *args)

    def login(self, *args: str, email: str = EMAIL, password: str = PASSWORD) -> Result:
        return self(
            "login",
            "--email",
            email,
            "--password-stdin",
            "--base-url",
            self.ar.base_url,
            *args,
            stdin=password + "\n",
        )

    def status(self) -> dict[str, Any]:
        """`aiq status --format json`, which exits 0 when a practice is signed in with usable
        credentials and 4 when none is (as `gh auth status` does)."""
        r = self("status", "--format", "json")
        doc: dict[str, Any] = json.loads(r.out)
        usable = any(o["signed_in"] and o["credentials"] == "ok" for o in doc["orgs"])
        assert r.code == (0 if usable else 4), r.err
        return doc


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    ar: RunningSandbox,
) -> CLI:
    monkeypatch.setenv("AIQ_DEBUG", "0")  # restored after the test even if --debug sets it
    runner = CLI(capsys, monkeypatch, db_url, ar)
    assert runner("db", "upgrade").code == 0  # so that errors are the only line on stderr
    return runner


def key_path(isolated_dirs: Path) -> Path:
    return isolated_dirs / "data" / DATA_KEY_FILE


def test_login_status_logout(cli: CLI, isolated_dirs: Path) -> None:
    r = cli.login()
    assert r.code == 0, r.err
    assert "Signed in for Glow Med Spa (AR account 4411) as o***@glowmedspa.example" in r.err
    assert r.err.count("no usable OS keyring") == 1
    assert "Created a new master key" in r.err and str(key_path(isolated_dirs)) in r.err
    assert r.out == ""
    assert key_path(isolated_dirs).stat().st_mode & 0o777 == 0o600
    assert cli.ar.sandbox.stats["login"] == 1

    doc = cli.status()
    assert doc["master_key"]["found"] and doc["master_key"]["kind"] == "data-file"
    (org,) = doc["orgs"]
    assert org["name"] == "Glow Med Spa" and org["ar_account_id"] == 4411
    assert org["signed_in"] and org["credentials"] == "ok"
    assert org["email"] == "o***@glowmedspa.example" and org["user_role"]
    assert org["last_sync"] is None and org["ar_base_url"] == cli.ar.base_url
    # One person on SQLite, the installer on Postgres: OWNER, who sees the sign-in.
    assert org["role"] == "OWNER" and doc["may_sign_in"] is True

    r = cli("status")
    assert r.code == 0
    assert "Signed in: o***@glowmedspa.example" in r.out and "Last sync: never" in r.out
    assert f"Master key:  the key file {key_path(isolated_dirs)}" in r.out

    # A second sign-in replaces the credentials (which key it used: aiq status).
    r = cli.login()
    assert r.code == 0 and "Replaced the stored sign-in" in r.err
    assert "Created" not in r.err

    r = cli("logout")
    assert r.code == 0 and "Signed out of Glow Med Spa" in r.err
    org = cli.status()["orgs"][0]
    assert not org["signed_in"] and org["email"] is None
    r = cli("logout")
    assert r.code == 0 and "Nobody was signed in" in r.err
    r = cli("status")
    assert r.code == 4 and "nobody (run aiq login)" in r.out


def test_status_shows_the_last_sync(cli: CLI) -> None:
    from datetime import datetime

    from aiq.store.db import open_store
    from aiq.store.models import SyncRun

    assert cli.login().code == 0
    store = open_store(cli.db_url)
    table = SyncRun.__table__  # type: ignore[attr-defined]
    with store.begin() as conn:
        conn.execute(
            insert(table).values(
                org_id=1,
                started_at=datetime(2026, 11, 26, 9, 0),
                ended_at=datetime(2026, 11, 26, 9, 2),
                status="ok",
            )
        )
    store.dispose()
    org = cli.status()["orgs"][0]
    assert org["last_sync"] == {
        "started_at": "2026-11-26T09:00:00Z",
        "ended_at": "2026-11-26T09:02:00Z",
        "status": "ok",
    }
    assert "Last sync: ok, started 2026-11-26 09:00 UTC" in cli("status").out


def test_status_with_nobody(cli: CLI) -> None:
    doc = cli.status()
    assert doc["orgs"] == [] and not doc["master_key"]["found"]
    r = cli("status")
    assert r.code == 4 and "nobody is signed in (run aiq login)" in r.out


def test_login_with_2fa(cli: CLI) -> None:
    r = cli(
        "login",
        "--email",
        OTP_EMAIL,
        "--password-stdin",
        "--otp-stdin",
        "--base-url",
        cli.ar.base_url,
        stdin=f"{OTP_PASSWORD}\n{OTP_CODE}\n",
    )
    assert r.code == 0, r.err
    assert "Two Factor Spa (AR account 5522)" in r.err
    assert cli.ar.sandbox.stats["login_2fa"] == 1
    assert cli.status()["orgs"][0]["credentials"] == "ok"


def test_wrong_2fa_code(cli: CLI, isolated_dirs: Path) -> None:
    r = cli(
        "login",
        "--email",
        OTP_EMAIL,
        "--password-stdin",
        "--otp-stdin",
        "--base-url",
        cli.ar.base_url,
        stdin=f"{OTP_PASSWORD}\n000000\n",
    )
    assert r.code == 4
    assert "two-factor code" in r.err and r.err.count("\n") == 1
    assert cli.ar.sandbox.stats["login_2fa"] == 1
    assert cli.status()["orgs"] == []
    assert not key_path(isolated_dirs).exists()


def test_2fa_with_no_terminal_and_no_otp_stdin(cli: CLI) -> None:
    r = cli.login(email=OTP_EMAIL, password=OTP_PASSWORD)
    assert r.code == 4
    assert "no terminal" in r.err and "--otp-stdin" in r.err
    assert cli.status()["orgs"] == []


def test_wrong_password_is_tried_once_and_changes_nothing(cli: CLI, isolated_dirs: Path) -> None:
    r = cli.login(password="not-the-password")
    assert r.code == 4
    assert "AR refused the email or password" in r.err and r.err.count("\n") == 1
    assert cli.ar.sandbox.stats["login"] == 1  # no retry loop that would lock the account
    assert not key_path(isolated_dirs).exists()
    assert cli.status()["orgs"] == []
    # With credentials stored, a failed sign-in leaves them as they were.
    assert cli.login().code == 0
    assert cli.login(password="still-wrong").code == 4
    from aiq.config import load_settings
    from aiq.store.db import open_store
    from aiq.vault.credentials import load_credentials

    store = open_store(cli.db_url)
    try:
        assert load_credentials(store, load_settings(), 1).password == PASSWORD
    finally:
        store.dispose()


def test_lockout(cli: CLI) -> None:
    from aiq.sandbox.core import SignInError

    for _ in range(cli.ar.sandbox.config.lockout_after):
        with pytest.raises(SignInError):
            cli.ar.sandbox.login(EMAIL, "wrong")
    cli.ar.sandbox.stats.reset()
    r = cli.login()
    assert r.code == 4
    assert "locked" in r.err and r.err.count("\n") == 1
    assert cli.ar.sandbox.stats["login"] == 1
    assert cli.status()["orgs"] == []


def test_ar_unreachable(cli: CLI, isolated_dirs: Path) -> None:
    r = cli(
        "login",
        "--email",
        EMAIL,
        "--password-stdin",
        "--base-url",
        "http://127.0.0.1:9",
        stdin=PASSWORD + "\n",
    )
    assert r.code == 1, r.err
    assert r.err.startswith("aiq: error:") and r.err.count("\n") == 1
    assert "Traceback" not in r.err
    assert cli.status()["orgs"] == []
    assert not key_path(isolated_dirs).exists()


def test_no_password_flag_and_no_terminal(cli: CLI) -> None:
    r = cli("login", "--email", EMAIL, "--password", PASSWORD)
    assert r.code == 2 and "No such option" in r.err
    r = cli("login", "--email", EMAIL, "--base-url", cli.ar.base_url)
    assert r.code == 2 and "--password-stdin" in r.err
    r = cli("login", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.code == 2 and "--email" in r.err
    r = cli("login", "--email", EMAIL, "--password-stdin", stdin="")
    assert r.code == 2 and "no password on standard input" in r.err


def test_org_option_and_several_practices(cli: CLI) -> None:
    assert cli.login("--org", "Glow").code == 0
    assert cli.login(email=OTHER_EMAIL, password=OTHER_PASSWORD).code == 0
    names = [o["name"] for o in cli.status()["orgs"]]
    assert names == ["Glow", "Second Spa"]
    r = cli("logout")
    assert r.code == 2 and "Glow, Second Spa" in r.err and "--org" in r.err
    assert cli("logout", "--org", "Second Spa").code == 0
    r = cli("status", "--org", "Glow", "--format", "json")
    assert [o["name"] for o in json.loads(r.out)["orgs"]] == ["Glow"]
    assert cli.login(email=OTHER_EMAIL, password=OTHER_PASSWORD).code == 0
    r = cli("logout", "--all")
    assert r.code == 0 and "2 practices" in r.err
    assert not any(o["signed_in"] for o in cli.status()["orgs"])


def test_loose_key_file(cli: CLI, isolated_dirs: Path) -> None:
    assert cli.login().code == 0
    key_path(isolated_dirs).chmod(0o644)
    r = cli.login()
    assert r.code == 4
    assert "can be read by other users (mode 0644)" in r.err
    assert f"chmod 600 {key_path(isolated_dirs)}" in r.err
    doc = cli.status()
    assert not doc["master_key"]["found"] and "other users" in doc["master_key"]["problem"]
    assert doc["orgs"][0]["credentials"] == "unreadable"


def _tamper(db_url: str) -> None:
    from aiq.store.db import open_store
    from aiq.vault.credentials import credential_table

    store = open_store(db_url)
    try:
        with store.begin() as conn:
            row = conn.execute(
                select(credential_table).where(credential_table.c.name == "password")
            ).one()
            flipped = bytearray(row.ciphertext)
            flipped[3] ^= 0xFF
            conn.execute(
                update(credential_table)
                .where(credential_table.c.name == "password")
                .values(ciphertext=bytes(flipped))
            )
    finally:
        store.dispose()


def test_tampered_ciphertext(cli: CLI) -> None:
    assert cli.login().code == 0
    _tamper(cli.db_url)
    r = cli("keys", "rotate")
    assert r.code == 4
    assert "is corrupt or was encrypted with another key" in r.err and "Traceback" not in r.err
    r = cli("keys", "status", "--format", "json")
    assert r.code == 0 and json.loads(r.out)["unreadable"] == ["Glow Med Spa"]
    # The email still opens (status shows it); sync would fail on the password, exit 4.
    from aiq.config import load_settings
    from aiq.errors import CredentialsCorrupt
    from aiq.store.db import open_store
    from aiq.vault.credentials import load_credentials

    store = open_store(cli.db_url)
    try:
        with pytest.raises(CredentialsCorrupt, match="corrupt or were encrypted with another key"):
            load_credentials(store, load_settings(), 1)
    finally:
        store.dispose()


def test_a_ciphertext_replaced_by_text_is_corrupt_and_never_shown(cli: CLI) -> None:
    """SQLite stores whatever it is given: a credential's ciphertext overwritten with text."""
    if not cli.db_url.startswith("sqlite"):
        pytest.skip("Postgres keeps bytea: text cannot take a ciphertext's place there")
    assert cli.login().code == 0
    canary = "PLAINTEXT-CANARY-in-the-ciphertext"
    from aiq.store.db import open_store

    store = open_store(cli.db_url)
    try:
        with store.begin() as conn:
            conn.execute(
                text("update credential set ciphertext = :t where name = 'password'"),
                {"t": canary},
            )
    finally:
        store.dispose()
    for args in (("sync",), ("--debug", "sync"), ("keys", "rotate")):
        r = cli(*args)
        assert r.code == 4, (args, r.err)
        assert "corrupt" in r.err and canary not in r.err + r.out, args


def test_keys_status_and_rotate(cli: CLI, isolated_dirs: Path) -> None:
    r = cli("keys", "status")
    assert r.code == 0 and "none found" in r.out and "AIQ_MASTER_KEY" in r.out
    r = cli("keys", "rotate")
    assert r.code == 2 and "no master key to rotate" in r.err
    assert cli.login().code == 0
    old = key_path(isolated_dirs).read_text()
    r = cli("keys", "rotate")
    assert r.code == 0, r.err
    assert "2 credential fields re-encrypted" in r.err and "is retired" in r.err
    assert key_path(isolated_dirs).read_text() != old
    doc = json.loads(cli("keys", "status", "--format", "json").out)
    assert sorted(k["status"] for k in doc["keys"]) == ["active", "retired"]
    assert doc["readable"] == ["Glow Med Spa"] and doc["credentials"] == 2
    r = cli("keys", "status")
    assert "retired" in r.out and "in use here" in r.out
    assert cli.status()["orgs"][0]["credentials"] == "ok"


def test_lost_key(cli: CLI, isolated_dirs: Path) -> None:
    assert cli.login().code == 0
    key_path(isolated_dirs).unlink()
    cli.ar.sandbox.stats.reset()
    r = cli.login()
    assert r.code == 4
    assert "no master key was found" in r.err and str(key_path(isolated_dirs)) in r.err
    assert "AIQ_MASTER_KEY_FILE" in r.err and "--new-key" in r.err
    assert cli.ar.sandbox.stats["login"] == 0 and not key_path(isolated_dirs).exists()
    r = cli("keys", "status")
    assert "none found" in r.out and "1 do not: Glow Med Spa" in r.out
    r = cli.login("--new-key")
    assert r.code == 0 and "Created a new master key" in r.err
    assert cli.status()["orgs"][0]["credentials"] == "ok"


def test_named_key_file(cli: CLI, tmp_path: Path, isolated_dirs: Path) -> None:
    named = tmp_path / "secret" / "aiq.key"
    r = cli.login("--key-file", str(named))
    assert r.code == 0, r.err
    assert named.stat().st_mode & 0o777 == 0o600 and not key_path(isolated_dirs).exists()
    r = cli("status", "--key-file", str(named))
    assert f"the key file {named} (named by --key-file)" in r.out
    r = cli("status")  # without it, aiq does not find the key, and says so
    assert "none yet" in r.out or "unreadable" in r.out
    cli.monkeypatch.setenv("AIQ_MASTER_KEY_FILE", str(named))
    assert cli.status()["orgs"][0]["credentials"] == "ok"


def test_env_key_warns(cli: CLI, isolated_dirs: Path) -> None:
    import base64

    cli.monkeypatch.setenv("AIQ_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    r = cli.login()
    assert r.code == 0, r.err
    assert r.err.count("Warning: a key in the environment can leak") == 1
    assert not key_path(isolated_dirs).exists()
    r = cli("keys", "rotate")
    assert r.code == 2 and "--new-key-file" in r.err


def test_systemd_credential(cli: CLI, tmp_path: Path, isolated_dirs: Path) -> None:
    import base64

    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "aiq-master-key").write_text(base64.b64encode(os.urandom(32)).decode())
    (creds / "aiq-master-key").chmod(0o400)
    cli.monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    r = cli.login()
    assert r.code == 0, r.err
    assert "Master key" not in r.err  # said by `aiq status`, not on every run
    assert f"Master key:  the systemd credential {creds / 'aiq-master-key'}" in cli("status").out
    assert not key_path(isolated_dirs).exists()
