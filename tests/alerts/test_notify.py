"""Alerts over real servers on loopback: sent once, reminded, resolved once, muted, opted out."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert, update

from aiq.alerts import ledger
from aiq.alerts.check import CheckResult, check_org, send_test
from aiq.alerts.notify import DeliveryFailed, build_notifiers
from aiq.config import AlertSettings
from aiq.errors import ConfigError
from aiq.store.db import Store
from aiq.store.models import SyncRun, SyncStreamState, table_of
from aiq.store.orgs import OrgRef
from aiq.vault.redact import redact
from tests.alerts.servers import SMTP_PASSWORD, HTTPServer, SMTPServer
from tests.helpers import aiq

HOUR = timedelta(hours=1)
INTERVAL = timedelta(minutes=30)
T0 = datetime(2026, 11, 26, 12, 0)


def fail_syncs(store: Store, org_id: int, n: int, at: datetime = T0) -> None:
    """The run log of ``n`` failed syncs in a row."""
    with store.begin() as conn:
        for i in range(n):
            conn.execute(
                insert(table_of(SyncRun)).values(
                    org_id=org_id,
                    started_at=at - (n - i) * INTERVAL,
                    ended_at=at - (n - i) * INTERVAL,
                    status="failed",
                    mode="incremental",
                    error="AR did not answer (503)",
                )
            )
        conn.execute(
            insert(table_of(SyncStreamState)).values(
                org_id=org_id,
                stream="invoices",
                consecutive_failures=n,
                known_fields=[],
                last_success_at=at - INTERVAL / 2,
            )
        )


def succeed(store: Store, org_id: int, at: datetime) -> None:
    t = table_of(SyncStreamState)
    with store.begin() as conn:
        conn.execute(
            insert(table_of(SyncRun)).values(
                org_id=org_id, started_at=at, ended_at=at, status="ok", mode="incremental"
            )
        )
        conn.execute(
            update(t).where(t.c.org_id == org_id).values(consecutive_failures=0, last_success_at=at)
        )


def check(store: Store, org: OrgRef, settings: AlertSettings, now: datetime) -> CheckResult:
    # A schedule of a day: the data does not go stale within these tests (test_detect does that).
    return check_org(store, org, settings, interval=timedelta(days=1), now=now, today=now.date())


def test_an_alert_is_sent_once_reminded_and_resolved_once_through_every_notifier(
    store: Store,
    org: OrgRef,
    alert_settings: AlertSettings,
    smtp: SMTPServer,
    http: HTTPServer,
) -> None:
    alert_settings.remind_hours = 6
    fail_syncs(store, org.id, 3)
    first = check(store, org, alert_settings, T0)
    assert (first.opened, first.sent, first.failed) == (1, 3, [])

    # The email over SMTP: STARTTLS and a login, then the alert in words.
    assert len(smtp.messages) == 1 and smtp.logins
    mail = smtp.messages[0]
    assert mail["To"] == "owner@glowmedspa.example"
    assert "sync failed 3 times in a row" in mail["Subject"]
    body = mail.get_content()
    for part in ("Clinic:", "How far:", "Since:", "What to do:", "aiq alerts mute sync_failed"):
        assert part in body
    # Resend's API: POST /emails with the bearer key.
    (resend,) = http.posts("/resend/emails")
    assert resend["headers"]["Authorization"] == "Bearer re_canary_Resend_Key_123456"
    assert resend["json"]["to"] == ["owner@glowmedspa.example"]
    assert resend["json"]["subject"] == str(mail["Subject"]).strip()
    assert "What to do:" in resend["json"]["text"]
    # The webhook: the same facts as JSON.
    (hook,) = http.posts("/hooks/T000/B000/canaryWebhookToken")
    assert hook["json"]["event"] == "opened"
    assert hook["json"]["alert"]["kind"] == "sync_failed"
    assert hook["json"]["alert"]["facts"]["failures"] == 3

    # Still failing an hour later: nothing new is sent.
    assert check(store, org, alert_settings, T0 + HOUR).sent == 0
    assert len(smtp.messages) == 1 and len(http.requests) == 2
    # Past the reminder time: one reminder per notifier, once.
    assert check(store, org, alert_settings, T0 + 7 * HOUR).sent == 3
    assert str(smtp.messages[-1]["Subject"]).strip().startswith("[aiq] Reminder:")
    assert check(store, org, alert_settings, T0 + 8 * HOUR).sent == 0

    # The sync works again: one resolved note per notifier, then silence.
    succeed(store, org.id, T0 + 9 * HOUR)
    done = check(store, org, alert_settings, T0 + 9 * HOUR)
    assert (done.resolved, done.sent) == (1, 3)
    assert str(smtp.messages[-1]["Subject"]).strip().startswith("[aiq] Resolved:")
    assert http.posts("/hooks/T000/B000/canaryWebhookToken")[-1]["json"]["event"] == "resolved"
    assert check(store, org, alert_settings, T0 + 10 * HOUR).sent == 0
    assert len(smtp.messages) == 3
    assert len(http.requests) == 6

    (row,) = ledger.list_alerts(store, [org.id])
    assert row.status == "resolved"


def test_nothing_is_sent_for_a_muted_kind_and_no_email_after_the_opt_out(
    store: Store,
    org: OrgRef,
    alert_settings: AlertSettings,
    smtp: SMTPServer,
    http: HTTPServer,
) -> None:
    ledger.mute(store, 0, "sync_failed")
    fail_syncs(store, org.id, 4)
    muted = check(store, org, alert_settings, T0)
    assert (muted.opened, muted.sent) == (1, 0)
    assert smtp.messages == [] and http.requests == []
    assert ledger.list_alerts(store, [org.id], open_only=True)  # still recorded

    # Email off (the privacy policy's opt-out): the webhook alone hears of it.
    ledger.unmute(store, 0, "sync_failed")
    ledger.mute(store, org.id, "email")
    sent = check(store, org, alert_settings, T0 + HOUR)
    assert sent.sent == 1
    assert smtp.messages == [] and http.posts("/resend/emails") == []
    assert len(http.posts("/hooks/T000/B000/canaryWebhookToken")) == 1

    # The config switch does the same.
    alert_settings.email = False
    ledger.unmute(store, org.id, "email")
    assert check(store, org, alert_settings, T0 + 2 * HOUR).sent == 0
    assert smtp.messages == []


def test_a_notifier_that_fails_is_tried_again_and_the_others_are_not_repeated(
    store: Store,
    org: OrgRef,
    alert_settings: AlertSettings,
    smtp: SMTPServer,
    http: HTTPServer,
) -> None:
    http.status = 503
    fail_syncs(store, org.id, 3)
    first = check(store, org, alert_settings, T0)
    assert first.sent == 1 and len(first.failed) == 2  # SMTP went out; Resend and webhook did not
    assert any("Resend answered HTTP 503" in f for f in first.failed)
    http.status = 200
    again = check(store, org, alert_settings, T0 + HOUR)
    assert again.sent == 2 and again.failed == []
    assert len(smtp.messages) == 1


def test_test_messages_reach_every_notifier_and_errors_carry_no_secret(
    alert_settings: AlertSettings,
    smtp: SMTPServer,
    http: HTTPServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    results = send_test(alert_settings)
    assert [(r.channel, r.ok) for r in results] == [
        ("smtp", True),
        ("resend", True),
        ("webhook", True),
    ]
    assert "Test alert" in smtp.messages[0]["Subject"]
    assert len(http.requests) == 2

    alert_settings.smtp_password = "a-wrong-Password-9876"
    (smtp_notifier, *_) = build_notifiers(alert_settings)
    with pytest.raises(DeliveryFailed, match="refused the login") as info:
        smtp_notifier.send(
            results and __import__("aiq.alerts.message", fromlist=["x"]).test_message(T0)
        )
    assert "a-wrong-Password-9876" not in str(info.value)
    # Every notifier secret is registered: a log line cannot show one.
    for secret in (SMTP_PASSWORD, "re_canary_Resend_Key_123456", "canaryWebhookToken"):
        assert secret not in redact(f"oops {secret} and {alert_settings.webhook_url}")
    with caplog.at_level(logging.INFO):
        logging.getLogger("aiq.test").info("url %s", alert_settings.webhook_url)
    assert "canaryWebhookToken" not in caplog.text


# What a hostile or broken server answers: a line break that would forge a line of aiq's own, a
# terminal escape sequence (clear the screen, set the window title), a bidi override, and more
# text than a line should hold.
HOSTILE = "upstream broke\naiq: alert sent \x1b[2J\x1b]0;owned\x07 \u202eevil" + "x" * 5000


def assert_one_safe_line(text: str) -> None:
    assert "\n" not in text and "\r" not in text and "\x1b" not in text and "\u202e" not in text
    assert len(text) < 400


def test_what_a_failing_server_says_is_shown_quoted_on_one_safe_line(
    store: Store,
    org: OrgRef,
    alert_settings: AlertSettings,
    smtp: SMTPServer,
    http: HTTPServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    http.status = 502
    http.body = HOSTILE.encode()
    # A multi-line SMTP reply (smtplib joins its lines with a line break) carrying an escape.
    smtp.data_reply = "554-rejected\r\n554 \x1b[31mspam\x1b[0m " + SMTP_PASSWORD

    results = {r.channel: r for r in send_test(alert_settings)}
    assert not any(r.ok for r in results.values())
    assert results["smtp"].detail == (
        f"SMTP server 127.0.0.1:{smtp.port} answered 554: "
        '"rejected\\n\\x1b[31mspam\\x1b[0m [redacted]"'
    )
    for channel, name in (("resend", "Resend"), ("webhook", "the webhook")):
        detail = results[channel].detail
        assert detail.startswith(
            f'{name} answered HTTP 502: "upstream broke\\naiq: alert sent '
            "\\x1b[2J\\x1b]0;owned\\x07 \\u202eevil"
        )
        assert detail.endswith('x…"')
        assert_one_safe_line(detail)

    # The same lines in the alert's ledger, the check's result and the log.
    fail_syncs(store, org.id, 3)
    with caplog.at_level(logging.WARNING, logger="aiq"):
        result = check(store, org, alert_settings, T0)
    assert len(result.failed) == 3
    for line in result.failed:
        assert_one_safe_line(line)
    warnings = [r.getMessage() for r in caplog.records if "not sent by" in r.getMessage()]
    assert len(warnings) == 3
    for line in warnings:
        assert_one_safe_line(line)

    # An error with no body at all says only its status.
    http.body = b""
    assert send_test(alert_settings)[2].detail == "the webhook answered HTTP 502"


def test_aiq_alerts_test_shows_a_hostile_webhook_answer_as_one_line(
    http: HTTPServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    http.status = 500
    http.body = HOSTILE.encode()
    monkeypatch.setenv("AIQ_ALERTS_WEBHOOK_URL", http.base_url + "/hooks/T000/B000/tokenTOKEN42")
    result = aiq(capsys, "alerts", "test")
    assert result.code == 1
    # (The first run creates the SQLite database and says so.)
    (line,) = [x for x in result.err.splitlines() if not x.startswith("Creating the aiq schema")]
    assert line.startswith('webhook: the webhook answered HTTP 500: "upstream broke\\naiq: ')
    assert_one_safe_line(line)
    assert "tokenTOKEN42" not in result.err and len(http.requests) == 1


def test_a_notifier_needs_its_settings() -> None:
    with pytest.raises(ConfigError, match="email_to"):
        build_notifiers(AlertSettings(smtp_host="127.0.0.1"))
    with pytest.raises(ConfigError, match="smtp_security"):
        build_notifiers(AlertSettings(smtp_host="x", email_to="a@b.c", smtp_security="ssl3"))
    with pytest.raises(ConfigError, match="webhook_url"):
        build_notifiers(AlertSettings(webhook_url="ftp://example"))
    assert build_notifiers(AlertSettings()) == []
