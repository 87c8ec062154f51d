"""`aiq data`: the cancellation path: delete a practice, reactivate it, purge what is due."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from aiq.commands.options import QuietOpt, StatusFormat, StatusFormatOpt
from aiq.commands.state import AppState, get_state
from aiq.errors import Cancelled, UsageError

if TYPE_CHECKING:
    from aiq.store.orgs import OrgRef

app = typer.Typer(
    help="Data rights: delete a practice's data, reactivate it, purge what is due.\n\n"
    "Example: aiq data status",
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
    from aiq.usecases.practices import delete_practice, purge_practice

    state = get_state(ctx)
    settings = state.settings()
    store = state.store()
    days = settings.data.retention_days
    if now:

        def confirm_purge(record: OrgRef) -> bool:
            _confirm_name(record.name, confirm, f"Purging every row of {record.name} now")
            return True

        purged = purge_practice(store, settings, org, confirm=confirm_purge)
        if not quiet:
            state.say(f"Purged {purged.org_name}: {purged.total:,} rows removed from every table.")
        return

    def confirm_delete(record: OrgRef) -> bool:
        if confirm is not None or not _interactive():
            _confirm_name(record.name, confirm, f"Deleting {record.name}")
            return True
        return typer.confirm(
            f"Delete {record.name}? Its AR sign-in is destroyed now and its data purged after "
            f"{days} days.",
            err=True,
        )

    result = delete_practice(store, settings, org, confirm=confirm_delete)
    if not quiet:
        name = result.org.name
        state.say(
            f"Deleted {name}: its AR sign-in is destroyed and it is no longer synced. "
            f"Its data is kept until {result.purge_after:%Y-%m-%d} (UTC); "
            f"`aiq data reactivate --org {name!r}` undoes this until then."
        )


@app.command()
def reactivate(ctx: typer.Context, org: OrgNameOpt, quiet: QuietOpt = False) -> None:
    """Undo a deletion while the data is still kept; then sign in again with aiq login."""
    from aiq.usecases.practices import reactivate_practice

    state = get_state(ctx)
    record = reactivate_practice(state.store(), org)
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
    from aiq.usecases.practices import apply_retention, retention_due

    state = get_state(ctx)
    settings = state.settings()
    store = state.store()
    if dry_run:
        due = retention_due(store, settings)
        for o in due.practices:
            state.say(f"would purge {o.name} (deleted {o.deleted_at:%Y-%m-%d})")
        for p in due.backups:
            state.say(f"would prune {p}")
        if not due.practices and not due.backups:
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
    from aiq.render.output import write_json, write_table
    from aiq.usecases.practices import practice_states

    settings = state.settings()
    rows = [
        {
            "practice": p.org.name,
            "status": p.state,
            "deleted_at": p.org.deleted_at.replace(microsecond=0) if p.org.deleted_at else None,
            "purge_after": p.purge_after.replace(microsecond=0) if p.purge_after else None,
        }
        for p in practice_states(state.store(), settings)
    ]
    if fmt is StatusFormat.json:
        write_json({"retention_days": settings.data.retention_days, "practices": rows})
        return
    write_table(state.out(), rows, ["practice", "status", "deleted_at", "purge_after"])
