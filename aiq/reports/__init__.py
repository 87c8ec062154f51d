"""Metric queries: one function per question, returning plain results (dataclasses); no printing.

The figures follow docs/reports.md. ``aiq.reports.api`` holds the entry points that
`aiq report ...` calls; the other modules compute one report each from a connection.
"""
