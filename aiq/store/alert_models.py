"""The alerts' tables: every alert raised, what was sent for it, and what the owner muted.

An ``alert`` row lives from the moment a detector first sees a problem (``opened_at``) until the
problem clears (``resolved_at``); its ``fingerprint`` says which problem it is (the kind, the org,
and for example the clinic and day), so the same problem seen again after every sync is the same
row, not a new alert. ``alert_delivery`` records each message sent for an alert, per notifier and
event (opened, reminder, resolved), so that a message is sent once and a notifier that failed is
tried again. ``alert_mute`` holds the kinds an owner switched off (``email`` switches off every
email alert: the privacy policy's opt-out). No patient data is ever part of an alert.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Integer, String, Text
from sqlmodel import Field, SQLModel


def _ts(nullable: bool = False) -> Any:
    return Field(
        default=None if nullable else ...,
        sa_column=Column(DateTime(timezone=False), nullable=nullable),
    )


class Alert(SQLModel, table=True):
    """One problem seen by a detector, open until it clears."""

    __tablename__ = "alert"
    __table_args__ = (
        Index("ix_alert_org_fingerprint", "org_id", "fingerprint"),
        Index("ix_alert_status", "status", "org_id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True)
    )
    org_id: int
    fingerprint: str = Field(max_length=200)
    kind: str = Field(max_length=32)  # sync_failed | stale | schema_change | anomaly
    severity: str = Field(default="warning", max_length=16)  # info | warning | critical
    status: str = Field(default="open", max_length=16)  # open | resolved | expired
    clinic_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    day: date | None = None
    title: str = Field(sa_column=Column(String(300), nullable=False))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    opened_at: datetime = _ts()
    since: datetime = _ts()  # when the problem started (may be before it was seen)
    last_seen_at: datetime = _ts()
    resolved_at: datetime | None = _ts(nullable=True)


class AlertDelivery(SQLModel, table=True):
    """A message about an alert through one notifier: sent, or failed and to be tried again."""

    __tablename__ = "alert_delivery"

    alert_id: int = Field(primary_key=True)
    channel: str = Field(primary_key=True, max_length=32)  # smtp | resend | webhook
    event: str = Field(primary_key=True, max_length=16)  # opened | reminder | resolved
    attempts: int = 0
    sent_at: datetime | None = _ts(nullable=True)
    last_attempt_at: datetime = _ts()
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class AlertMute(SQLModel, table=True):
    """A kind of alert (or ``email``) switched off for one org, or for all (``org_id`` 0)."""

    __tablename__ = "alert_mute"

    org_id: int = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=32)
    muted_at: datetime = _ts()
    until: datetime | None = _ts(nullable=True)
