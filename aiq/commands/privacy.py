"""`aiq privacy`: what aiq stores, and a check that none of it identifies a patient."""

from __future__ import annotations

import typer

from aiq.commands.options import StatusFormat, StatusFormatOpt
from aiq.commands.state import get_state

app = typer.Typer(
    help="What aiq stores and why none of it is patient data. Example: aiq privacy audit",
    no_args_is_help=True,
)


@app.command("audit")
def audit(ctx: typer.Context, fmt: StatusFormatOpt = StatusFormat.table) -> None:
    """List every stored column with why it is not patient data, then scan every text value for
    patient identifiers (emails, phones, social security numbers, the sandbox's fake patients).
    Exits 1 if anything is found; findings name the table, column and row, never the value."""
    import dataclasses

    from aiq.render.output import write_json
    from aiq.render.tables import Col, fitted_table
    from aiq.usecases.privacy import privacy_audit

    state = get_state(ctx)
    result = privacy_audit(state.store())
    if fmt is StatusFormat.json:
        write_json(
            {
                "clean": result.clean,
                "values_scanned": result.scanned_values,
                "columns": [dataclasses.asdict(c) for c in result.columns],
                "findings": [dataclasses.asdict(f) for f in result.findings],
            }
        )
    else:
        out = state.out()
        fitted_table(
            out,
            [
                Col("table", "Table"),
                Col("column", "Column"),
                Col("reason", "Why it is not patient data"),
            ],
            [
                {"table": c.table, "column": c.column, "reason": c.reason or "UNEXPLAINED"}
                for c in result.columns
            ],
            title="What aiq stores",
        )
        if result.findings:
            fitted_table(
                out,
                [
                    Col("table", "Table"),
                    Col("column", "Column"),
                    Col("kind", "Looks like"),
                    Col("rows", "Rows", numeric=True),
                    Col("key", "For example, the row"),
                ],
                [
                    {
                        "table": f.table,
                        "column": f.column,
                        "kind": f.kind,
                        "rows": str(f.rows),
                        "key": ", ".join(f"{k}={v}" for k, v in f.example_key.items()),
                    }
                    for f in result.findings
                ],
                title="Found",
            )
    unexplained = [f"{c.table}.{c.column}" for c in result.columns if not c.reason]
    if result.clean:
        state.say(
            f"No patient identifier found in {result.scanned_values:,} stored values;"
            f" every one of {len(result.columns)} columns is explained."
        )
        return
    if result.findings:
        state.say(
            f"Found what looks like patient data in {len(result.findings)} place(s) (above):"
            " find where it came from before sharing this database or its backups."
        )
    if unexplained:
        state.say(f"Columns without a reason: {', '.join(unexplained)}.")
    raise typer.Exit(1)
