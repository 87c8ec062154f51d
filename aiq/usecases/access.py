"""Signing a practice in to AR and out again."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiq.audit import record
from aiq.errors import UsageError
from aiq.roles import Action, require
from aiq.store.orgs import OrgRef, find_org, list_orgs, resolve_org

if TYPE_CHECKING:
    from aiq.config import Settings
    from aiq.store.db import Store
    from aiq.vault.login import SignedIn


def _check_login_allowed(store: Store, org_name: str | None) -> None:
    """ADMIN of the practice to sign it in; adding a new practice needs OWNER of every one."""
    if org_name is not None:
        with store.connect() as conn:
            found = find_org(conn, org_name)
        if found is None:
            require(store, None, Action.MANAGE_ORGS)
        else:
            require(store, found.id, Action.MANAGE_LOGIN, org_name=found.name)
        return
    visible = list_orgs(store)
    if len(visible) == 1:
        require(store, visible[0].id, Action.MANAGE_LOGIN, org_name=visible[0].name)
    elif not visible:
        require(store, None, Action.MANAGE_ORGS)


def login(
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
    announce: Callable[[str], None] | None = None,
    environ: Mapping[str, str] | None = None,
    client_options: Mapping[str, Any] | None = None,
) -> SignedIn:
    """Sign in to AR and store the credentials, encrypted (see ``aiq.vault.login.sign_in``)."""
    from aiq.vault.login import sign_in
    from aiq.vault.status import mask_email

    _check_login_allowed(store, org_name)
    done = sign_in(
        store,
        settings,
        email=email,
        password=password,
        base_url=base_url,
        org_name=org_name,
        otp=otp,
        key_file=key_file,
        new_key=new_key,
        announce=announce,
        environ=environ,
        client_options=client_options,
    )
    record(
        store,
        "ar.login",
        org_id=done.org.id,
        target=done.org.name,
        details={
            "ar_account": done.account_id,
            "email": mask_email(email),
            "replaced": done.replaced,
            "key_id": done.key_id,
        },
    )
    return done


@dataclass(frozen=True)
class SignedOut:
    """What ``logout`` did: the practices signed out (none when nobody was signed in)."""

    practices: list[str]
    every: bool = False
    nobody_in: str | None = None  # the practice asked for, when nobody was signed in to it


def logout(store: Store, org_name: str | None = None, *, every: bool = False) -> SignedOut:
    """Remove the stored AR sign-in of one practice (``org_name``, or the only one signed in),
    or of every practice; the synced business data is kept."""
    from aiq.vault.credentials import delete_credentials, has_credentials, signed_in_orgs

    if every:
        if org_name is not None:
            raise UsageError("--all and --org do not go together")
        require(store, None, Action.MANAGE_LOGIN)
        names = [o.name for o in signed_in_orgs(store)]
        n = delete_credentials(store)
        record(store, "ar.logout", target="every practice", details={"practices": n})
        return SignedOut(names, every=True)
    target: OrgRef
    if org_name is not None:
        target = resolve_org(store, org_name)
        require(store, target.id, Action.MANAGE_LOGIN, org_name=target.name)
        if not has_credentials(store, target.id):
            return SignedOut([], nobody_in=target.name)
    else:
        signed = signed_in_orgs(store)
        if not signed:
            return SignedOut([])
        if len(signed) > 1:
            raise UsageError(
                f"{len(signed)} practices are signed in: {', '.join(o.name for o in signed)}",
                hint="choose one with --org NAME, or pass --all",
            )
        target = signed[0]
        require(store, target.id, Action.MANAGE_LOGIN, org_name=target.name)
    delete_credentials(store, target.id)
    record(store, "ar.logout", org_id=target.id, target=target.name)
    return SignedOut([target.name])
