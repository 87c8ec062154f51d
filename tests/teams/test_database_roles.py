"""Row-level security and grants, checked by connecting as real database roles (psycopg)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import errors

from tests.helpers import aiq
from tests.teams.conftest import Team, role_url


def connect(team: Team, role: str) -> psycopg.Connection[Any]:
    url = role_url(team.url, role).replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url, autocommit=True)


def scalar(conn: psycopg.Connection[Any], sql: str, *args: Any) -> Any:
    row = conn.execute(sql, args or None).fetchone()
    return None if row is None else row[0]


def denied(conn: psycopg.Connection[Any], sql: str, *args: Any) -> str:
    with pytest.raises((errors.InsufficientPrivilege, errors.RaiseException)) as info:
        conn.execute(sql, args or None)
    return str(info.value)


def test_member_reads_only_its_org_and_writes_nothing(team: Team) -> None:
    with connect(team, team.member) as conn:
        assert scalar(conn, "select current_user") == team.member
        assert [r[0] for r in conn.execute("select name from org")] == ["Alpha Spa"]
        assert {r[0] for r in conn.execute("select org_id from clinic")} == {team.a}
        assert scalar(conn, "select count(*) from clinic where org_id = %s", team.b) == 0
        denied(conn, "select ciphertext from credential")
        denied(
            conn,
            "insert into clinic (org_id, id, name, timezone, is_active, row_hash) "
            "values (%s, 2, 'x', 'UTC', true, 1)",
            team.a,
        )
        denied(conn, "update clinic set name = 'x'")
        denied(conn, "delete from clinic")
        denied(conn, "update org set name = 'x'")
        denied(
            conn,
            "insert into org_member values (%s, %s, 'OWNER', now(), 'me')",
            team.a,
            team.member,
        )
        denied(conn, "select * from audit_log")
        denied(
            conn,
            "insert into audit_log (at, actor, org_id, action, details) "
            "values (now(), current_user, %s, 'x', '{}')",
            team.a,
        )
        # Only its own membership is visible.
        assert [r[0] for r in conn.execute("select db_role from org_member")] == [team.member]


def test_admin_writes_its_org_only_and_cannot_change_memberships(team: Team) -> None:
    with connect(team, team.admin) as conn:
        assert scalar(conn, "select count(*) from credential") == 1  # its own org's only
        conn.execute(
            "insert into clinic (org_id, id, name, timezone, is_active, row_hash) "
            "values (%s, 2, 'new', 'UTC', true, 1)",
            (team.a,),
        )
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "insert into clinic (org_id, id, name, timezone, is_active, row_hash) "
                "values (%s, 2, 'new', 'UTC', true, 1)",
                (team.b,),
            )
        assert (
            conn.execute("update clinic set name = 'y' where org_id = %s", (team.b,)).rowcount == 0
        )
        assert conn.execute("delete from credential where org_id = %s", (team.b,)).rowcount == 0
        denied(
            conn, "insert into org_member values (%s, %s, 'OWNER', now(), 'me')", team.a, team.admin
        )
        denied(conn, "update org_member set role = 'OWNER'")
        denied(conn, "delete from org_member")
        # It may append to the audit log, as itself, but not read, edit or delete it.
        conn.execute(
            "insert into audit_log (at, actor, org_id, action, details) "
            "values (now(), current_user, %s, 'test', '{}')",
            (team.a,),
        )
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(
                "insert into audit_log (at, actor, org_id, action, details) "
                "values (now(), 'somebody', %s, 'test', '{}')",
                (team.a,),
            )
        denied(conn, "select * from audit_log")
        denied(conn, "update audit_log set actor = 'x'")
        denied(conn, "delete from audit_log")
    with team.store.connect() as c:
        from sqlalchemy import text

        assert (
            c.execute(text("select count(*) from clinic where org_id = :b"), {"b": team.b}).scalar()
            == 1
        )


def test_session_settings_do_not_widen_access(team: Team) -> None:
    with connect(team, team.member) as conn:
        for sql in ("set role postgres", "set session authorization postgres"):
            denied(conn, sql)
        conn.execute("set row_security = off")
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("select * from clinic")
        conn.execute("reset row_security")
        conn.execute("select set_config('search_path', 'public, pg_catalog', false)")
        conn.execute("set search_path to public")
        for setting in ("aiq.org_id", "app.role", "request.jwt.claims"):
            conn.execute(f"set {setting} = '{team.b}'")
        schema = team.url.rsplit("%3D", 1)[-1]
        assert (
            scalar(conn, f'select count(*) from "{schema}".clinic where org_id = %s', team.b) == 0
        )
        assert scalar(conn, f'select count(*) from "{schema}".org') == 1
        # Asking the policy function about another role tells nothing.
        assert scalar(conn, f'select "{schema}".aiq_role_of(%s, %s)', team.a, team.admin) is None
        assert (
            scalar(conn, f'select "{schema}".aiq_role_of(%s, %s)', team.a, team.member) == "MEMBER"
        )
        conn.execute("set time zone 'Asia/Tokyo'")
        denied(conn, f'select count(*) from "{schema}".credential')


def test_owner_manages_members_of_its_org(team: Team, capsys: pytest.CaptureFixture[str]) -> None:
    owner_url = team.url_of(team.owner)
    r = aiq(capsys, "--db", owner_url, "members", "set-role", team.member, "--role", "ADMIN")
    assert r.code == 0, r.err
    with connect(team, team.member) as conn:
        conn.execute(
            "insert into clinic (org_id, id, name, timezone, is_active, row_hash) "
            "values (%s, 7, 'now allowed', 'UTC', true, 1)",
            (team.a,),
        )
    r = aiq(capsys, "--db", owner_url, "members", "list", "--format", "json")
    assert r.code == 0 and team.admin in r.out and '"ADMIN"' in r.out
    r = aiq(capsys, "--db", owner_url, "members", "remove", team.member)
    assert r.code == 0, r.err
    # No membership left: no usage of the schema, so not even its tables' names.
    no_access = (errors.InsufficientPrivilege, errors.UndefinedTable)
    with connect(team, team.member) as conn, pytest.raises(no_access):
        conn.execute("select * from clinic")
    # The owner can see its audit rows, and the chain verifies.
    r = aiq(capsys, "--db", owner_url, "audit", "list", "--org", "Alpha Spa", "--format", "json")
    assert r.code == 0 and "member.remove" in r.out and "member.set_role" in r.out
    r = aiq(capsys, "--db", owner_url, "audit", "verify")
    assert r.code == 0, r.err


@pytest.mark.parametrize(
    ("who", "args", "needed"),
    [
        ("member", ["sync", "--org", "Alpha Spa"], "needs ADMIN"),
        ("member", ["export", "--org", "Alpha Spa", "--out", "-"], "needs ADMIN"),
        ("member", ["logout", "--org", "Alpha Spa"], "needs ADMIN"),
        ("member", ["alerts", "mute", "stale", "--org", "Alpha Spa"], "needs ADMIN"),
        ("admin", ["members", "add", "postgres", "--org", "Alpha Spa"], "needs OWNER"),
        ("admin", ["members", "list", "--org", "Alpha Spa"], "needs OWNER"),
        ("admin", ["audit", "list", "--org", "Alpha Spa"], "needs OWNER"),
        ("admin", ["audit", "verify"], "only an OWNER"),
        (
            "admin",
            ["data", "delete", "--org", "Alpha Spa", "--confirm", "Alpha Spa"],
            "needs OWNER",
        ),
        ("admin", ["keys", "rotate"], "needs OWNER"),
        ("owner", ["orgs", "add", "Gamma"], "needs OWNER"),
        ("owner", ["backup"], "needs OWNER"),
        ("admin", ["data", "purge"], "needs OWNER"),
    ],
)
def test_cli_refuses_with_exit_4(
    team: Team, capsys: pytest.CaptureFixture[str], who: str, args: list[str], needed: str
) -> None:
    url = team.url_of(getattr(team, who))
    r = aiq(capsys, "--db", url, *args)
    assert r.code == 4, (r.code, r.err)
    assert needed in r.err


def test_every_org_table_has_row_level_security(team: Team) -> None:
    from sqlalchemy import text

    from aiq.store.models import metadata

    with team.store.connect() as conn:
        secured = set(
            conn.execute(
                text(
                    "select relname from pg_class where relkind = 'r' and relrowsecurity "
                    "and relnamespace = current_schema()::regnamespace"
                )
            ).scalars()
        )
    needing = {t.name for t in metadata.sorted_tables if "org_id" in t.c} | {
        "org",
        "alert_delivery",
    }
    assert needing <= secured, needing - secured


def test_reports_read_only_what_the_role_may_see(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    # Reports read with the driver directly (no SQLAlchemy): row-level security still applies.
    url = team.url_of(team.member)
    r = aiq(capsys, "--db", url, "report", "appointments", "--format", "json")
    assert r.code == 0, r.err
    assert '"practice": "Alpha Spa"' in r.out  # the only practice this role can see
    r = aiq(capsys, "--db", url, "report", "revenue", "--org", "Beta Spa")
    assert r.code == 2 and "there is no practice called 'Beta Spa'" in r.err
