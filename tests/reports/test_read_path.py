"""The report read path: plain SQL over the driver, in one snapshot, without SQLAlchemy."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from aiq.errors import StoreError
from aiq.reports import api
from aiq.store.db import Store, open_store
from aiq.store.reader import UrlSource, in_list, open_reader
from tests.helpers import aiq
from tests.reports.conftest import request_for

HEAVY = ("sqlalchemy", "sqlmodel", "alembic")


def _report_in_process(url: str, *args: str) -> tuple[dict[str, object], list[str]]:
    """`aiq report ARGS` in a fresh interpreter: its JSON, and the top-level modules it loaded."""
    code = (
        "import sys\n"
        "from aiq.cli import run\n"
        f"rc = run(['--db', {url!r}, 'report', *{list(args)!r}, '--format', 'json'])\n"
        "print('\\nLOADED', rc, ','.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    out, loaded = proc.stdout.rsplit("\nLOADED", 1)
    rc, modules = loaded.split()
    assert rc == "0", proc.stderr
    return json.loads(out), modules.split(",")


def test_a_report_reads_without_sqlalchemy(hand_url: str, hand_store: Store) -> None:
    doc, loaded = _report_in_process(
        hand_url, "revenue", "--month", "2026-10", "--by", "clinic", "--today", "2026-11-26"
    )
    assert not [m for m in HEAVY if m in loaded]
    assert doc["summary"]["net_sales_cents"] == 235336  # hand-worked in tests/reports/handmade.py
    # The same figures as through a store's own connection.
    via_store = api.revenue(hand_store, request_for(month="2026-10"), by="clinic")
    assert via_store.summary.net_sales == 235336
    assert [r["net_sales_cents"] for r in doc["breakdown"]["rows"]] == [  # type: ignore[index]
        r.summary.net_sales
        for r in via_store.breakdown.rows  # type: ignore[union-attr]
    ]


def test_every_report_answers_through_the_url_source(hand_url: str, hand_store: Store) -> None:
    source = UrlSource(hand_url)
    req = request_for(month="2026-10")
    assert api.revenue(source, req).summary == api.revenue(hand_store, req).summary
    assert api.appointments(source, req).summary == api.appointments(hand_store, req).summary
    assert [r.sales_cents for r in api.providers(source, req).rows] == [
        r.sales_cents for r in api.providers(hand_store, req).rows
    ]
    for kind in ("service", "retail"):
        assert api.catalog(source, req, kind).total == api.catalog(hand_store, req, kind).total
    assert api.monthly(source, req).revenue.summary == api.revenue(hand_store, req).summary
    assert len(api.sync(source, req).streams) == len(api.sync(hand_store, req).streams)


def test_a_report_sees_one_snapshot_while_a_sync_writes(store: Store, db_url: str) -> None:
    from sqlalchemy import text

    with store.begin() as conn:
        conn.execute(
            text(
                "insert into org (name, ar_base_url, currency, status, created_at)"
                " values ('One', '', 'USD', 'active', '2026-01-01 00:00:00')"
            )
        )
    count = "select count(*) from org"
    with open_reader(db_url) as db:
        assert db.one(count) == (1,)
        # A writer commits between two queries of the same report ...
        with store.begin() as conn:
            conn.execute(
                text(
                    "insert into org (name, ar_base_url, currency, status, created_at)"
                    " values ('Two', '', 'USD', 'active', '2026-01-01 00:00:00')"
                )
            )
        # ... and the report still sees the database as of its first query.
        assert db.one(count) == (1,)
    with open_reader(db_url) as db:
        assert db.one(count) == (2,)


def test_the_read_path_migrates_a_new_database_and_refuses_a_newer_one(
    capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    r = aiq(capsys, "--db", db_url, "report", "revenue")
    assert r.code == 1 and "run aiq sync first" in r.err  # migrated on the way, then empty
    from sqlalchemy import text

    s = open_store(db_url)
    with s.begin() as conn:
        conn.execute(text("update alembic_version set version_num = 'zz99'"))
    s.dispose()
    r = aiq(capsys, "--db", db_url, "report", "revenue")
    assert r.code == 1
    assert "newer than this aiq knows" in r.err and "Traceback" not in r.err


def test_a_driver_error_is_one_line(store: Store, db_url: str) -> None:
    with open_reader(db_url) as db, pytest.raises(StoreError, match="database error: "):
        db.rows("select nothing from no_such_table")


def test_in_list_takes_only_constants() -> None:
    assert in_list(("paid", "refunded")) == "('paid', 'refunded')"
    assert in_list([3, 5]) == "(3, 5)"
    assert in_list([]) == "(NULL)"
    with pytest.raises(ValueError):
        in_list(["x' or '1'='1"])


def test_a_postgres_that_does_not_answer_is_tried_once(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    attempts: list[str] = []
    real_connect = psycopg.connect

    def counting(*args: object, **kwargs: object) -> object:
        attempts.append("connect")
        return real_connect(*args, **kwargs)  # type: ignore[arg-type]

    # Both the read path and SQLAlchemy's psycopg dialect connect through psycopg.connect.
    monkeypatch.setattr(psycopg, "connect", counting)
    r = aiq(capsys, "--db", "postgresql://u:hunter2@127.0.0.1:1/db", "report", "revenue")
    assert r.code == 1
    assert "cannot connect to the database" in r.err and r.err.count("\n") == 1
    assert "hunter2" not in r.err and "Traceback" not in r.err
    # Not once by the read path and again by the full store (two connect timeouts when the
    # host does not answer).
    assert attempts == ["connect"]
