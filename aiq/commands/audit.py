"""`aiq audit`: the tamper-evident log of administrative operations (OWNER only)."""

from __future__ import annotations

from typing import Annotated

import typer

from aiq.commands.options import FormatOpt, OrgOpt, OutputFormat
from aiq.commands.state import get_state

app = typer.Typer(
    help="The audit log: who did what to which practice, hash-chained. OWNER only.\n\n"
    "Example: aiq audit verify",
    no_args_is_help=True,
)


@app.command("list")
def list_(
    ctx: typer.Context,
    org: OrgOpt = None,
    action: Annotated[
        str | None,
        typer.Option("--action", metavar="ACTION", help="Only this action (e.g. export)."),
    ] = None,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """List the audit log, oldest first."""
    from aiq.render.output import emit
    from aiq.store.orgs import list_orgs
    from aiq.usecases.auditing import audit_entries

    state = get_state(ctx)
    store = state.store()
    found = audit_entries(store, org, action)
    names = {o.id: o.name for o in list_orgs(store)}
    rows = [
        {
            "id": e.id,
            "at": e.at.isoformat(timespec="seconds"),
            "actor": e.actor,
            "practice": names.get(e.org_id, e.org_id) if e.org_id is not None else None,
            "action": e.action,
            "target": e.target,
            "details": e.details,
        }
        for e in found
    ]
    cols = ["id", "at", "actor", "practice", "action", "target", "details"]
    emit(fmt.value, rows, cols, console=state.out())


@app.command("verify")
def verify(ctx: typer.Context) -> None:
    """Recompute the hash chain; name the first row that was edited or follows a removed row."""
    from aiq.usecases.auditing import verify_audit

    state = get_state(ctx)
    result = verify_audit(state.store())
    if result.ok:
        state.say(f"The audit log is intact: {result.rows} rows, hash chain verified.")
        return
    state.say(f"The audit log is broken at row {result.broken_id}: {result.problem}.")
    raise typer.Exit(1)
