"""The words of an alert: one message per event, the same facts for email and webhook."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiq import __version__

EVENT_PREFIX = {"opened": "", "reminder": "Reminder: ", "resolved": "Resolved: ", "test": ""}


def _when(at: datetime | None) -> str | None:
    return None if at is None else f"{at:%Y-%m-%d %H:%M} UTC"


def message_id(alert: Any, event: str, tag: str = "") -> str:
    """The email Message-ID of ``event`` of ``alert``: the same on every attempt, so a
    reminder or the resolved note can name the message it follows (``In-Reply-To``). The
    alert's id, practice and opening second keep it apart from another database's alerts."""
    opened = f"{alert.opened_at:%Y%m%d%H%M%S}"
    suffix = event + (f".{tag}" if tag else "")
    return f"<aiq.alert.{alert.org_id}.{alert.id}.{opened}.{suffix}@aiq>"


def alert_message(alert: Any, practice: str, event: str, tag: str = "") -> Any:
    """The message for ``event`` (opened | reminder | resolved) of a stored alert.

    A reminder and the resolved note thread with the alert's first message: their email names
    it in ``In-Reply-To`` and ``References``, and the webhook's payload in ``thread``.
    """
    from aiq.alerts.model import Message

    d = dict(alert.details or {})
    clinic = d.get("clinic") or "all clinics"
    subject = f"[aiq] {EVENT_PREFIX[event]}{practice}, {clinic}: {alert.title}"
    since = _when(alert.since)
    lines = []
    if event == "resolved":
        lines += [
            f"Resolved: {alert.title}",
            "",
            f"This cleared at {_when(alert.resolved_at)}; it was open since {since}.",
            "",
        ]
    elif event == "reminder":
        lines += [f"Still open: {alert.title}", ""]
    else:
        lines += [alert.title, ""]
    lines += [
        f"Practice:    {practice}",
        f"Clinic:      {clinic}",
        f"What:        {d.get('what', '')}",
        f"How far:     {d.get('how_far', '')}",
        f"Since:       {since}",
    ]
    if event != "resolved":
        lines.append(f"What to do:  {d.get('action', '')}")
    lines += [
        "",
        f"Alert {alert.id} ({alert.kind}), opened {_when(alert.opened_at)}. "
        f"See open alerts with `aiq alerts list --open`; stop this kind with "
        f"`aiq alerts mute {alert.kind}`.",
        f"-- aiq {__version__}",
    ]
    thread = message_id(alert, "opened") if event != "opened" else ""
    payload = {
        "event": event,
        "message_id": message_id(alert, event, tag),
        "thread": thread or None,
        "alert": {
            "id": alert.id,
            "kind": alert.kind,
            "severity": alert.severity,
            "status": alert.status,
            "practice": practice,
            "org_id": alert.org_id,
            "clinic": clinic,
            "clinic_id": alert.clinic_id,
            "day": alert.day.isoformat() if alert.day else None,
            "title": alert.title,
            "what": d.get("what"),
            "how_far": d.get("how_far"),
            "action": d.get("action"),
            "since": alert.since.isoformat() + "Z" if alert.since else None,
            "opened_at": alert.opened_at.isoformat() + "Z",
            "resolved_at": alert.resolved_at.isoformat() + "Z" if alert.resolved_at else None,
            "facts": d.get("facts", {}),
        },
    }
    return Message(
        event=event,
        subject=subject,
        text="\n".join(lines) + "\n",
        payload=payload,
        key=f"aiq-alert-{alert.id}-{event}" + (f"-{tag}" if tag else ""),
        message_id=message_id(alert, event, tag),
        thread=thread,
    )


def test_message(now: datetime) -> Any:
    """A message that only says the notifier works."""
    from aiq.alerts.model import Message

    text = (
        "This is a test of aiq's alerts: if you read it, this notifier works.\n\n"
        "aiq sends an alert when a sync keeps failing, when data goes stale, when AR's data "
        "format changes, and when a day's business figures look wrong; once when it opens, and "
        "a note when it clears.\n"
        f"-- aiq {__version__}\n"
    )
    return Message(
        event="test",
        subject="[aiq] Test alert: your notifier works",
        text=text,
        payload={"event": "test", "alert": None, "sent_at": now.isoformat() + "Z"},
        key=f"aiq-test-{int(now.timestamp())}",
    )
