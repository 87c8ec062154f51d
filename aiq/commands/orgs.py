"""`aiq orgs`: the practices in this database (list, add, remove)."""

from __future__ import annotations

from typing import Annotated

import typer

from aiq.commands.options import FormatOpt, OutputFormat, QuietOpt
from aiq.commands.state import get_state

app = typer.Typer(
    help="The practices (AR accounts) this database holds.\n\nExample: aiq orgs list",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The practice's name in aiq.")]


@app.command("list")
def list_(ctx: typer.Context, fmt: FormatOpt = OutputFormat.table) -> None:
    """List the practices you can see, with your role in each."""
    from aiq.render.output import emit
    from aiq.roles import role_of
    from aiq.store.orgs import list_orgs

    state = get_state(ctx)
    store = state.store()
    rows = []
    for o in list_orgs(store):
        role = role_of(store, o.id)
        rows.append(
            {
                "practice": o.name,
                "ar_account": o.ar_account_id,
                "status": o.status,
                "role": role.name if role else None,
            }
        )
    if not rows and fmt is OutputFormat.table:
        state.say("No practices yet: run aiq login (or aiq orgs add NAME).")
        return
    emit(fmt.value, rows, ["practice", "ar_account", "status", "role"], console=state.out())


@app.command("add")
def add(ctx: typer.Context, name: NameArg, quiet: QuietOpt = False) -> None:
    """Add a practice; sign it in to AR with aiq login --org NAME."""
    from aiq.usecases.practices import add_practice

    state = get_state(ctx)
    org = add_practice(state.store(), name)
    if not quiet:
        state.say(f"Added {org.name}: sign it in with `aiq login --org {org.name!r}`.")


@app.command("remove")
def remove(ctx: typer.Context, name: NameArg, quiet: QuietOpt = False) -> None:
    """Remove a practice that holds no data (one with data: aiq data delete)."""
    from aiq.store.orgs import resolve_org
    from aiq.usecases.practices import remove_practice

    state = get_state(ctx)
    store = state.store()
    org = resolve_org(store, name)
    remove_practice(store, org)
    if not quiet:
        state.say(f"Removed {org.name}.")
