"""The teams tables: who may do what to which practice (``org_member``).

On Postgres each person connects as their own database role; ``org_member`` maps a role to its aiq
role (OWNER, ADMIN or MEMBER) in one org. Row-level security on every business table reads it
(through ``aiq_role_of``, see migration 0005), so the database itself keeps each role to its orgs.
On SQLite (one person, one machine) the table stays empty: whoever runs aiq is the OWNER.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, String
from sqlmodel import Field, SQLModel


class OrgMember(SQLModel, table=True):
    """A database role's aiq role in one org."""

    __tablename__ = "org_member"

    org_id: int = Field(primary_key=True)
    db_role: str = Field(sa_column=Column(String(63), primary_key=True, nullable=False))
    role: str = Field(max_length=16)  # OWNER | ADMIN | MEMBER
    added_at: datetime = Field(sa_column=Column(DateTime(timezone=False), nullable=False))
    added_by: str = Field(max_length=200)
