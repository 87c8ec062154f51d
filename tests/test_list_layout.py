"""`aiq alerts list` and `aiq audit list` fit 80 columns with nothing cut off, show timestamps in
one style (UTC: `(UTC)` in a table's header, `Z` in JSON and CSV), and audit details as text."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from sqlalchemy import insert

from aiq import audit
from aiq.store.alert_models import Alert
from aiq.store.db import open_store
from aiq.store.models import table_of
from tests.helpers import aiq

OPENED = datetime(2026, 11, 26, 9, 5, 41)


@pytest.fixture
def listed(db_url: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert aiq(capsys, "--db", db_url, "orgs", "add", "Glow Med Spa").code == 0
    store = open_store(db_url)
    try:
        with store.begin() as conn:
            for n, status in enumerate(("open", "resolved")):
                conn.execute(
                    insert(table_of(Alert)).values(
                        org_id=1,
                        fingerprint=f"sync_failed:{n}",
                        kind="sync_failed",
                        status=status,
                        title="Sync failing since 09:00: Aesthetic Record refused the sign-in "
                        "(the password was changed)",
                        details={"clinic": "Downtown Austin"},
                        opened_at=OPENED,
                        since=OPENED,
                        last_seen_at=OPENED,
                        resolved_at=OPENED if status == "resolved" else None,
                    )
                )
        audit.record(
            store,
            "data.export",
            org_id=1,
            target="/home/owner/exports/aiq-export-glow-med-spa-20261126-090541",
            details={"format": "csv", "tables": ["clinic", "staff", "invoice", "payment", "x"]},
        )
    finally:
        store.dispose()
    return db_url


def _fits(out: str) -> None:
    lines = out.splitlines()
    assert lines and max(len(line) for line in lines) <= 80, out
    assert "…" not in out, out


def test_alerts_list_fits_80_columns(
    listed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    r = aiq(capsys, "--db", listed, "alerts", "list")
    assert r.code == 0, r.err
    _fits(r.out)
    assert "since (UTC)" in r.out and r.out.count("2026-11-26 09:05") == 2
    assert "resolved" in r.out and "Downtown" in r.out
    doc = json.loads(aiq(capsys, "--db", listed, "alerts", "list", "--format", "json").out)
    assert doc[0]["since"] == "2026-11-26T09:05:41Z"


def test_audit_list_fits_80_columns_with_details_as_text(
    listed: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    r = aiq(capsys, "--db", listed, "audit", "list")
    assert r.code == 0, r.err
    _fits(r.out)
    assert "at (UTC)" in r.out
    assert re.search(r"│ \d{4}-\d\d-\d\d \d\d:\d\d │", r.out)
    flat = " ".join(r.out.replace("│", " ").split())
    assert "format: csv; tables: clinic, staff, invoice, payment and 1 more" in flat
    assert "{" not in r.out and "'" not in r.out  # not a Python dict
    for fmt in ("json", "csv"):
        out = aiq(capsys, "--db", listed, "audit", "list", "--format", fmt).out
        assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", out), out
