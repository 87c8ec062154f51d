"""`aiq audit`: the tamper-evident log of administrative operations (OWNER only)."""

from __future__ import annotations

from typing import Annotated, Any

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
    rows: list[dict[str, Any]] = [
        {
            "id": e.id,
            "at": e.at.replace(microsecond=0),
            "actor": e.actor,
            "practice": names.get(e.org_id, e.org_id) if e.org_id is not None else None,
            "action": e.action,
            "target": e.target,
            "details": e.details,
        }
        for e in found
    ]
    if fmt is OutputFormat.table:
        # Fits 80 columns: the target and the details read as one line of text, which wraps.
        table = [{**r, "what": _what(r["target"], r["details"])} for r in rows]
        cols = ["id", "at", "actor", "practice", "action", "what"]
        emit(fmt.value, table, cols, console=state.out(), no_wrap=["id", "at", "action"])
        return
    cols = ["id", "at", "actor", "practice", "action", "target", "details"]
    emit(fmt.value, rows, cols, console=state.out())


def _what(target: str | None, details: dict[str, Any] | None) -> str:
    """An entry's target and details as text: ``/backups/x.sqlite (method: sqlite, bytes: 2)``."""
    parts = []
    for key, value in (details or {}).items():
        if value is None or value == [] or value == {}:
            continue
        if isinstance(value, list):
            shown = ", ".join(str(v) for v in value[:4])
            more = f" and {len(value) - 4} more" if len(value) > 4 else ""
            value = f"{shown}{more}"
        elif isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        parts.append(f"{key}: {value}")
    text = "; ".join(parts)
    if target and text:
        return f"{target} ({text})"
    return target or text


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
