"""Alembic migrations of aiq's schema (run by `aiq db upgrade`, and on first use)."""

HEAD = "0007"
"""The newest migration: lets a command see the schema is current without loading Alembic.
A test checks it against Alembic's own idea of the head."""
