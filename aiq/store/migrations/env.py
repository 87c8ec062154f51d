"""Alembic environment for aiq: runs on the connection aiq hands it (SQLite or Postgres)."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context

from aiq.store.models import metadata

config = context.config


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write SQLModel's AutoString as plain ``sa.String`` so migrations need no sqlmodel import."""
    if type_ == "type" and type(obj).__name__ == "AutoString":
        length = getattr(obj, "length", None)
        return f"sa.String({length})" if length else "sa.String()"
    return False


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # pragma: no cover - aiq always passes its own connection
        raise RuntimeError("aiq runs migrations through `aiq db upgrade`, not the alembic CLI")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables when needed.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
