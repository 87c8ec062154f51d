"""Rendering: tables, charts and machine-readable writers. Nothing here computes a figure."""
