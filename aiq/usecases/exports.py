"""Handing a practice's synced business data over in open formats."""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING

from aiq.roles import Action, require

if TYPE_CHECKING:
    from aiq.export import ExportOptions, ExportResult, FileResult
    from aiq.store.db import Store
    from aiq.store.orgs import OrgRef


def export_org(store: Store, org: OrgRef, options: ExportOptions, out: Path) -> ExportResult:
    """Export ``org`` (a deleted one too, while its data is kept) into the directory ``out``:
    one file per table and a manifest. The export records itself in the audit log."""
    from aiq.export import export_to_dir

    require(store, org.id, Action.EXPORT, org_name=org.name)
    options.check()
    return export_to_dir(store, org, out, options)


def export_org_table(
    store: Store, org: OrgRef, options: ExportOptions, stream: IO[bytes]
) -> FileResult:
    """Export one table of ``org`` into an open binary stream (standard output, for pipes)."""
    from aiq.export import export_to_stream

    require(store, org.id, Action.EXPORT, org_name=org.name)
    options.check()
    return export_to_stream(store, org, stream, options)
