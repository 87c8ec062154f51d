"""Configuring alerts: muting a kind (or email) for a practice or all, and a test message."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiq.audit import record
from aiq.roles import Action, allowed, is_installer, require, require_somewhere, role_in
from aiq.store.orgs import list_orgs, resolve_org

if TYPE_CHECKING:
    from aiq.alerts.check import TestResult
    from aiq.config import AlertSettings
    from aiq.store.db import Store


def _target(store: Store, org_name: str | None) -> int:
    """The org a mute is for (0: every practice), once the caller is allowed to set it."""
    org_id = resolve_org(store, org_name).id if org_name is not None else 0
    require(store, org_id or None, Action.MANAGE_ALERTS, org_name=org_name or "")
    return org_id


def _audit(store: Store, action: str, org_id: int, kind: str, details: dict[str, Any]) -> None:
    record(store, action, org_id=org_id or None, target=kind, details=details)


def mute(store: Store, org_name: str | None, kind: str, until: datetime | None = None) -> None:
    """Stop sending ``kind`` alerts (``email``: every email) for a practice, or every one."""
    from aiq.alerts import ledger

    org_id = _target(store, org_name)
    ledger.mute(store, org_id, kind, until)
    _audit(
        store,
        "alerts.mute",
        org_id,
        kind,
        {"until": until.isoformat() if until else None},
    )


def unmute(store: Store, org_name: str | None, kind: str) -> bool:
    """Send ``kind`` alerts again; whether they were muted."""
    from aiq.alerts import ledger

    org_id = _target(store, org_name)
    was_muted = bool(ledger.unmute(store, org_id, kind))
    _audit(store, "alerts.unmute", org_id, kind, {"was_muted": was_muted})
    return was_muted


def switch_email(store: Store, org_name: str | None, on: bool) -> None:
    """Email alerts off (the privacy policy's opt-out) or back on; webhooks are unaffected."""
    from aiq.alerts import ledger
    from aiq.alerts.model import EMAIL

    org_id = _target(store, org_name)
    _audit(store, "alerts.email", org_id, EMAIL, {"switch": "on" if on else "off"})
    if on:
        ledger.unmute(store, org_id, EMAIL)
    else:
        ledger.mute(store, org_id, EMAIL)


def send_test(store: Store, settings: AlertSettings) -> list[TestResult]:
    """A test message through every configured notifier; one result per channel."""
    from aiq.alerts.check import send_test as send

    require_somewhere(store, Action.MANAGE_ALERTS)
    results = send(settings)
    details = {"channels": [r.channel for r in results]}
    orgs = list_orgs(store)
    with store.begin() as conn:
        if is_installer(conn):
            record(conn, "alerts.test", details=details)
        else:
            # An audit row belongs to a practice its writer administers (migration 0006): one
            # for each practice where this role configures alerts, so each one's OWNERs see it.
            for org in orgs:
                if allowed(role_in(conn, org.id), Action.MANAGE_ALERTS):
                    record(conn, "alerts.test", org_id=org.id, target=org.name, details=details)
    return results
