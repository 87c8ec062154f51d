"""Fixtures: a synced practice per dialect, copied for each test (see tests/export/fixtures.py)."""

from tests.export.fixtures import synced, synced_pg, synced_sqlite, synced_store  # noqa: F401
