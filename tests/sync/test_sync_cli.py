"""`aiq sync` as a user runs it: sign in, sync, JSON report, and the errors a user can meet."""

from __future__ import annotations

import json
from datetime import date

import pytest

from aiq.sandbox.config import DEFAULT_EMAIL, DEFAULT_PASSWORD
from aiq.sandbox.server import RunningSandbox
from aiq.store.db import open_store
from aiq.store.locks import SyncLock
from aiq.store.orgs import resolve_org
from tests.helpers import aiq
from tests.sync.conftest import RECENT, SINCE


def login(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    served: RunningSandbox,
) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(DEFAULT_PASSWORD + "\n"))
    r = aiq(
        capsys,
        "--db",
        db_url,
        "login",
        "--email",
        DEFAULT_EMAIL,
        "--password-stdin",
        "--base-url",
        served.base_url,
    )
    assert r.code == 0, r.err


def sync_args(db_url: str, served: RunningSandbox, *extra: str, since: date = SINCE) -> list[str]:
    return [
        "--db",
        db_url,
        "sync",
        "--today",
        served.sandbox.now.date().isoformat(),
        "--since",
        since.isoformat(),
        *extra,
    ]


def test_sync_needs_a_sign_in(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    r = aiq(capsys, "--db", db_url, "sync")
    assert r.code == 4
    error = r.err.splitlines()[-1]  # after the first-use "Creating the aiq schema" note
    assert error.startswith("aiq: error:") and "run aiq login" in error


def test_sync_prints_a_summary_and_json(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    served: RunningSandbox,
) -> None:
    login(capsys, monkeypatch, db_url, served)
    # Three months of history: what is printed does not depend on how much was read.
    r = aiq(capsys, *sync_args(db_url, served, since=RECENT))
    assert r.code == 0, r.err
    assert "Sync ok" in r.err and "invoices" in r.err and r.out == ""
    r = aiq(capsys, *sync_args(db_url, served, "--format", "json", since=RECENT))
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["status"] == "ok" and doc["rows_inserted"] == 0
    assert {s["stream"] for s in doc["streams"]} >= {"appointments", "invoices"}
    args = sync_args(db_url, served, "--dry-run", "--full", "--format", "json", since=RECENT)
    r = aiq(capsys, *args)
    assert json.loads(r.out)["dry_run"] is True


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--since", "2026-02-30"], "is not a date"),
        (["--since", "2099-01-01"], "in the future"),
        (["--since", "2999-01-01"], "outside the years 1900 to 2200"),
        (["--streams", "invoices,patients"], "unknown stream patients"),
        (["--lookback", "-3"], "--lookback"),
    ],
)
def test_bad_options_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    served: RunningSandbox,
    args: list[str],
    needle: str,
) -> None:
    login(capsys, monkeypatch, db_url, served)
    r = aiq(capsys, "--db", db_url, "sync", *args)
    assert r.code == 2, r.err
    assert needle in r.err and "Traceback" not in r.err


def test_overlapping_sync_exits_5_quietly(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
    served: RunningSandbox,
) -> None:
    login(capsys, monkeypatch, db_url, served)
    store = open_store(db_url)
    org = resolve_org(store, None)
    with SyncLock(store, org.id):
        quiet = aiq(capsys, *sync_args(db_url, served, "--quiet"))
        loud = aiq(capsys, *sync_args(db_url, served))
    store.dispose()
    # From cron every few minutes: exit 5 and not a word.
    assert (quiet.code, quiet.out, quiet.err) == (5, "", "")
    assert loud.code == 5
    assert "another sync of this practice is running" in loud.err
