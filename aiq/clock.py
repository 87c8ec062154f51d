"""The one clock: naive UTC, as the store keeps every timestamp."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now in UTC, without a time zone (the store's ``*_at`` columns are naive UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)
