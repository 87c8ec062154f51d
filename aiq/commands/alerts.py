"""`aiq alerts`: see alerts, test the notifiers, mute a kind, switch email off, check now."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import typer

from aiq.commands.options import OrgOpt, QuietOpt, StatusFormat, StatusFormatOpt, parse_date
from aiq.commands.state import AppState, get_state
from aiq.errors import UsageError

app = typer.Typer(
    help="Alerts on failed syncs, stale data, upstream changes and business anomalies.\n\n"
    "Example: aiq alerts list --open",
    no_args_is_help=True,
)

KIND_HELP = "sync_failed, stale, schema_change or anomaly"


def _org_ids(state: AppState, org: str | None) -> list[int] | None:
    if org is None:
        return None
    from aiq.store.orgs import resolve_org

    return [resolve_org(state.store(), org).id]


def _kind(kind: str, *, allow_email: bool = False) -> str:
    from aiq.alerts.model import EMAIL, KINDS

    k = kind.strip().lower()
    if k in KINDS or (allow_email and k == EMAIL):
        return k
    raise UsageError(f"unknown alert kind {kind!r}", hint=f"choose from {KIND_HELP}")


def _duration(text: str | None) -> timedelta | None:
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text.lower())
    if not m:
        raise UsageError(f"--for {text!r} is not a duration", hint="use e.g. 30m, 12h, 7d or 2w")
    n, unit = int(m.group(1)), m.group(2)
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n)}.get(
        unit, timedelta(weeks=n)
    )


@app.command("list")
def list_alerts(
    ctx: typer.Context,
    open_only: Annotated[bool, typer.Option("--open", help="Only alerts still open.")] = False,
    org: OrgOpt = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, metavar="N", help="Show at most N alerts.")
    ] = 50,
    fmt: StatusFormatOpt = StatusFormat.table,
) -> None:
    """List alerts, newest first: what, where, since when, and whether they are still open."""
    from aiq.alerts.ledger import list_alerts as fetch
    from aiq.store.orgs import list_orgs

    state = get_state(ctx)
    store = state.store()
    names = {o.id: o.name for o in list_orgs(store)}
    rows = fetch(store, _org_ids(state, org), open_only=open_only, limit=limit)
    docs = [_alert_doc(r, names) for r in rows]
    if fmt is StatusFormat.json:
        from aiq.render.output import write_json

        write_json(docs)
        return
    if not docs:
        state.say("No open alerts." if open_only else "No alerts yet.")
        return
    from aiq.render.output import write_table

    # Fits 80 columns: the kind is in the title, the clinic beside its practice, and the time
    # an alert was resolved in --format json.
    cols = ["id", "status", "where", "title", "since"]
    table_rows = [
        {
            **d,
            "where": " / ".join(str(p) for p in (d["practice"], d["clinic"]) if p),
            "since": r.since,
        }
        for r, d in zip(rows, docs, strict=True)
    ]
    write_table(state.out(), table_rows, cols, numeric=["id"], no_wrap=["id", "status", "since"])


def _alert_doc(row: Any, names: dict[int, str]) -> dict[str, Any]:
    details = dict(row.details or {})

    def iso(v: datetime | None) -> str | None:
        return None if v is None else v.isoformat(timespec="seconds") + "Z"

    return {
        "id": row.id,
        "status": row.status,
        "kind": row.kind,
        "severity": row.severity,
        "practice": names.get(row.org_id, str(row.org_id)),
        "clinic": details.get("clinic"),
        "day": row.day.isoformat() if isinstance(row.day, date) else None,
        "title": row.title,
        "what": details.get("what"),
        "how_far": details.get("how_far"),
        "action": details.get("action"),
        "since": iso(row.since),
        "opened_at": iso(row.opened_at),
        "last_seen_at": iso(row.last_seen_at),
        "resolved_at": iso(row.resolved_at),
        "facts": details.get("facts", {}),
    }


@app.command()
def test(ctx: typer.Context) -> None:
    """Send a test message through every configured notifier (SMTP, Resend, webhook)."""
    from aiq.observability import setup
    from aiq.usecases.alerting import send_test

    state = get_state(ctx)
    settings = state.settings()
    setup(settings)
    results = send_test(state.store(), settings.alerts)
    if not results:
        raise UsageError(
            "no notifier is configured",
            hint="set smtp_host, resend_api_key or webhook_url in [alerts] (docs/daemon.md)",
        )
    failed = 0
    for r in results:
        state.say(f"{r.channel}: {r.detail}")
        failed += 0 if r.ok or r.detail.startswith("skipped") else 1
    if failed:
        raise typer.Exit(1)


@app.command()
def mute(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help=f"The kind of alert to stop sending: {KIND_HELP}.")],
    for_: Annotated[
        str | None,
        typer.Option(
            "--for",
            metavar="DURATION",
            help="Only for this long: 30m, 12h, 7d, 2w (default: until aiq alerts unmute).",
        ),
    ] = None,
    org: Annotated[
        str | None,
        typer.Option(
            "--org", metavar="NAME", help="Only for this practice (default: every practice)."
        ),
    ] = None,
) -> None:
    """Stop sending one kind of alert (alerts are still recorded and listed)."""
    from aiq.clock import utcnow
    from aiq.usecases.alerting import mute as do_mute

    state = get_state(ctx)
    k = _kind(kind)
    span = _duration(for_)
    until = utcnow() + span if span else None
    do_mute(state.store(), org, k, until)
    when = f" until {until:%Y-%m-%d %H:%M} UTC" if until else ""
    state.say(f"{k} alerts are muted{when}{' for ' + org if org else ''}.")


@app.command()
def unmute(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help=f"The kind of alert to send again: {KIND_HELP}.")],
    org: Annotated[
        str | None,
        typer.Option(
            "--org",
            metavar="NAME",
            help="Only for this practice (default: the mute for every one).",
        ),
    ] = None,
) -> None:
    """Send a muted kind of alert again."""
    from aiq.usecases.alerting import unmute as do_unmute

    state = get_state(ctx)
    k = _kind(kind)
    n = do_unmute(state.store(), org, k)
    state.say(f"{k} alerts are sent again." if n else f"{k} alerts were not muted.")


@app.command()
def email(
    ctx: typer.Context,
    switch: Annotated[str, typer.Argument(help="off: send no email alerts; on: send them again.")],
    org: Annotated[
        str | None,
        typer.Option(
            "--org", metavar="NAME", help="Only for this practice (default: every practice)."
        ),
    ] = None,
) -> None:
    """Switch email alerts off (the privacy policy's opt-out) or back on; webhooks go on."""
    from aiq.usecases.alerting import switch_email

    state = get_state(ctx)
    value = switch.strip().lower()
    if value not in ("on", "off"):
        raise UsageError(f"expected on or off, not {switch!r}")
    switch_email(state.store(), org, value == "on")
    if value == "off":
        state.say("Email alerts are off. Webhook alerts, if configured, are still sent.")
    else:
        if not state.settings().alerts.email:
            state.say(
                "Email alerts are on here, but config.toml still says [alerts] email = false."
            )
        else:
            state.say("Email alerts are on.")


@app.command()
def check(
    ctx: typer.Context,
    org: OrgOpt = None,
    quiet: QuietOpt = False,
    today: Annotated[
        str | None,
        typer.Option(
            "--today", metavar="DATE", hidden=True, help="Pretend today is DATE (testing)."
        ),
    ] = None,
) -> None:
    """Run the detectors now and send what is due (what the daemon does after each sync)."""
    from aiq.alerts.check import check_org
    from aiq.observability import setup
    from aiq.store.orgs import resolve_org
    from aiq.vault.credentials import signed_in_orgs

    state = get_state(ctx)
    settings = state.settings()
    setup(settings)
    store = state.store()
    orgs = [resolve_org(store, org)] if org else signed_in_orgs(store)
    day = parse_date(today, "--today")
    interval = timedelta(
        minutes=settings.daemon.interval_minutes, seconds=settings.daemon.jitter_seconds
    )
    failed = False
    for o in orgs:
        result = check_org(store, o, settings.alerts, interval=interval, today=day)
        failed = failed or bool(result.failed)
        if not quiet:
            state.say(
                f"{o.name}: {result.open} open ({result.opened} new), {result.resolved} resolved, "
                f"{result.sent} messages sent"
            )
        for f in result.failed:
            state.say(f"{o.name}: not sent: {f}")
    if failed:
        raise typer.Exit(1)
