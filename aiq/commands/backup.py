"""`aiq backup` and `aiq restore`: a consistent snapshot of the whole database, and its restore."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from aiq.commands.options import QuietOpt
from aiq.commands.state import get_state


class BackupMethod(StrEnum):
    """How a backup is taken."""

    auto = "auto"
    sqlite = "sqlite"
    logical = "logical"
    pg_dump = "pg_dump"


def backup(
    ctx: typer.Context,
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            "-o",
            metavar="PATH",
            help="Write the backup here: a file, or a directory for a dated file (DIR/ with a "
            "trailing slash is created if it does not exist; default: the backup directory, "
            "see [data] backup_dir).",
        ),
    ] = None,
    method: Annotated[
        BackupMethod,
        typer.Option(
            "--method",
            help="auto (SQLite's backup API on SQLite, a logical dump on Postgres), "
            "logical (restores into any database), or pg_dump (Postgres custom format).",
        ),
    ] = BackupMethod.auto,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune", help="Then delete backups older than [data] backup_keep_days (90)."
        ),
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Back up the whole database (a consistent snapshot, taken while aiq keeps running)."""
    from aiq.usecases.backups import backup as take

    state = get_state(ctx)
    store = state.store()
    # A Path forgets a trailing slash, so the option is read as text: `--out DIR/` is a directory.
    into_dir = out is not None and out.endswith(("/", os.sep))
    target = Path(out).expanduser() if out is not None else None
    done = take(
        store, state.settings(), target, method=method.value, prune=prune, into_dir=into_dir
    )
    if quiet:
        return
    result = done.result
    state.say(
        f"Backed up {store.display_url} to {result.path} "
        f"({result.method}, {result.bytes / 1e6:,.1f} MB, {result.seconds:.1f}s)."
    )
    for p in done.pruned:
        state.say(f"Pruned {p.name}.")


def restore(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A backup file aiq backup wrote.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace the contents of a database that is not empty (all of it)."
        ),
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Restore a backup into an empty database (--force replaces a non-empty one)."""
    from aiq.usecases.backups import restore as restore_from

    state = get_state(ctx)
    store = state.store(migrate=False)
    result = restore_from(store, file, force=force)
    if not quiet:
        state.say(
            f"Restored {sum(result.rows.values()):,} rows from {file} ({result.method}, "
            f"migration {result.revision}) into {store.display_url} in {result.seconds:.1f}s."
        )
