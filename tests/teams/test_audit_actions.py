"""Every administrative operation leaves one audit row, and the chain stays intact."""

from __future__ import annotations

import json
from pathlib import Path

from aiq import audit
from aiq.store.db import open_store
from tests.test_auth_cli import CLI
from tests.test_auth_cli import cli as cli  # fixtures, used by name
from tests.vault.fixtures import ar as ar
from tests.vault.fixtures import ar_server as ar_server
from tests.vault.fixtures import no_os_keyring as no_os_keyring
from tests.vault.fixtures import no_sentry as no_sentry


def test_each_operation_is_recorded(cli: CLI, tmp_path: Path) -> None:
    org = "Glow Med Spa"
    steps: list[tuple[tuple[str, ...], str]] = [
        (("orgs", "add", "Second Spa"), "org.add"),
        (("orgs", "remove", "Second Spa"), "org.remove"),
        (("keys", "rotate"), "keys.rotate"),
        (("alerts", "mute", "stale", "--org", org), "alerts.mute"),
        (("alerts", "unmute", "stale", "--org", org), "alerts.unmute"),
        (("alerts", "email", "off"), "alerts.email"),
        (("export", "--org", org, "--out", str(tmp_path / "x")), "data.export"),
        (("backup", "--out", str(tmp_path / "b.aiqdump")), "data.backup"),
        (("logout", "--org", org), "ar.logout"),
        (("data", "delete", "--org", org, "--confirm", org), "data.delete"),
        (("data", "reactivate", "--org", org), "data.reactivate"),
        (("data", "delete", "--org", org, "--now", "--confirm", org), "data.purge"),
    ]
    r = cli.login()
    assert r.code == 0, r.err
    store = open_store(cli.db_url)
    try:
        assert [e.action for e in audit.entries(store)] == ["ar.login"]
        for args, action in steps:
            before = len(audit.entries(store))
            r = cli(*args)
            assert r.code == 0, (args, r.err)
            new = [e.action for e in audit.entries(store)[before:]]
            assert action in new, (args, new)
        entries = audit.entries(store)
        for e in entries:
            assert e.actor and e.at
            text = json.dumps(e.details)
            assert "password" not in text.lower() or "***" in text
            assert "glowmedspa.example" not in text or "o***@" in text
        assert audit.verify(store).ok
    finally:
        store.dispose()
    r = cli("audit", "verify")
    assert r.code == 0 and "intact" in r.err


def test_orgs_commands(cli: CLI) -> None:
    r = cli("orgs", "add", "Alpha")
    assert r.code == 0, r.err
    r = cli("orgs", "add", "alpha")
    assert r.code == 2 and "already" in r.err
    r = cli("orgs", "list", "--format", "json")
    doc = json.loads(r.out)
    assert [(o["practice"], o["role"]) for o in doc] == [("Alpha", "OWNER")]
    assert cli.login("--org", "Beta").code == 0
    r = cli("orgs", "remove", "Beta")
    assert r.code == 2 and "aiq data delete" in r.err
    r = cli("orgs", "remove", "Alpha")
    assert r.code == 0, r.err
    assert [o["practice"] for o in json.loads(cli("orgs", "list", "--format", "json").out)] == [
        "Beta"
    ]


def test_members_need_postgres_on_sqlite(cli: CLI) -> None:
    if not cli.db_url.startswith("sqlite"):
        return
    assert cli("orgs", "add", "Alpha").code == 0
    r = cli("members", "add", "someone", "--role", "ADMIN")
    assert r.code == 2 and "shared Postgres" in r.err
    r = cli("members", "list")
    assert r.code == 0 and "you are its OWNER" in r.err
