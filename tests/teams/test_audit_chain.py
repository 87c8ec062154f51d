"""The audit log is hash-chained: `aiq audit verify` names the first edited or orphaned row."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import text

from aiq import audit
from aiq.store.db import Store
from tests.helpers import aiq


def _write(store: Store, n: int = 4) -> None:
    for i in range(n):
        audit.record(store, "export", org_id=1, target=f"out-{i}", details={"rows": i, "s": "ü|x"})


def _tamper(store: Store, sql: str) -> None:
    with store.begin() as conn:
        if store.dialect == "postgresql":
            # A superuser can set the append-only trigger aside; the chain still tells.
            conn.execute(text("set local session_replication_role = replica"))
        conn.execute(text(sql))


def test_chain_is_linked_and_verifies(store: Store) -> None:
    _write(store)
    rows = audit.entries(store)
    assert len(rows) == 4
    assert rows[0].prev_hash == ""
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.row_hash
    assert all(r.row_hash and len(r.row_hash) == 64 for r in rows)
    assert audit.verify(store).ok


def test_python_and_database_hash_the_same_text(store: Store) -> None:
    _write(store, 2)
    with store.connect() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("set time zone 'Pacific/Auckland'"))  # must not matter
            raw = conn.execute(
                text(
                    "select id, at, actor, org_id, action, target, details::text as details, "
                    "prev_hash, row_hash from audit_log order by id"
                )
            ).all()
        else:
            raw = conn.execute(
                text(
                    "select id, at, actor, org_id, action, target, details, prev_hash, row_hash "
                    "from audit_log order by id"
                )
            ).all()
    for r in raw:
        at = audit._as_datetime(r.at)
        h = audit.row_hash(r.id, at, r.actor, r.org_id, r.action, r.target, r.details, r.prev_hash)
        assert h == r.row_hash


@pytest.mark.parametrize(
    "sql",
    [
        "update audit_log set details = '{\"rows\": 99}' where id = {id}",
        "update audit_log set actor = 'someone else' where id = {id}",
        "update audit_log set at = '2020-01-01 00:00:00' where id = {id}",
    ],
)
def test_edit_is_named(store: Store, sql: str) -> None:
    _write(store)
    target = audit.entries(store)[1].id
    _tamper(store, sql.replace("{id}", str(target)))
    result = audit.verify(store)
    assert result.broken_id == target and "edited" in (result.problem or "")


def test_deletion_is_named(store: Store) -> None:
    _write(store)
    ids = [e.id for e in audit.entries(store)]
    _tamper(store, f"delete from audit_log where id = {ids[1]}")
    result = audit.verify(store)
    assert result.broken_id == ids[2] and "link" in (result.problem or "")


def test_rehashed_edit_still_breaks_the_next_link(store: Store) -> None:
    _write(store)
    rows = audit.entries(store)
    _tamper(
        store,
        f"update audit_log set target = 'forged', row_hash = '{'0' * 64}' where id = {rows[1].id}",
    )
    assert audit.verify(store).broken_id == rows[1].id


def test_postgres_refuses_update_and_delete_even_to_the_owner(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("the append-only trigger is Postgres's")
    _write(store, 1)
    from sqlalchemy.exc import DBAPIError

    for sql in ("update audit_log set actor = 'x'", "delete from audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), store.begin() as conn:
            conn.execute(text(sql))


def test_cli_verify_names_the_row(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from aiq.store.db import open_store

    s = open_store(db_url)
    try:
        _write(s)
        r = aiq(capsys, "--db", db_url, "audit", "verify")
        assert r.code == 0 and "intact: 4 rows" in r.err
        r = aiq(capsys, "--db", db_url, "audit", "list", "--format", "json")
        assert r.code == 0 and r.out.count('"action": "export"') == 4
        victim = audit.entries(s)[2].id
        _tamper(s, f"update audit_log set target = 'x' where id = {victim}")
        r = aiq(capsys, "--db", db_url, "audit", "verify")
        assert r.code == 1 and f"broken at row {victim}" in r.err
    finally:
        s.dispose()
