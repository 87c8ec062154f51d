"""The alert ledger: one row per problem while it lasts, what was sent for it, and the mutes.

``record`` turns a detector's findings into alert rows: a new fingerprint opens an alert, one seen
again refreshes it, and an open alert the detector no longer finds is resolved (or, outside what
the detector looked at, expired). ``due_messages`` says which messages each notifier owes and
``mark`` records how a send went, so an alert is sent once when it opens, reminded at most every
``remind_hours`` while open, and followed by one resolved note, and a notifier that failed is
tried again on the next check.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update

from aiq.alerts.detect import Findings
from aiq.alerts.model import EMAIL, REMINDED_KINDS
from aiq.clock import utcnow
from aiq.store.alert_models import Alert, AlertDelivery, AlertMute
from aiq.store.db import Store
from aiq.store.models import table_of

MAX_ATTEMPTS = 5
RESOLVED_NOTE_DAYS = 7  # resolved notes still owed after this long are dropped

alert_t = table_of(Alert)
delivery_t = table_of(AlertDelivery)
mute_t = table_of(AlertMute)


@dataclass
class Change:
    """What ``record`` did."""

    opened: int = 0
    seen: int = 0
    resolved: int = 0
    expired: int = 0


def record(store: Store, org_id: int, findings: Findings, now: datetime | None = None) -> Change:
    """Open, refresh, resolve and expire the alerts of one detector's kind for ``org_id``."""
    now = now or utcnow()
    change = Change()
    with store.begin() as conn:
        open_rows = {
            r.fingerprint: r
            for r in conn.execute(
                select(alert_t).where(
                    alert_t.c.org_id == org_id,
                    alert_t.c.kind == findings.kind,
                    alert_t.c.status == "open",
                )
            )
        }
        for f in findings.found:
            values: dict[str, Any] = {
                "title": f.title[:300],
                "details": f.details(),
                "severity": f.severity,
                "last_seen_at": now,
            }
            row = open_rows.pop(f.fingerprint, None)
            if row is not None:
                conn.execute(update(alert_t).where(alert_t.c.id == row.id).values(**values))
                change.seen += 1
                continue
            conn.execute(
                insert(alert_t).values(
                    org_id=org_id,
                    fingerprint=f.fingerprint,
                    kind=f.kind,
                    status="open",
                    clinic_id=f.clinic_id,
                    day=f.day,
                    opened_at=now,
                    since=f.since,
                    **values,
                )
            )
            change.opened += 1
        for row in open_rows.values() if not findings.hold else ():
            status = "resolved" if findings.in_scope(row) else "expired"
            conn.execute(
                update(alert_t).where(alert_t.c.id == row.id).values(status=status, resolved_at=now)
            )
            if status == "resolved":
                change.resolved += 1
            else:
                change.expired += 1
    return change


# --- mutes --------------------------------------------------------------------------------------


def mute(store: Store, org_id: int, kind: str, until: datetime | None = None) -> None:
    """Stop sending alerts of ``kind`` (``email``: every email) for ``org_id`` (0: every org)."""
    with store.begin() as conn:
        conn.execute(delete(mute_t).where(mute_t.c.org_id == org_id, mute_t.c.kind == kind))
        conn.execute(
            insert(mute_t).values(org_id=org_id, kind=kind, muted_at=utcnow(), until=until)
        )


def unmute(store: Store, org_id: int, kind: str) -> int:
    """Send alerts of ``kind`` again; returns how many mutes were lifted."""
    with store.begin() as conn:
        res = conn.execute(delete(mute_t).where(mute_t.c.org_id == org_id, mute_t.c.kind == kind))
    return int(res.rowcount or 0)


@dataclass
class MuteRow:
    """A mute in force."""

    org_id: int
    kind: str
    muted_at: datetime
    until: datetime | None


def mutes(store: Store, org_id: int | None = None, now: datetime | None = None) -> list[MuteRow]:
    """The mutes in force for ``org_id`` (with those for every org), or all of them."""
    now = now or utcnow()
    query = select(mute_t).where(or_(mute_t.c.until.is_(None), mute_t.c.until > now))
    if org_id is not None:
        query = query.where(mute_t.c.org_id.in_((0, org_id)))
    with store.connect() as conn:
        return [
            MuteRow(int(r.org_id), str(r.kind), r.muted_at, r.until)
            for r in conn.execute(query.order_by(mute_t.c.org_id, mute_t.c.kind))
        ]


# --- listing ------------------------------------------------------------------------------------


def list_alerts(
    store: Store, org_ids: Iterable[int] | None = None, *, open_only: bool = False, limit: int = 100
) -> list[Any]:
    """Alerts, newest first."""
    query = select(alert_t)
    if org_ids is not None:
        query = query.where(alert_t.c.org_id.in_(list(org_ids)))
    if open_only:
        query = query.where(alert_t.c.status == "open")
    query = query.order_by(alert_t.c.opened_at.desc(), alert_t.c.id.desc()).limit(limit)
    with store.connect() as conn:
        return list(conn.execute(query).all())


# --- deliveries ---------------------------------------------------------------------------------


@dataclass
class Due:
    """A message a notifier owes: an event of an alert."""

    alert: Any
    channel: str
    event: str  # opened | reminder | resolved
    attempts: int


def due_messages(
    store: Store,
    org_id: int,
    channels: dict[str, bool],
    *,
    muted: set[str],
    email_off: bool,
    remind_after: timedelta | None,
    now: datetime | None = None,
) -> list[Due]:
    """Every message owed for ``org_id``'s alerts. ``channels`` maps a channel to is-email."""
    now = now or utcnow()
    live = {c: is_email for c, is_email in channels.items() if not (is_email and email_off)}
    if not live:
        return []
    with store.connect() as conn:
        alerts = conn.execute(
            select(alert_t).where(
                alert_t.c.org_id == org_id,
                or_(
                    alert_t.c.status == "open",
                    and_(
                        alert_t.c.status == "resolved",
                        alert_t.c.resolved_at > now - timedelta(days=RESOLVED_NOTE_DAYS),
                    ),
                ),
            )
        ).all()
        ids = [a.id for a in alerts]
        sent: dict[tuple[int, str, str], Any] = {}
        if ids:
            for d in conn.execute(select(delivery_t).where(delivery_t.c.alert_id.in_(ids))):
                sent[(d.alert_id, d.channel, d.event)] = d
    out = []
    for a in alerts:
        if a.kind in muted:
            continue
        for channel in live:
            opened = sent.get((a.id, channel, "opened"))
            if a.status == "open":
                if opened is None or opened.sent_at is None:
                    if opened is None or opened.attempts < MAX_ATTEMPTS:
                        out.append(Due(a, channel, "opened", opened.attempts if opened else 0))
                    continue
                if remind_after is None or a.kind not in REMINDED_KINDS:
                    continue
                reminder = sent.get((a.id, channel, "reminder"))
                last = max(
                    opened.sent_at, (reminder.sent_at if reminder else None) or opened.sent_at
                )
                if now - last >= remind_after:
                    out.append(Due(a, channel, "reminder", 0))
            else:
                if opened is None or opened.sent_at is None:
                    continue  # never told, so nothing to take back
                note = sent.get((a.id, channel, "resolved"))
                if note is not None and (note.sent_at is not None or note.attempts >= MAX_ATTEMPTS):
                    continue
                out.append(Due(a, channel, "resolved", note.attempts if note else 0))
    return out


def mark(store: Store, due: Due, error: str | None, now: datetime | None = None) -> None:
    """Record one send: ``error`` None when it went out."""
    now = now or utcnow()
    key = and_(
        delivery_t.c.alert_id == due.alert.id,
        delivery_t.c.channel == due.channel,
        delivery_t.c.event == due.event,
    )
    with store.begin() as conn:
        row = conn.execute(select(delivery_t.c.attempts).where(key)).first()
        values = {
            "last_attempt_at": now,
            "error": None if error is None else error[:1000],
        }
        if error is None:
            values["sent_at"] = now
        if row is None:
            conn.execute(
                insert(delivery_t).values(
                    alert_id=due.alert.id,
                    channel=due.channel,
                    event=due.event,
                    attempts=1,
                    **values,
                )
            )
        else:
            conn.execute(update(delivery_t).where(key).values(attempts=row.attempts + 1, **values))


def muted_kinds(store: Store, org_id: int, configured: Iterable[str]) -> tuple[set[str], bool]:
    """The kinds muted for ``org_id`` (config and `aiq alerts mute`), and whether email is off."""
    kinds = {k.strip() for k in configured if k.strip()}
    kinds.update(m.kind for m in mutes(store, org_id))
    return kinds, EMAIL in kinds
