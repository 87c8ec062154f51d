"""The vault's tables: encrypted AR credentials, who signed in, and which master keys exist.

No key material and no plaintext credential is ever stored here. A ``credential`` row holds one
field (``email`` or ``password``) of one org as AES-256-GCM ciphertext with its nonce and the id of
the key that sealed it; ``vault_key`` records key ids and whether each is active or retired (the
keys themselves live outside the database, see ``aiq.vault.keys``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, LargeBinary
from sqlmodel import Field, SQLModel


class Credential(SQLModel, table=True):
    """One encrypted field of an org's AR sign-in."""

    __tablename__ = "credential"

    org_id: int = Field(primary_key=True, foreign_key="org.id")
    name: str = Field(primary_key=True, max_length=32)
    key_id: str = Field(max_length=32)
    nonce: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    ciphertext: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=False), nullable=False))


class ARLogin(SQLModel, table=True):
    """The AR user an org is signed in as (ids and role only; the email is in ``credential``)."""

    __tablename__ = "ar_login"

    org_id: int = Field(primary_key=True, foreign_key="org.id")
    ar_user_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    ar_user_role: str | None = Field(default=None, max_length=40)
    signed_in_at: datetime = Field(sa_column=Column(DateTime(timezone=False), nullable=False))


class VaultKey(SQLModel, table=True):
    """A master key by id: where it was kept, and whether it is active or retired."""

    __tablename__ = "vault_key"

    key_id: str = Field(primary_key=True, max_length=32)
    source: str = Field(max_length=32)
    status: str = Field(default="active", max_length=16)  # active | retired
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=False), nullable=False))
    retired_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=False), nullable=True)
    )
