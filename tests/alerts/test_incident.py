"""One outage, one message in an owner's words, threaded with its resolved note; advice runs."""

from __future__ import annotations

import re
import shlex
from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert

from aiq.alerts import detect, ledger
from aiq.alerts.check import check_org
from aiq.config import AlertSettings
from aiq.store.db import Store
from aiq.store.models import SyncRun, SyncStreamState, table_of
from aiq.store.orgs import OrgRef
from tests.alerts.servers import HTTPServer, SMTPServer
from tests.alerts.test_notify import fail_syncs, succeed
from tests.helpers import aiq

INTERVAL = timedelta(minutes=30)
T0 = datetime(2026, 11, 26, 12, 0)
HOOK = "/hooks/T000/B000/canaryWebhookToken"
STREAMS = ("product_categories", "The clinics data", "The invoices data", "The users data")
"""A stream's name, as the stale alert used to say it ("The product_categories data was...")."""


def _texts(smtp: SMTPServer, http: HTTPServer) -> list[str]:
    """Every message as its reader sees it: each email's subject and body, each webhook text."""
    out = [f"{m['Subject']}\n{m.get_content()}" for m in smtp.messages]
    out += [p["json"]["text"] for p in http.posts(HOOK)]
    out += [p["json"]["text"] for p in http.posts("/resend/emails")]
    return out


def test_an_outage_is_one_alert_in_an_owners_words_and_its_resolved_note_threads_with_it(
    store: Store,
    org: OrgRef,
    alert_settings: AlertSettings,
    smtp: SMTPServer,
    http: HTTPServer,
) -> None:
    # Three failed syncs, the last success three hours ago: stale data, and failed syncs.
    fail_syncs(store, org.id, 3, at=T0 - 2 * INTERVAL)
    with store.begin() as conn:
        conn.execute(
            insert(table_of(SyncStreamState)).values(
                org_id=org.id,
                stream="product_categories",
                consecutive_failures=3,
                known_fields=[],
                last_success_at=T0 - timedelta(hours=3),
            )
        )
    first = check_org(store, org, alert_settings, interval=INTERVAL, now=T0, today=T0.date())
    assert (first.opened, first.sent, first.failed) == (1, 3, [])
    (alert,) = ledger.list_alerts(store, [org.id])
    assert alert.kind == "sync_failed"
    (mail,) = smtp.messages
    assert "sync failed 3 times in a row, data 3 hours old" in mail["Subject"]
    for text in _texts(smtp, http):
        assert not any(stream in text for stream in STREAMS), text
        assert "Reports show Aesthetic Record data up to 2026-11-26 09:00 UTC" in text
        assert "every 30 minutes" in text

    # Still failing, now past the threshold as well: the same alert, nothing new sent.
    again = check_org(
        store, org, alert_settings, interval=INTERVAL, now=T0 + INTERVAL, today=T0.date()
    )
    assert (again.opened, again.sent) == (0, 0)

    # The sync works again: one resolved note, in the alert's thread.
    succeed(store, org.id, T0 + 2 * INTERVAL)
    done = check_org(
        store, org, alert_settings, interval=INTERVAL, now=T0 + 2 * INTERVAL, today=T0.date()
    )
    assert (done.resolved, done.sent) == (1, 3)
    opened, resolved = smtp.messages
    assert str(resolved["Subject"]).strip().startswith("[aiq] Resolved:")
    assert opened["Message-ID"] != resolved["Message-ID"]
    assert resolved["In-Reply-To"] == opened["Message-ID"]
    assert resolved["References"] == opened["Message-ID"]
    assert opened["In-Reply-To"] is None
    (_, note) = http.posts("/resend/emails")
    assert note["json"]["headers"]["In-Reply-To"] == opened["Message-ID"]
    (hook_opened, hook_resolved) = http.posts(HOOK)
    assert hook_resolved["json"]["thread"] == hook_opened["json"]["message_id"]
    assert ledger.list_alerts(store, [org.id], open_only=True) == []


def test_stale_data_with_no_sync_failing_is_its_own_alert_in_an_owners_words(
    store: Store, org: OrgRef
) -> None:
    t = table_of(SyncStreamState)
    with store.begin() as conn:
        for stream, ago in (("product_categories", 10), ("invoices", 5)):
            conn.execute(
                insert(t).values(
                    org_id=org.id,
                    stream=stream,
                    consecutive_failures=0,
                    known_fields=[],
                    last_success_at=T0 - timedelta(minutes=ago),
                )
            )
        conn.execute(
            insert(table_of(SyncRun)).values(
                org_id=org.id,
                started_at=T0 - timedelta(minutes=10),
                ended_at=T0 - timedelta(minutes=10),
                status="ok",
                mode="incremental",
            )
        )
    failed, stale = detect.outage(store, org.id, 3, timedelta(minutes=1), now=T0)
    assert failed.found == [] and not stale.hold
    (f,) = stale.found
    assert "every minute" in f.how_far and "1 minutes" not in f.how_far
    assert "10 minutes" in f.title
    assert not any(stream in f.title + f.what + f.how_far for stream in STREAMS)
    assert detect.plural(1, "minute") == "1 minute" and detect.plural(1.5, "day") == "1.5 days"


@pytest.mark.parametrize(
    "error",
    [
        "AR did not answer (503)",
        "the stored credentials are refused (run aiq login)",
        "no master key was found",
        "something else broke",
    ],
)
def test_every_command_an_alert_advises_runs(
    store: Store,
    org: OrgRef,
    alert_settings: AlertSettings,
    smtp: SMTPServer,
    http: HTTPServer,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    error: str,
) -> None:
    fail_syncs(store, org.id, 3)
    with store.begin() as conn:
        conn.execute(
            insert(table_of(SyncRun)).values(
                org_id=org.id,
                started_at=T0,
                ended_at=T0,
                status="failed",
                mode="incremental",
                error=error,
            )
        )
    check_org(store, org, alert_settings, interval=INTERVAL, now=T0, today=T0.date())
    commands = {c for text in _texts(smtp, http) for c in re.findall(r"`(aiq [^`]+)`", text)}
    assert commands and all(c.startswith("aiq ") for c in commands)
    if "did not answer" in error or "else" in error:
        assert "aiq sync --debug" in commands
    for command in sorted(commands):
        args = shlex.split(command)[1:]
        if args[0] == "login":
            args.append("--help")  # signing in asks for a password: check that it parses
        # Typed as advised, then pointed at this test's database (after it, as people type).
        r = aiq(capsys, *args, "--db", db_url)
        assert r.code != 2 and "No such option" not in r.err, (command, r.err)
        assert "Traceback" not in r.err or "--debug" in args
