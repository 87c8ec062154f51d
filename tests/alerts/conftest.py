"""Fixtures for alert tests: an org in a real database and notifier servers on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aiq.config import AlertSettings
from aiq.store.db import Store
from aiq.store.orgs import OrgRef
from tests.alerts.servers import (
    SMTP_PASSWORD,
    SMTP_USER,
    HTTPServer,
    SMTPServer,
    http_server,
    smtp_server,
)
from tests.sync.conftest import add_org, org_id, run_sync, synced_org  # noqa: F401


@pytest.fixture
def org(store: Store) -> OrgRef:
    return OrgRef(add_org(store), "Glow Med Spa", 4411, "", "active")


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SMTPServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def http() -> Iterator[HTTPServer]:
    with http_server() as server:
        yield server


@pytest.fixture
def alert_settings(smtp: SMTPServer, http: HTTPServer) -> AlertSettings:
    """Every notifier on: SMTP with STARTTLS and a login, Resend, and a webhook."""
    return AlertSettings(
        email_to="owner@glowmedspa.example",
        email_from="aiq <alerts@glowmedspa.example>",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_security="starttls",
        smtp_username=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
        smtp_ca_file=str(smtp.cert),
        resend_api_key="re_canary_Resend_Key_123456",
        resend_base_url=http.base_url + "/resend",
        webhook_url=http.base_url + "/hooks/T000/B000/canaryWebhookToken",
        timeout_seconds=5,
    )
