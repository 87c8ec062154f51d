"""Options shared by many commands, written once (as sqlite-utils does with `output_options`)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

import typer


def parse_date(value: str | None, option: str) -> date | None:
    """A YYYY-MM-DD option value (None stays None), or a usage error naming the option."""
    from aiq.reports.period import parse_date as parse

    return None if value is None else parse(value, option)


class OutputFormat(StrEnum):
    """How a command writes its result on stdout."""

    table = "table"
    json = "json"
    ndjson = "ndjson"
    csv = "csv"


class StatusFormat(StrEnum):
    """Output formats of status-like commands."""

    table = "table"
    json = "json"


FormatOpt = Annotated[
    OutputFormat,
    typer.Option(
        "--format", "-f", help="Output: a table for people, or json / ndjson / csv for scripts."
    ),
]
StatusFormatOpt = Annotated[
    StatusFormat,
    typer.Option("--format", "-f", help="Output: a table for people or json for scripts."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]
OrgOpt = Annotated[
    str | None,
    typer.Option(
        "--org", metavar="NAME", help="The practice (AR account) to act on; default: the only one."
    ),
]
