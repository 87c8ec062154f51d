"""What detectors find and what notifiers send: plain dataclasses, no database, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

KINDS: dict[str, str] = {
    "sync_failed": "a sync failed several times in a row",
    "stale": "the data is older than the schedule allows",
    "schema_change": "AR sent fields that appeared or vanished",
    "anomaly": "a day's net sales, completed appointments or cancellation rate looks wrong",
}
"""The kinds of alert, each with what it means (for help text and `aiq alerts mute`)."""

EMAIL = "email"
"""The mute that switches off every email alert (the privacy policy's opt-out)."""

REMINDED_KINDS = frozenset({"sync_failed", "stale", "schema_change"})
"""Kinds worth a reminder while open: they need someone to act. An anomaly is about a past day."""


@dataclass
class Finding:
    """One problem a detector sees now. ``fingerprint`` says which problem it is."""

    kind: str
    fingerprint: str
    title: str
    what: str
    how_far: str
    action: str
    since: datetime
    severity: str = "warning"
    clinic_id: int | None = None
    clinic: str = "all clinics"
    day: date | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    def details(self) -> dict[str, Any]:
        """What the alert row keeps besides its columns (JSON-ready)."""
        return {
            "clinic": self.clinic,
            "what": self.what,
            "how_far": self.how_far,
            "action": self.action,
            "facts": self.facts,
        }


@dataclass
class Message:
    """A message about an alert, as every notifier can send it."""

    event: str  # opened | reminder | resolved | test
    subject: str
    text: str
    payload: dict[str, Any]
    key: str  # unique per alert, event and attempt window (an idempotency key)
    message_id: str = ""  # the email Message-ID, <...@aiq>; empty: a new one per send
    thread: str = ""  # the Message-ID of the alert's first message, which this one follows
