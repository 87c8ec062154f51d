"""Rotating the master key that seals every stored AR sign-in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiq.audit import record
from aiq.roles import Action, require

if TYPE_CHECKING:
    from aiq.config import Settings
    from aiq.store.db import Store
    from aiq.vault.rotation import Rotation


def rotate_key(
    store: Store,
    settings: Settings,
    *,
    key_file: Path | None = None,
    new_key_file: Path | None = None,
    announce: Callable[[str], None] | None = None,
) -> Rotation:
    """Make a new master key, re-encrypt every credential with it, and retire the old one."""
    from aiq.vault.rotation import rotate_master_key

    require(store, None, Action.ROTATE_KEYS)
    done = rotate_master_key(
        store, settings.data_dir, key_file=key_file, new_key_file=new_key_file, announce=announce
    )
    record(
        store,
        "keys.rotate",
        target=done.new_key_id,
        details={"old_key_id": done.old_key_id, "reencrypted": done.reencrypted},
    )
    return done
