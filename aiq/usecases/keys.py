"""Rotating the master key that seals every stored AR sign-in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiq.audit import record
from aiq.roles import Action, require, require_somewhere

if TYPE_CHECKING:
    from aiq.config import Settings
    from aiq.store.db import Store
    from aiq.vault.rotation import Rotation, Stranded
    from aiq.vault.status import KeysStatus

ConfirmStranding = Callable[[str, list["Stranded"]], bool]
"""Asked, with the key id and what it would strand, before a rotation strands anything."""


def key_status(store: Store, settings: Settings, *, key_file: Path | None = None) -> KeysStatus:
    """Where the master key is, the key ids on record and whether each credential opens.

    It reads the stored credentials and key ids, which are ADMIN's and OWNER's (docs/teams.md:
    the database grants a MEMBER neither): anyone else gets PermissionDenied (exit 4) naming
    the role it needs, not the database's refusal. ``aiq status`` shows a MEMBER where the key
    is."""
    from aiq.errors import PermissionDenied
    from aiq.vault.status import gather_key_status

    try:
        require_somewhere(store, Action.CHECK_KEYS)
    except PermissionDenied as exc:
        raise PermissionDenied(
            exc.message, hint=f"{exc.hint}; aiq status shows where the master key is"
        ) from None
    return gather_key_status(store, settings.data_dir, key_file=key_file)


def rotate_key(
    store: Store,
    settings: Settings,
    *,
    key_file: Path | None = None,
    new_key_file: Path | None = None,
    announce: Callable[[str], None] | None = None,
    confirm: ConfirmStranding | None = None,
) -> Rotation:
    """Make a new master key, re-encrypt every credential with it, and retire the old one.

    Only this database's credentials are re-encrypted. The other databases and the backups
    sealed with the old key that aiq knows of (:func:`aiq.vault.rotation.sealed_elsewhere`)
    would no longer open their AR sign-in: when there are any, ``confirm`` is asked first, and
    False cancels (nothing changes). They are returned in ``Rotation.stranded``.
    """
    import dataclasses

    from aiq.errors import Cancelled
    from aiq.vault.credentials import Vault
    from aiq.vault.rotation import rotate_master_key, sealed_elsewhere

    require(store, None, Action.ROTATE_KEYS)
    current = Vault(store, settings.data_dir, key_file=key_file).search().key
    stranded = [] if current is None else sealed_elsewhere(settings, store.url, current.key_id)
    if current and stranded and confirm and not confirm(current.key_id, stranded):
        raise Cancelled("the master key was not rotated; nothing was changed")
    done = rotate_master_key(
        store, settings.data_dir, key_file=key_file, new_key_file=new_key_file, announce=announce
    )
    record(
        store,
        "keys.rotate",
        target=done.new_key_id,
        details={
            "old_key_id": done.old_key_id,
            "reencrypted": done.reencrypted,
            "stranded": [s.where for s in stranded],
        },
    )
    return dataclasses.replace(done, stranded=stranded)
