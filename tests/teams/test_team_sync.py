"""An ADMIN's own database role can really sync (its grants suffice); concurrent audit inserts
from many connections still make one linear chain."""

from __future__ import annotations

import io
import sys
import threading

import pytest
from sqlalchemy import text

from aiq import audit
from aiq.sandbox.server import RunningSandbox
from aiq.store.db import open_store
from tests.helpers import aiq
from tests.teams.conftest import Team
from tests.vault.fixtures import EMAIL, PASSWORD
from tests.vault.fixtures import ar as ar  # fixtures, used by name
from tests.vault.fixtures import ar_server as ar_server
from tests.vault.fixtures import no_os_keyring as no_os_keyring
from tests.vault.fixtures import no_sentry as no_sentry


def test_admin_role_syncs_and_member_role_cannot(
    team: Team,
    ar: RunningSandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIQ_SYNC_SINCE_MONTHS", "2")
    with team.store.begin() as conn:  # the fixture's stand-in ciphertexts, sealed by no key
        conn.execute(text("delete from credential"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    r = aiq(
        capsys, "--db", team.url_of(team.admin), "login", "--email", EMAIL,
        "--password-stdin", "--base-url", ar.base_url, "--org", "Alpha Spa",
    )  # fmt: skip
    assert r.code == 0, r.err
    r = aiq(capsys, "--db", team.url_of(team.member), "sync", "--org", "Alpha Spa")
    assert r.code == 4 and "needs ADMIN" in r.err
    r = aiq(capsys, "--db", team.url_of(team.admin), "sync", "--org", "Alpha Spa", "--quiet")
    assert r.code == 0, r.err
    # The member reads what the admin synced, through a report.
    r = aiq(capsys, "--db", team.url_of(team.member), "orgs", "list", "--format", "json")
    assert r.code == 0 and '"MEMBER"' in r.out and "Beta Spa" not in r.out
    actions = [e.action for e in audit.entries(team.store, org_id=team.a)]
    assert "ar.login" in actions
    assert audit.verify(team.store).ok


def test_concurrent_audit_inserts_form_one_chain(pg_schema: str) -> None:
    store = open_store(pg_schema)
    try:
        errors: list[BaseException] = []

        def write(n: int) -> None:
            try:
                for i in range(10):
                    audit.record(store, "test", target=f"{n}-{i}")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        result = audit.verify(store)
        assert result.ok and result.rows == 60, result
    finally:
        store.dispose()
