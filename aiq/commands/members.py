"""`aiq members`: who may do what in a practice (OWNER only; a shared Postgres)."""

from __future__ import annotations

from typing import Annotated

import typer

from aiq.commands.options import FormatOpt, OrgOpt, OutputFormat, QuietOpt
from aiq.commands.state import get_state

app = typer.Typer(
    help="Members of a practice on a shared Postgres: database roles and their aiq roles "
    "(OWNER, ADMIN, MEMBER). OWNER only.\n\nExample: aiq members add alice --role ADMIN",
    no_args_is_help=True,
)

DbRoleArg = Annotated[
    str, typer.Argument(metavar="DB_ROLE", help="The person's Postgres role (they connect as it).")
]
RoleOpt = Annotated[
    str,
    typer.Option("--role", metavar="ROLE", help="OWNER, ADMIN or MEMBER (see docs/teams.md)."),
]


@app.command("add")
def add(
    ctx: typer.Context,
    db_role: DbRoleArg,
    role: RoleOpt = "MEMBER",
    org: OrgOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Map a database role to an aiq role in a practice and grant exactly what it needs."""
    from aiq.store.orgs import resolve_org
    from aiq.usecases.members import set_member

    state = get_state(ctx)
    store = state.store()
    target = resolve_org(store, org)
    m = set_member(store, target, db_role, role, new=True)
    if not quiet:
        state.say(f"{m.db_role} is now {m.role} of {target.name}.")


@app.command("set-role")
def set_role(
    ctx: typer.Context,
    db_role: DbRoleArg,
    role: Annotated[
        str, typer.Option("--role", metavar="ROLE", help="The new role: OWNER, ADMIN or MEMBER.")
    ],
    org: OrgOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Change a member's role in a practice (its grants follow)."""
    from aiq.store.orgs import resolve_org
    from aiq.usecases.members import set_member

    state = get_state(ctx)
    store = state.store()
    target = resolve_org(store, org)
    m = set_member(store, target, db_role, role, new=False)
    if not quiet:
        state.say(f"{m.db_role} is now {m.role} of {target.name}.")


@app.command("remove")
def remove(
    ctx: typer.Context, db_role: DbRoleArg, org: OrgOpt = None, quiet: QuietOpt = False
) -> None:
    """Take a database role out of a practice (it keeps only what its other practices need)."""
    from aiq.store.orgs import resolve_org
    from aiq.usecases.members import remove_member

    state = get_state(ctx)
    store = state.store()
    target = resolve_org(store, org)
    remove_member(store, target, db_role)
    if not quiet:
        state.say(f"{db_role} is no longer a member of {target.name}.")


@app.command("list")
def list_(ctx: typer.Context, org: OrgOpt = None, fmt: FormatOpt = OutputFormat.table) -> None:
    """List a practice's members and their roles."""
    from aiq.render.output import emit
    from aiq.store.orgs import resolve_org
    from aiq.usecases.members import list_members

    state = get_state(ctx)
    store = state.store()
    target = resolve_org(store, org)
    rows = [
        {
            "db_role": m.db_role,
            "role": m.role,
            "added_at": m.added_at.replace(microsecond=0),
            "added_by": m.added_by,
        }
        for m in list_members(store, target)
    ]
    if not rows and fmt is OutputFormat.table:
        state.say(
            f"{target.name} has no members besides the installer"
            + (" (SQLite: you are its OWNER)." if store.dialect == "sqlite" else ".")
        )
        return
    emit(fmt.value, rows, ["db_role", "role", "added_at", "added_by"], console=state.out())
