"""`aiq db`: the database's schema and contents."""

from __future__ import annotations

import typer

from aiq.commands.options import StatusFormat, StatusFormatOpt
from aiq.commands.state import get_state

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
    """Show the database, its dialect, migration and row counts."""
    from aiq.render.output import write_json, write_table
    from aiq.store.db import head_revision

    state = get_state(ctx)
    store = state.store(migrate=False)
    current = store.check_revision()
    head = head_revision()
    counts = store.table_counts() if current is not None else []
    doc = {
        "database": store.display_url,
        "dialect": store.dialect,
        "server": store.server_version(),
        "revision": current,
        "head": head,
        "up_to_date": current == head,
        "tables": {c.table: c.rows for c in counts},
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
    rows = [{"table": c.table, "rows": f"{c.rows:,}"} for c in counts]
    write_table(out, rows, ["table", "rows"], numeric=["rows"])
