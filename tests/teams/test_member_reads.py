"""What a MEMBER may run on Postgres (docs/teams.md): `aiq status`, `aiq db status` and the
reports, as its own database role. The AR sign-in (`credential`, `ar_login`) is not the MEMBER's
to see: `aiq status` shows it as not available to the role instead of failing on the database's
refusal, and `aiq db status` counts only the tables the role is granted. The reports a MEMBER
reads (sync health, retention, prepaid, trend) read only tables it is granted. `aiq keys status`
checks the stored credentials, which need ADMIN: a MEMBER is told so in one line (exit 4)."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import insert, text

from aiq.store.db import head_revision, open_store
from aiq.store.models import SyncRun, metadata, table_of
from aiq.store.vault_models import ARLogin
from tests.conftest import IN_CI, PG_URL, _pg_schema_url, postgres_unavailable
from tests.helpers import aiq
from tests.sync.conftest import copy_synced_org
from tests.teams.conftest import Team, role_url


def sign_in_rows(team: Team) -> None:
    """Alpha is signed in as AR user 7 (beside the fixture's stand-in credential) and synced."""
    with team.store.begin() as conn:
        conn.execute(
            insert(table_of(ARLogin)).values(
                org_id=team.a,
                ar_user_id=7,
                ar_user_role="Admin",
                signed_in_at=datetime(2026, 11, 26, 8, 0),
            )
        )
        conn.execute(
            insert(table_of(SyncRun)).values(
                org_id=team.a,
                started_at=datetime(2026, 11, 26, 9, 0),
                ended_at=datetime(2026, 11, 26, 9, 2),
                status="ok",
            )
        )


def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "member.key"
    path.write_text(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    path.chmod(0o600)
    return path


def test_member_status_shows_the_sign_in_as_not_available(
    team: Team, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in_rows(team)
    url = team.url_of(team.member)
    r = aiq(capsys, "--db", url, "status")
    assert r.code == 0, r.err
    assert r.err == ""
    assert "Practice:    Alpha Spa" in r.out and "Beta Spa" not in r.out
    assert "Signed in: not available to MEMBER (seeing the AR sign-in needs ADMIN)" in r.out
    assert "Last sync: ok, started 2026-11-26 09:00 UTC" in r.out
    assert "Master key:  none (reading reports needs none)" in r.out
    assert "aiq login" not in r.out  # not the MEMBER's to run

    r = aiq(capsys, "--db", url, "status", "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["may_sign_in"] is False
    (org,) = doc["orgs"]
    assert org["name"] == "Alpha Spa" and org["role"] == "MEMBER"
    assert org["signed_in"] is None and org["credentials"] == "not available"
    assert org["user_id"] is None and org["user_role"] is None and org["signed_in_at"] is None
    assert org["email"] is None
    assert org["last_sync"]["status"] == "ok"

    # A master key on the MEMBER's machine is shown, and the credentials are not looked at.
    key = key_file(tmp_path)
    monkeypatch.setenv("AIQ_MASTER_KEY_FILE", str(key))
    r = aiq(capsys, "--db", url, "status")
    assert r.code == 0, r.err
    assert f"Master key:  the key file {key}" in r.out
    assert "Signed in: not available to MEMBER" in r.out


def test_admin_sees_the_sign_in_where_it_is_admin_only(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    from aiq.store.orgs import resolve_org
    from aiq.usecases.members import set_member

    sign_in_rows(team)
    set_member(team.store, resolve_org(team.store, "Beta Spa"), team.admin, "MEMBER", new=True)
    r = aiq(capsys, "--db", team.url_of(team.admin), "status", "--format", "json")
    # Alpha's stand-in credential opens with no key here: nothing usable it may see, so exit 4.
    assert r.code == 4, r.err
    alpha, beta = json.loads(r.out)["orgs"]
    assert alpha["name"] == "Alpha Spa" and alpha["role"] == "ADMIN"
    assert alpha["signed_in"] is True and alpha["credentials"] == "unreadable"
    assert alpha["user_id"] == 7
    # Beta's credential is there, but row-level security hides it from a MEMBER of Beta: it is
    # not available, not "nobody signed in".
    assert beta["name"] == "Beta Spa" and beta["role"] == "MEMBER"
    assert beta["signed_in"] is None and beta["credentials"] == "not available"
    r = aiq(capsys, "--db", team.url_of(team.admin), "status")
    assert "Master key:  none yet (aiq login creates one)" in r.out
    assert "Signed in: not available to MEMBER" in r.out
    assert "Signed in: credentials unreadable" in r.out

    # The installer (OWNER of every practice) sees both sign-ins.
    r = aiq(capsys, "--db", team.url, "status", "--format", "json")
    assert [(o["role"], o["signed_in"]) for o in json.loads(r.out)["orgs"]] == [
        ("OWNER", True),
        ("OWNER", True),
    ]


# What migrations 0005 to 0007 grant: a MEMBER reads neither the credentials, nor the key ids, nor
# the AR sign-in, nor the audit log; an ADMIN reads all but the audit log (which it appends to).
NOT_FOR_MEMBER = ["ar_login", "audit_log", "credential", "vault_key"]


def db_status(capsys: pytest.CaptureFixture[str], url: str) -> dict[str, Any]:
    r = aiq(capsys, "--db", url, "db", "status", "--format", "json")
    assert r.code == 0, r.err
    doc: dict[str, Any] = json.loads(r.out)
    assert doc["up_to_date"] is True and doc["missing"] == []
    return doc


def test_db_status_counts_the_tables_each_role_may_read(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    sign_in_rows(team)
    url = team.url_of(team.member)
    r = aiq(capsys, "--db", url, "db", "status")
    assert r.code == 0, r.err
    assert r.err == ""
    assert f"Migration: {head_revision()} (up to date)" in r.out
    cells = [line.split("│")[1:3] for line in r.out.splitlines() if line.startswith("│")]
    rows = {table.strip(): shown.strip() for table, shown in cells}
    assert set(rows) == {t.name for t in metadata.sorted_tables}
    assert {t for t, shown in rows.items() if shown == "not available to MEMBER"} == set(
        NOT_FOR_MEMBER
    )
    # Row-level security keeps the counts to Alpha, the MEMBER's one practice.
    assert rows["org"] == rows["clinic"] == rows["sync_run"] == "1"

    doc = db_status(capsys, url)
    assert sorted(doc["not_available"]) == NOT_FOR_MEMBER
    assert all(doc["tables"][t] is None for t in NOT_FOR_MEMBER)
    assert doc["tables"]["clinic"] == 1 and doc["tables"]["invoice"] == 0
    assert set(doc["tables"]) == {t.name for t in metadata.sorted_tables}

    # An ADMIN reads the credentials and the sign-in, of its practices only; not the audit log.
    admin = db_status(capsys, team.url_of(team.admin))
    assert admin["not_available"] == ["audit_log"]
    assert admin["tables"]["credential"] == 1 and admin["tables"]["ar_login"] == 1
    # The installer, OWNER of every practice, reads and counts everything.
    everything = db_status(capsys, team.url)
    assert everything["not_available"] == []
    assert everything["tables"]["credential"] == 2 and everything["tables"]["clinic"] == 2
    assert everything["tables"]["audit_log"] >= 3  # the three members added

    # What is counted follows the database's grants, not a list of aiq's: granted the audit log
    # by hand, the MEMBER counts it (as zero rows: its policy shows rows to OWNERs only).
    with team.store.begin() as conn:
        conn.execute(text(f'grant select on audit_log to "{team.member}"'))
    doc = db_status(capsys, url)
    assert sorted(doc["not_available"]) == ["ar_login", "credential", "vault_key"]
    assert doc["tables"]["audit_log"] == 0


def test_keys_status_tells_a_member_it_needs_admin(
    team: Team, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIQ_MASTER_KEY_FILE", str(key_file(tmp_path)))
    for fmt in ([], ["--format", "json"]):
        r = aiq(capsys, "--db", team.url_of(team.member), "keys", "status", *fmt)
        assert r.code == 4, r.err
        assert r.out == ""
        assert r.err == (
            f"aiq: error: {team.member} is not ADMIN of any practice; to check the master key "
            "against the stored credentials needs ADMIN (ask an OWNER to run aiq members "
            "set-role; aiq status shows where the master key is)\n"
        )
    # An ADMIN checks the key against the credentials of its practice (the fixture's stand-in,
    # sealed by no key this machine holds).
    r = aiq(capsys, "--db", team.url_of(team.admin), "keys", "status", "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["credentials"] == 1 and doc["unreadable"] == ["Alpha Spa"]
    assert doc["master_key"]["found"] is True


@pytest.fixture(scope="module")
def member_of_synced() -> Iterator[str]:
    """A copy of the synced practice (its patient pass included) in a Postgres schema of its
    own, one run of it interrupted; the URL of a database role that is MEMBER of it."""
    reason = postgres_unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: Postgres tests must run)")
        pytest.skip(reason)
    tag = secrets.token_hex(4)
    schema, member = f"t_{tag}", f"aiq_t_member_{tag}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'create schema "{schema}"')
        conn.execute(f'create role "{member}" login')
    url = _pg_schema_url(schema)
    store = open_store(url, migrate=False)
    try:
        org_id, _ = copy_synced_org(url)
        with store.begin() as conn:  # a sync whose process died: nobody holds the lock
            conn.execute(
                insert(table_of(SyncRun)).values(
                    org_id=org_id, started_at=datetime(2026, 11, 26, 10, 0), status="running"
                )
            )
        from aiq.store.orgs import list_orgs
        from aiq.usecases.members import set_member

        (org,) = list_orgs(store)
        set_member(store, org, member, "MEMBER", new=True)
        store.dispose()
        yield role_url(url, member)
    finally:
        store.dispose()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity where usename = %s",
                (member,),
            )
            conn.execute(f'drop schema if exists "{schema}" cascade')
            conn.execute(f'drop owned by "{member}" cascade')
            conn.execute(f'drop role "{member}"')


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["status"], "Signed in: not available to MEMBER"),
        (["report", "sync"], "interrupted"),
        (["report", "sync", "--format", "json"], '"status": "interrupted"'),
        (["report", "retention"], "From the patient pass of"),
        (["report", "retention", "--format", "json"], '"rebooking"'),
        (["report", "prepaid"], "Owed to patients on"),
        (["report", "trend"], "Trend · Glow Med Spa"),
        (["report", "trend", "--format", "json"], '"rebooking_rate"'),
    ],
)
def test_member_reads_a_synced_practice(
    member_of_synced: str, capsys: pytest.CaptureFixture[str], args: list[str], shown: str
) -> None:
    r = aiq(capsys, "--db", member_of_synced, *args)
    assert r.code == 0, r.err
    assert shown in r.out
