"""An audit row's time is the database's and its practice one its writer administers; `ar_login`
is read by ADMINs and OWNERs only (migration 0006). Checked as real database roles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import errors
from sqlalchemy import text

from aiq import audit
from aiq.config import AlertSettings
from aiq.store.db import open_store
from tests.teams.conftest import Team
from tests.teams.test_database_roles import connect, denied, scalar

INSERT = (
    "insert into audit_log (at, actor, org_id, action, details) "
    "values (%s, current_user, %s, %s, '{}')"
)


def _db_now(conn: psycopg.Connection[Any]) -> datetime:
    value = scalar(conn, "select clock_timestamp() at time zone 'UTC'")
    assert isinstance(value, datetime)
    return value


def test_an_admins_audit_row_has_the_databases_time_and_its_practice(team: Team) -> None:
    backdated = datetime(2020, 1, 1, 0, 0, 0)
    with connect(team, team.admin) as conn:
        before = _db_now(conn)
        conn.execute(INSERT, (backdated, team.a, "backdated"))
        conn.execute(INSERT, (datetime(2999, 1, 1), team.a, "postdated"))
        after = _db_now(conn)
        # No practice: a row no OWNER could read. Another practice: one it does not administer.
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(INSERT, (backdated, None, "hidden"))
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(INSERT, (backdated, team.b, "elsewhere"))
    # The practice's OWNER sees both rows, at the time they were really written.
    with connect(team, team.owner) as conn:
        rows = conn.execute(
            "select action, at, org_id from audit_log where actor = %s order by id", (team.admin,)
        ).fetchall()
    assert [(r[0], r[2]) for r in rows] == [("backdated", team.a), ("postdated", team.a)]
    assert all(before <= r[1] <= after for r in rows), (before, rows, after)
    assert audit.verify(team.store).ok


def test_the_installer_still_writes_rows_about_the_whole_database(team: Team) -> None:
    audit.record(team.store, "keys.rotate", target="k2")
    (entry,) = [e for e in audit.entries(team.store) if e.action == "keys.rotate"]
    assert entry.org_id is None
    assert abs(entry.at - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=5)
    assert audit.verify(team.store).ok


def test_an_admins_alert_test_is_recorded_in_its_practice(team: Team) -> None:
    from aiq.usecases.alerting import send_test

    store = open_store(team.url_of(team.admin))
    try:
        send_test(store, AlertSettings())
    finally:
        store.dispose()
    rows = [e for e in audit.entries(team.store) if e.action == "alerts.test"]
    assert [(e.org_id, e.actor) for e in rows] == [(team.a, team.admin)]


def test_ar_login_is_read_by_admins_not_by_members(team: Team) -> None:
    with team.store.begin() as conn:
        conn.execute(
            text(
                "insert into ar_login (org_id, ar_user_id, ar_user_role, signed_in_at) "
                "values (:a, 77, 'admin', now())"
            ),
            {"a": team.a},
        )
    with connect(team, team.member) as conn:
        denied(conn, "select ar_user_id, ar_user_role from ar_login")
    with connect(team, team.admin) as conn:
        assert scalar(conn, "select ar_user_id from ar_login") == 77
    with connect(team, team.owner) as conn:
        assert scalar(conn, "select ar_user_role from ar_login") == "admin"
