"""`aiq privacy audit`: every stored column explained, and a scan that finds patient identifiers."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import text

from aiq import privacy
from tests.helpers import aiq_process
from tests.sync.conftest import SyncedOrg


def test_every_stored_column_says_why_it_is_not_patient_data() -> None:
    unexplained = [f"{c.table}.{c.column}" for c in privacy.columns() if not c.reason]
    assert not unexplained
    assert len(privacy.columns()) > 200


@pytest.mark.parametrize(
    ("value", "kinds"),
    [
        ("Ophelia Abernathy", ["patient name"]),
        ("write to someone@example.com", ["email"]),
        ("(512) 555-0199", ["phone"]),
        ("+1-555-0123-4567", ["patient marker"]),
        ("123-45-6789", ["ssn"]),
        ("Botox (Cosmetic) 20 units", []),
        ("INV-2026-00042", []),
        ("2026-10-01 10:00:00.000000", []),
        ('{"clinic_id": 3, "share": 0.25, "day": "2026-10-01"}', []),
    ],
)
def test_what_counts_as_an_identifier(value: str, kinds: list[str]) -> None:
    assert privacy.identifiers(value) == kinds


def test_the_audit_of_a_synced_database_is_clean_until_a_patient_slips_in(
    synced_org: SyncedOrg, db_url: str
) -> None:
    store = synced_org.store  # after a first sync of the whole sandbox
    env = dict(os.environ)
    clean = aiq_process("--db", db_url, "privacy", "audit", env=env)
    assert clean.code == 0, clean.err
    assert "No patient identifier found" in clean.err
    assert "invoice_item" in clean.out and "UNEXPLAINED" not in clean.out

    with store.begin() as conn:
        first = "where id = (select min(id) from {})"
        conn.execute(
            text(
                "update invoice_item set name = 'Ophelia Abernathy' " + first.format("invoice_item")
            )
        )
        conn.execute(text("update clinic set city = 'o@patient.example' " + first.format("clinic")))
    found = aiq_process("--db", db_url, "privacy", "audit", "--format", "json", env=env)
    assert found.code == 1, found.err
    doc = json.loads(found.out)
    assert doc["clean"] is False
    kinds = {(f["table"], f["column"], f["kind"]) for f in doc["findings"]}
    assert ("invoice_item", "name", "patient name") in kinds
    assert ("clinic", "city", "email") in kinds
    assert all(f["rows"] == 1 and f["example_key"] for f in doc["findings"])
    # The audit names where, never what.
    for stream in (found.out, found.err):
        assert "Ophelia" not in stream and "patient.example" not in stream
