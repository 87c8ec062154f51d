"""Run the detectors for one org and send what is owed: what the daemon calls after each sync."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from aiq.alerts import detect, figures, ledger
from aiq.alerts.message import alert_message, test_message
from aiq.alerts.notify import Notifier, build_notifiers
from aiq.clock import utcnow
from aiq.errors import DeliveryFailed
from aiq.store.db import Store
from aiq.store.orgs import OrgRef

if TYPE_CHECKING:
    from aiq.config import AlertSettings

log = logging.getLogger("aiq.alerts")


@dataclass
class SyncTrouble:
    """Failures the run log does not show: a sync that could not even start (no key, say)."""

    failures: int = 0
    error: str | None = None
    since: datetime | None = None


@dataclass
class CheckResult:
    """What one check of one org did."""

    org: str
    opened: int = 0
    resolved: int = 0
    expired: int = 0
    open: int = 0
    sent: int = 0
    failed: list[str] = field(default_factory=list)


def thresholds(settings: AlertSettings) -> figures.Thresholds:
    """The anomaly thresholds the settings ask for."""
    return figures.Thresholds(
        deviations=settings.anomaly_deviations,
        percent=settings.anomaly_percent,
        weeks=settings.anomaly_weeks,
        both_ways=settings.anomaly_both_ways,
    )


def detect_all(
    store: Store,
    org: OrgRef,
    settings: AlertSettings,
    *,
    interval: timedelta,
    today: date | None = None,
    trouble: SyncTrouble | None = None,
    now: datetime | None = None,
) -> list[detect.Findings]:
    """Every detector's findings for ``org``."""
    trouble = trouble or SyncTrouble()
    failed, stale = detect.outage(
        store,
        org.id,
        settings.failures,
        interval,
        settings.freshness,
        now=now,
        daemon_failures=trouble.failures,
        daemon_error=trouble.error,
        daemon_since=trouble.since,
    )
    return [
        failed,
        stale,
        detect.schema_changes(store, org.id),
        detect.anomalies(
            store, org.id, thresholds(settings), days=settings.anomaly_days, today=today
        ),
    ]


def check_org(
    store: Store,
    org: OrgRef,
    settings: AlertSettings,
    *,
    interval: timedelta,
    notifiers: list[Notifier] | None = None,
    today: date | None = None,
    trouble: SyncTrouble | None = None,
    now: datetime | None = None,
) -> CheckResult:
    """Detect, record and notify for one org. Notifier failures are kept for the next check."""
    result = CheckResult(org.name)
    if not settings.enabled:
        return result
    now = now or utcnow()
    for findings in detect_all(
        store, org, settings, interval=interval, today=today, trouble=trouble, now=now
    ):
        change = ledger.record(store, org.id, findings, now=now)
        result.opened += change.opened
        result.resolved += change.resolved
        result.expired += change.expired
        result.open += change.opened + change.seen
        if change.opened or change.resolved:
            log.info(
                "%s: %s alerts: %d opened, %d resolved",
                org.name,
                findings.kind,
                change.opened,
                change.resolved,
            )
    deliver(store, org, settings, notifiers, result, now=now)
    return result


def deliver(
    store: Store,
    org: OrgRef,
    settings: AlertSettings,
    notifiers: list[Notifier] | None,
    result: CheckResult,
    *,
    now: datetime,
) -> None:
    """Send every message owed for ``org``'s alerts through ``notifiers``."""
    notifiers = build_notifiers(settings) if notifiers is None else notifiers
    if not notifiers:
        return
    by_channel = {n.channel: n for n in notifiers}
    muted, email_off = ledger.muted_kinds(store, org.id, settings.mute.split(","))
    if not settings.email:
        email_off = True
    remind = timedelta(hours=settings.remind_hours) if settings.remind_hours > 0 else None
    for due in ledger.due_messages(
        store,
        org.id,
        {c: n.is_email for c, n in by_channel.items()},
        muted=muted,
        email_off=email_off,
        remind_after=remind,
        now=now,
    ):
        tag = f"{now:%Y%m%d%H%M}" if due.event == "reminder" else ""
        message = alert_message(due.alert, org.name, due.event, tag)
        try:
            by_channel[due.channel].send(message)
        except DeliveryFailed as exc:
            ledger.mark(store, due, str(exc), now=now)
            result.failed.append(f"{due.channel}: {exc}")
            log.warning(
                "alert %s (%s) not sent by %s: %s", due.alert.id, due.event, due.channel, exc
            )
            continue
        ledger.mark(store, due, None, now=now)
        result.sent += 1
        log.info(
            "alert %s (%s, %s) sent by %s", due.alert.id, due.alert.kind, due.event, due.channel
        )


@dataclass
class TestResult:
    """How a test message went through one notifier."""

    channel: str
    ok: bool
    detail: str


def send_test(settings: AlertSettings, now: datetime | None = None) -> list[TestResult]:
    """Send a test message through every configured notifier (email ones unless switched off)."""
    message = test_message(now or utcnow())
    out = []
    for n in build_notifiers(settings):
        if n.is_email and not settings.email:
            out.append(TestResult(n.channel, False, "skipped: email alerts are switched off"))
            continue
        try:
            n.send(message)
        except DeliveryFailed as exc:
            out.append(TestResult(n.channel, False, str(exc)))
            continue
        out.append(TestResult(n.channel, True, "sent"))
    return out
