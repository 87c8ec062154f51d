"""`aiq export`: an org's synced business data in open formats (CSV, NDJSON, Parquet).

``export_to_dir`` writes one file per table and a ``manifest.json``; ``export_to_stream`` writes a
single table to a pipe. See ``docs/data.md`` for the formats and columns.
"""

from aiq.export.run import (
    ExportOptions,
    ExportResult,
    FileResult,
    export_to_dir,
    export_to_stream,
    verify_export,
)

__all__ = [
    "ExportOptions",
    "ExportResult",
    "FileResult",
    "export_to_dir",
    "export_to_stream",
    "verify_export",
]
