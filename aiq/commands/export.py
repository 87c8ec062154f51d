"""`aiq export`: a practice's synced business data as CSV, NDJSON or Parquet, with a manifest."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from aiq.commands.options import OrgOpt, QuietOpt, parse_date
from aiq.commands.state import get_state


class ExportFormat(StrEnum):
    """File formats of an export."""

    csv = "csv"
    ndjson = "ndjson"
    parquet = "parquet"


def default_out(org_name: str) -> Path:
    """``aiq-export-<org>-<UTC time>`` in the current directory."""
    slug = re.sub(r"[^a-z0-9]+", "-", org_name.lower()).strip("-") or "org"
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Path(f"aiq-export-{slug}-{stamp}")


def export(
    ctx: typer.Context,
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-f",
            help="File format: csv, ndjson, or parquet (needs pip install 'aiq[parquet]').",
        ),
    ] = ExportFormat.csv,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            metavar="DIR",
            help="Directory to write into (default: ./aiq-export-ORG-TIME); "
            "'-' writes one table to standard output.",
        ),
    ] = None,
    tables: Annotated[
        str | None,
        typer.Option(
            "--tables",
            metavar="LIST",
            help="Comma-separated tables (default: every business table and the sync run log; "
            "rollup_sales_daily, rollup_appointments_daily, patient_figure and patient_pass "
            "on request).",
        ),
    ] = None,
    date_from: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="DATE",
            help="First clinic-local date to include (reference tables are always whole).",
        ),
    ] = None,
    date_to: Annotated[
        str | None,
        typer.Option("--to", metavar="DATE", help="Last clinic-local date to include."),
    ] = None,
    org: OrgOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Export synced business data (never credentials) as one file per table plus a manifest."""
    from aiq.export import ExportOptions
    from aiq.store.orgs import find_any_org
    from aiq.usecases.exports import export_org, export_org_table

    state = get_state(ctx)
    options = ExportOptions(
        fmt=fmt.value,
        tables=[t.strip() for t in tables.split(",") if t.strip()] if tables else None,
        date_from=parse_date(date_from, "--from"),
        date_to=parse_date(date_to, "--to"),
    )
    options.check()
    store = state.store()
    practice = find_any_org(store, org)
    if out == "-":
        export_org_table(store, practice, options, sys.stdout.buffer)
        return
    target = Path(out) if out else default_out(practice.name)
    result = export_org(store, practice, options, target)
    if quiet:
        return
    for f in result.files:
        state.say(f"{f.file}: {f.rows:,} rows")
    state.say(
        f"Exported {result.rows:,} rows of {practice.name} in {len(result.files)} "
        f"{options.fmt} files to {target} (see manifest.json)."
    )
