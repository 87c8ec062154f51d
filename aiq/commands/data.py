"""`aiq data`: the cancellation path: delete a practice, reactivate it, purge what is due."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from aiq.commands.options import QuietOpt, StatusFormat, StatusFormatOpt
from aiq.commands.state import AppState, get_state
from aiq.errors import Cancelled, UsageError

app = typer.Typer(
    help="Data rights: delete a practice's data, reactivate it, purge what is due.",
    no_args_is_help=True,
)

OrgNameOpt = Annotated[
    str,
    typer.Option("--org", metavar="NAME", help="The practice to act on (always named here)."),
]


def _interactive() -> bool:
    return sys.stdin.isatty()


def _confirm_name(name: str, confirm: str | None, what: str) -> None:
    """Make the person type the practice's name (or pass it with --confirm in scripts)."""
    if confirm is not None:
        if confirm != name:
            raise Cancelled(f"--confirm {confirm!r} is not the practice's name {name!r}")
        return
    if not _interactive():
        raise UsageError(
            f"{what} needs confirmation and there is no terminal to ask",
            hint=f"pass --confirm {name!r} to confirm in a script",
        )
    typed = typer.prompt(f"{what}: type the practice's name ({name}) to confirm", err=True)
    if str(typed).strip() != name:
        raise Cancelled("the name did not match; nothing was changed")


@app.command()
def delete(
    ctx: typer.Context,
    org: OrgNameOpt,
    now: Annotated[
        bool,
        typer.Option(
            "--now", help="Purge every row at once instead of keeping it for the retention period."
        ),
    ] = False,
    confirm: Annotated[
        str | None,
        typer.Option(
            "--confirm",
            metavar="NAME",
            help="The practice's name again, to confirm without a prompt (scripts).",
        ),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Delete a practice: credentials destroyed and syncs stopped now, data purged later."""
    from aiq.data.lifecycle import delete_org, purge_org
    from aiq.store.orgs import find_org_record

    state = get_state(ctx)
    settings = state.settings()
    store = state.store()
    record = find_org_record(store, org)
    from aiq.roles import Action, require

    require(store, record.id, Action.DELETE_DATA, org_name=record.name)
    days = settings.data.retention_days
    if now:
        _confirm_name(record.name, confirm, f"Purging every row of {record.name} now")
        if not record.deleted:
            delete_org(store, record, retention_days=days)
        purged = purge_org(store, find_org_record(store, record.name), reason="deleted --now")
        if not quiet:
            state.say(f"Purged {record.name}: {purged.total:,} rows removed from every table.")
        return
    if record.deleted:
        raise UsageError(
            f"the practice {record.name!r} is already deleted",
            hint="pass --now to purge it at once, or aiq data reactivate to undo",
        )
    if confirm is not None or not _interactive():
        _confirm_name(record.name, confirm, f"Deleting {record.name}")
    elif not typer.confirm(
        f"Delete {record.name}? Its AR sign-in is destroyed now and its data purged after "
        f"{days} days.",
        err=True,
    ):
        raise Cancelled("nothing was changed")
    result = delete_org(store, record, retention_days=days)
    if not quiet:
        state.say(
            f"Deleted {record.name}: its AR sign-in is destroyed and it is no longer synced. "
            f"Its data is kept until {result.purge_after:%Y-%m-%d} (UTC); "
            f"`aiq data reactivate --org {record.name!r}` undoes this until then."
        )


@app.command()
def reactivate(ctx: typer.Context, org: OrgNameOpt, quiet: QuietOpt = False) -> None:
    """Undo a deletion while the data is still kept; then sign in again with aiq login."""
    from aiq.data.lifecycle import reactivate_org
    from aiq.store.orgs import find_org_record

    state = get_state(ctx)
    store = state.store()
    record = find_org_record(store, org, deleted=True)
    from aiq.roles import Action, require

    require(store, record.id, Action.DELETE_DATA, org_name=record.name)
    reactivate_org(store, record)
    if not quiet:
        state.say(
            f"Reactivated {record.name} with its data. Its AR sign-in was destroyed: run "
            f"`aiq login --org {record.name!r}` to sync again."
        )


@app.command()
def purge(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what is due, removing nothing.")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Purge deleted practices whose retention is over, and prune old backups (daily job)."""
    from aiq.data.backup import backup_time, list_backups
    from aiq.data.lifecycle import apply_retention, due_orgs

    state = get_state(ctx)
    settings = state.settings()
    store = state.store()
    from aiq.roles import Action, require

    require(store, None, Action.DELETE_DATA)
    if dry_run:
        due = due_orgs(store, settings.data.retention_days)
        from datetime import UTC, datetime, timedelta

        cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(
            days=settings.data.backup_keep_days
        )
        old = [p for p in list_backups(settings) if (backup_time(p) or cutoff) < cutoff]
        for o in due:
            state.say(f"would purge {o.name} (deleted {o.deleted_at:%Y-%m-%d})")
        for p in old:
            state.say(f"would prune {p}")
        if not due and not old:
            state.say("Nothing is due.")
        return
    result = apply_retention(store, settings)
    if quiet:
        return
    for purged in result.purged:
        state.say(f"Purged {purged.org_name}: {purged.total:,} rows removed.")
    for f in result.pruned:
        state.say(f"Pruned backup {f}.")
    if not result.purged and not result.pruned:
        state.say("Nothing is due.")


@app.command()
def status(ctx: typer.Context, fmt: StatusFormatOpt = StatusFormat.table) -> None:
    """List practices with their state, and when a deleted one's data will be purged."""
    _status(get_state(ctx), fmt)


def _status(state: AppState, fmt: StatusFormat) -> None:
    from datetime import timedelta

    from aiq.render.output import write_json, write_table
    from aiq.store.orgs import all_orgs

    settings = state.settings()
    days = settings.data.retention_days
    rows = []
    for o in all_orgs(state.store()):
        purge_after = o.deleted_at + timedelta(days=days) if o.deleted_at else None
        rows.append(
            {
                "practice": o.name,
                "status": "deleted" if o.deleted else o.status,
                "deleted_at": o.deleted_at.isoformat(timespec="seconds") if o.deleted_at else None,
                "purge_after": purge_after.isoformat(timespec="seconds") if purge_after else None,
            }
        )
    if fmt is StatusFormat.json:
        write_json({"retention_days": days, "practices": rows})
        return
    write_table(state.out(), rows, ["practice", "status", "deleted_at", "purge_after"])
