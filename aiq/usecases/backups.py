"""Backing up the whole database and restoring it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aiq.roles import Action, require

if TYPE_CHECKING:
    from aiq.config import Settings
    from aiq.lifecycle.backup import BackupResult, RestoreResult
    from aiq.store.db import Store

# Roles (and so the RESTORE permission) exist from migration 0005 on; before it, whoever reaches
# the database may restore into it.
_ROLES_SINCE = "0005"


@dataclass
class BackupDone:
    """The backup taken, and the old backups pruned after it."""

    result: BackupResult
    pruned: list[Path] = field(default_factory=list)


def backup(
    store: Store,
    settings: Settings,
    out: Path | None = None,
    *,
    method: str = "auto",
    prune: bool = False,
    into_dir: bool = False,
) -> BackupDone:
    """Back up the whole database (``out``, a dated file in ``out`` when it is a directory or
    ``into_dir``, or a dated file in the backup directory), then
    prune backups older than ``[data] backup_keep_days`` when asked."""
    from aiq.lifecycle.backup import prune_backups, take_backup

    require(store, None, Action.BACKUP)
    result = take_backup(store, settings, out, method=method, into_dir=into_dir)
    pruned = prune_backups(settings, store=store) if prune else []
    return BackupDone(result, pruned)


def restore(store: Store, path: Path, *, force: bool = False) -> RestoreResult:
    """Restore ``path`` into the database (empty, or any with ``force``)."""
    from aiq.lifecycle.backup import restore_backup

    revision = store.stored_revision()
    if revision is not None and revision >= _ROLES_SINCE:
        require(store, None, Action.RESTORE)
    return restore_backup(store, path, force=force)
