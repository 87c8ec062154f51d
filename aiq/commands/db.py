"""`aiq db`: the database's schema and contents."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from aiq.commands.options import StatusFormat, StatusFormatOpt
from aiq.commands.state import get_state

if TYPE_CHECKING:
    from aiq.store.contents import TableRows

app = typer.Typer(
    help="Create, upgrade and inspect aiq's database.\n\nExample: aiq db status",
    no_args_is_help=True,
)


@app.command()
def upgrade(ctx: typer.Context) -> None:
    """Apply every pending migration to the database (creating it if needed)."""
    state = get_state(ctx)
    store = state.store(migrate=False)
    before, after = store.upgrade(announce=state.say)
    if before == after:
        state.say(f"The database {store.display_url} is up to date (migration {after}).")
    else:
        state.say(f"Done: {store.display_url} is at migration {after}.")


@app.command()
def status(ctx: typer.Context, fmt: StatusFormatOpt = StatusFormat.table) -> None:
    """Show the database, its dialect, migration and row counts.

    On a shared Postgres, a table your role may not read (a MEMBER: the credentials, the key ids,
    the AR sign-in and the audit log) is listed as not available to it, and not counted."""
    from aiq.render.output import write_json, write_table
    from aiq.roles import best_role
    from aiq.store.contents import Access, table_rows
    from aiq.store.db import head_revision

    state = get_state(ctx)
    store = state.store(migrate=False)
    current = store.check_revision()
    head = head_revision()
    tables = table_rows(store) if current is not None else []
    role = None
    if any(t.access is Access.NOT_GRANTED for t in tables):
        with store.connect() as conn:
            role = best_role(conn)
    who = role.name if role is not None else "your role"

    def shown(t: TableRows) -> str:
        if t.access is Access.NOT_GRANTED:
            return f"not available to {who}"
        if t.access is Access.MISSING:
            return "not created yet (run `aiq db upgrade`)"
        return f"{t.rows:,}"

    doc = {
        "database": store.display_url,
        "dialect": store.dialect,
        "server": store.server_version(),
        "revision": current,
        "head": head,
        "up_to_date": current == head,
        "tables": {t.table: t.rows for t in tables},
        "not_available": [t.table for t in tables if t.access is Access.NOT_GRANTED],
        "missing": [t.table for t in tables if t.access is Access.MISSING],
    }
    if fmt is StatusFormat.json:
        write_json(doc)
        return
    out = state.out()
    out.print(f"Database:  {doc['database']}")
    out.print(f"Dialect:   {store.dialect} ({doc['server']})")
    if current is None:
        out.print(f"Migration: none (empty database; `aiq db upgrade` creates migration {head})")
        return
    note = "up to date" if current == head else f"behind {head}: run `aiq db upgrade`"
    out.print(f"Migration: {current} ({note})")
    rows = [{"table": t.table, "rows": shown(t)} for t in tables]
    write_table(out, rows, ["table", "rows"], numeric=["rows"])
