"""Signing in: ask AR first, store the credentials only once AR accepted them.

A refused password, a lockout or a refused 2FA code is raised at once and never retried (retries
lock the practice out of its own AR account); whatever was stored before stays as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, insert, select

from aiq.clock import utcnow
from aiq.store.orgs import OrgRef, claim_org
from aiq.vault.credentials import Announce, Vault, ar_login_table, credential_table
from aiq.vault.redact import register_secret

if TYPE_CHECKING:
    from aiq.config import Settings
    from aiq.store.db import Store

# Sign-in is interactive: a short wait and few retries, so "AR unreachable" is said quickly.
LOGIN_MAX_RETRIES = 2
LOGIN_TIMEOUT = 15.0


@dataclass(frozen=True)
class SignedIn:
    """What a successful ``aiq login`` did."""

    org: OrgRef
    account_id: int
    account_name: str
    user_id: int
    user_role: str
    key_id: str
    key_created: bool
    replaced: bool


def _otp_recorder(otp: Callable[[], str] | None) -> Callable[[], str] | None:
    if otp is None:
        return None

    def ask() -> str:
        code = otp()
        register_secret(code.strip())
        return code

    return ask


def sign_in(
    store: Store,
    settings: Settings,
    *,
    email: str,
    password: str,
    base_url: str | None = None,
    org_name: str | None = None,
    otp: Callable[[], str] | None = None,
    key_file: Path | None = None,
    new_key: bool = False,
    announce: Announce | None = None,
    environ: Mapping[str, str] | None = None,
    client_options: Mapping[str, Any] | None = None,
) -> SignedIn:
    """Sign in to AR and store the credentials, encrypted, for the org of that AR account.

    The master key is checked before AR is asked (so a missing key does not cost a sign-in), and
    created, where none exists and no encrypted data does, only after AR said yes. ``otp`` is asked
    only if AR wants a two-factor code.
    """
    from aiq.ar.client import ARClient

    register_secret(email)
    register_secret(password)
    url = (base_url or settings.ar.base_url).rstrip("/")
    vault = Vault(store, settings.data_dir, key_file=key_file, environ=environ, announce=announce)
    vault.check_writable(new_key=new_key)

    options: dict[str, Any] = {
        "timeout": min(settings.ar.timeout_seconds, LOGIN_TIMEOUT),
        "max_retries": min(settings.ar.max_retries, LOGIN_MAX_RETRIES),
        **(client_options or {}),
    }
    with ARClient(url, **options) as client:
        result = client.login(email, password, otp=_otp_recorder(otp))
    register_secret(result.token)

    key, created = vault.key_for_writing(new_key=new_key)
    with store.begin() as conn:
        org = claim_org(
            conn,
            name=org_name,
            ar_account_id=result.account_id,
            ar_account_name=result.account_name,
            ar_base_url=url,
        )
        replaced = _had_credentials(conn, org.id)
        vault.save(conn, org.id, {"email": email, "password": password}, key)
        conn.execute(delete(ar_login_table).where(ar_login_table.c.org_id == org.id))
        conn.execute(
            insert(ar_login_table).values(
                org_id=org.id,
                ar_user_id=result.user_id or None,
                ar_user_role=(result.user_role or None) and result.user_role[:40],
                signed_in_at=utcnow(),
            )
        )
    return SignedIn(
        org=org,
        account_id=result.account_id,
        account_name=result.account_name,
        user_id=result.user_id,
        user_role=result.user_role,
        key_id=key.key_id,
        key_created=created,
        replaced=replaced,
    )


def _had_credentials(conn: Connection, org_id: int) -> bool:
    n = conn.execute(
        select(func.count())
        .select_from(credential_table)
        .where(credential_table.c.org_id == org_id)
    ).scalar_one()
    return bool(n)
