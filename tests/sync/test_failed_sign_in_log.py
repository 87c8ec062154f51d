"""A run that fails at sign-in says so for every stream: no "last run ok" beside "2 failures"."""

from __future__ import annotations

import json

import pytest

from aiq.ar.client import ARClient
from aiq.errors import AuthRequired
from aiq.sandbox.config import DEFAULT_EMAIL
from aiq.sandbox.server import RunningSandbox
from tests.helpers import aiq
from tests.sync.conftest import SyncedOrg


def test_a_run_that_fails_at_sign_in_is_failed_for_every_stream_in_the_report(
    synced_org: SyncedOrg,
    fresh_served: RunningSandbox,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_sync = synced_org.sync  # after a good first sync
    for _ in range(2):
        refused = ARClient(fresh_served.base_url, email=DEFAULT_EMAIL, password="wrong-pw")
        with refused, pytest.raises(AuthRequired):
            run_sync(fresh_served, client=refused)

    r = aiq(capsys, "--db", db_url, "report", "sync", "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["runs"][0]["status"] == "failed" and doc["runs"][0]["error"]
    for s in doc["streams"]:
        # The stream's last run is the failed one, with its error, and two failures in a row.
        assert s["last_status"] == "failed", s
        assert s["last_error"] == doc["runs"][0]["error"], s
        assert s["consecutive_failures"] == 2, s
    assert DEFAULT_EMAIL not in r.out
