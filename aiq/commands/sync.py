"""`aiq sync`: pull business facts from AR into the database."""

from __future__ import annotations

import sys
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aiq.commands.options import OrgOpt, QuietOpt, StatusFormat, StatusFormatOpt, parse_date
from aiq.commands.state import AppState, get_state
from aiq.errors import Locked, UsageError

if TYPE_CHECKING:
    from aiq.sync.engine import SyncReport


def sync(
    ctx: typer.Context,
    full: Annotated[
        bool,
        typer.Option("--full", help="Re-read every window from --since, not only what changed."),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="DATE",
            help="Read from this date (default: 24 months back on a first sync).",
        ),
    ] = None,
    streams: Annotated[
        str | None,
        typer.Option(
            "--streams",
            metavar="LIST",
            help="Comma-separated streams to sync: product_categories, clinics, users, services, "
            "products, appointments, invoices (default: all).",
        ),
    ] = None,
    lookback: Annotated[
        int | None,
        typer.Option(
            "--lookback",
            metavar="DAYS",
            min=0,
            help="Days re-read on every sync, for both streams "
            "(default: 14 for appointments, 75 for invoices).",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Read from AR and show what would change, writing nothing."),
    ] = False,
    patients: Annotated[
        bool,
        typer.Option(
            "--patients",
            help="Run the patient pass now: read the whole history and recompute rebooking, "
            "return, retention and memberships (otherwise nightly).",
        ),
    ] = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            metavar="SECONDS",
            min=0,
            help="Wait this long for another sync of the practice to end.",
        ),
    ] = 0.0,
    today: Annotated[
        str | None,
        typer.Option(
            "--today", metavar="DATE", hidden=True, help="Pretend today is DATE (testing)."
        ),
    ] = None,
    org: OrgOpt = None,
    quiet: QuietOpt = False,
    fmt: StatusFormatOpt = StatusFormat.table,
) -> None:
    """Pull business facts (never patient data) from Aesthetic Record into the database."""
    from aiq.sync.engine import SyncOptions

    state = get_state(ctx)
    options = SyncOptions(
        full=full,
        since=parse_date(since, "--since"),
        streams=tuple(s.strip() for s in streams.split(",") if s.strip()) if streams else None,
        lookback_days=lookback,
        dry_run=dry_run,
        patients=patients,
        today=parse_date(today, "--today"),
        wait_seconds=wait,
    )
    if options.since and options.since > date.today():
        raise UsageError(f"--since {options.since} is in the future", hint="give a past date")
    try:
        report = run_sync_command(state, org, options, quiet=quiet or fmt is StatusFormat.json)
    except Locked:
        if quiet:
            # From cron every few minutes, an overlapping run is expected: exit 5, say nothing.
            raise typer.Exit(Locked.exit_code) from None
        raise
    if fmt is StatusFormat.json:
        from aiq.render.output import write_json

        write_json(report.document())
    elif not quiet:
        render_report(state, report)
    if report.status == "partial":
        raise typer.Exit(1)


def run_sync_command(
    state: AppState, org_name: str | None, options: Any, *, quiet: bool
) -> SyncReport:
    """Find the org and run its sync, with a progress bar on a terminal."""
    from aiq.store.orgs import resolve_org
    from aiq.usecases.sync import sync_org

    settings = state.settings()
    store = state.store()
    org = resolve_org(store, org_name)
    announce = None if quiet else state.say
    if quiet or not sys.stderr.isatty():
        return sync_org(store, settings, org, options, announce=announce)
    from aiq.render.progress import SyncProgress

    bar = SyncProgress(state.err())
    with bar:
        return sync_org(store, settings, org, options, progress=bar.update, announce=announce)


def render_report(state: AppState, report: SyncReport) -> None:
    """A plain summary on stderr: one line per stream and a total."""
    from aiq.render.output import write_table

    err = state.err()
    rows = [
        {
            "stream": s.stream,
            "status": s.status,
            "windows": s.windows,
            "requests": s.requests,
            "inserted": f"{s.inserted:,}",
            "changed": f"{s.changed:,}",
            "removed": f"{s.removed:,}",
            "skipped": s.skipped or "",
        }
        for s in report.streams
    ]
    cols = ["stream", "status", "windows", "requests", "inserted", "changed", "removed", "skipped"]
    if err.is_terminal:
        write_table(err, rows, cols, numeric=cols[2:])
    else:
        # Plain lines for logs and cron mail: no box drawing, nothing cut to a terminal width.
        for r in rows:
            skipped = f", {r['skipped']} skipped" if r["skipped"] else ""
            err.print(
                f"{r['stream']}: {r['status']}, {r['windows']} windows, {r['requests']} requests, "
                f"{r['inserted']} new, {r['changed']} changed, {r['removed']} removed{skipped}",
                soft_wrap=True,
            )
    t = report.totals()
    verb = "would write" if report.dry_run else "wrote"
    err.print(
        f"Sync {report.status} in {report.seconds:.1f}s: {report.requests} requests; {verb} "
        f"{t.inserted:,} new, {t.changed:,} changed, {t.removed:,} removed rows."
    )
    if report.patient_pass == "saved":
        err.print("Patient figures recomputed (aiq report retention).")
    elif report.patient_pass is not None:
        err.print("Patient figures not recomputed: not every window was read; the next sync tries.")
    for stream, names in report.new_fields.items():
        err.print(f"AR sent new fields in {stream} (ignored): {', '.join(names)}")
    for s in report.streams:
        if s.error:
            err.print(f"{s.stream}: {s.error}")
